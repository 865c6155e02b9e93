// Bugs the data-plane simulation found in @raftka/replication (docs/simulation.md,
// "What it found"): each as a direct test of the core and as the seed that
// first showed it, which must now pass. The seeds replayed the failing
// histories with the simulator of the commit that added them; later changes to
// the simulator may take them down other paths, so the direct tests are the
// real regression tests.
import { FollowerPartitionState, LeaderPartitionState } from '@raftka/replication';
import { describe, expect, test } from 'vitest';
import { runDataPlaneSeed } from '../src/index.js';

describe('data-plane findings in @raftka/replication', () => {
  test('DP1: a retried acks=all batch still waiting parks behind a later batch (purgatory order)', () => {
    const leader = new LeaderPartitionState({
      localBrokerId: 1,
      replicas: [1, 2, 3],
      isr: [1, 2, 3],
      leaderEpoch: 0,
      partitionEpoch: 0,
      minInsyncReplicas: 2,
      leaderEpochStartOffset: 0,
      highWatermark: 0,
      nowMs: 0,
    });
    leader.onLocalAppend(3); // batch A, offsets 0..2
    leader.addDelayedProduce({ id: 1, requiredOffset: 3, deadlineMs: 1500 });
    leader.onLocalAppend(5); // batch B, offsets 3..4
    leader.addDelayedProduce({ id: 2, requiredOffset: 5, deadlineMs: 1500 });
    // The producer timed out on A and retries it: a duplicate, answered when the HW passes offset 2.
    const parked = leader.addDelayedProduce({ id: 3, requiredOffset: 3, deadlineMs: 3000 });
    expect(parked.completedProduces).toEqual([]);
    leader.onFollowerFetch({ replicaId: 2, fetchOffset: 3, nowMs: 10 }, () => true);
    const done = leader.onFollowerFetch({ replicaId: 3, fetchOffset: 3, nowMs: 10 }, () => true);
    expect(done.completedProduces.map((c) => c.id).sort()).toEqual([1, 3]);
  });

  test('DP2: a follower retries NOT_LEADER_OR_FOLLOWER (the leader may not have its metadata yet), as Kafka does', () => {
    const follower = new FollowerPartitionState({ localBrokerId: 2, leaderId: 1, leaderEpoch: 0, highWatermark: 0 });
    const log = {
      logStartOffset: 0,
      logEndOffset: 0,
      latestEpoch: -1,
      endOffsetForEpoch: () => ({ leaderEpoch: -1, endOffset: -1 }),
    };
    const request = follower.buildFetch(log);
    const decision = follower.handleFetchResponse(
      request,
      { error: 'NOT_LEADER_OR_FOLLOWER', highWatermark: 0, logStartOffset: 0 },
      log,
    );
    expect(decision.kind).toBe('retry');
  });

  test('DP3: metadata at the partition epoch a pending ISR expansion is based on keeps it pending (maximal ISR)', () => {
    const leader = new LeaderPartitionState({
      localBrokerId: 2,
      replicas: [2, 3, 1],
      isr: [2, 3],
      leaderEpoch: 11,
      partitionEpoch: 20,
      minInsyncReplicas: 2,
      leaderEpochStartOffset: 215,
      highWatermark: 215,
      nowMs: 0,
    });
    leader.onFollowerFetch({ replicaId: 3, fetchOffset: 215, nowMs: 1 }, () => true);
    // Broker 1 caught up to the HW: proposed back into the ISR, based on partition epoch 20.
    const proposed = leader.onFollowerFetch({ replicaId: 1, fetchOffset: 215, nowMs: 2 }, () => true);
    expect(proposed.alterPartition?.newIsr).toEqual([2, 3, 1]);
    leader.onLocalAppend(217);
    // The metadata record of partition epoch 20 arrives after the AlterPartition answer that carried it.
    leader.onMetadataUpdate({ replicas: [2, 3, 1], isr: [2, 3], leaderEpoch: 11, partitionEpoch: 20, nowMs: 3 });
    expect(leader.maximalIsr).toEqual([2, 3, 1]);
    const fetched = leader.onFollowerFetch({ replicaId: 3, fetchOffset: 217, nowMs: 4 }, () => true);
    // The controller may still commit [2, 3, 1]: the HW must wait for broker 1.
    expect(fetched.highWatermark).toBe(215);
  });

  test.each([
    [1422, 'DP3: an ISR expansion committed after the leader dropped it acknowledged writes broker 1 lacked'],
    [2, 'DP1: produce parked out of order'],
    [3, 'DP1 and DP2: followers stop for good at startup; later the purgatory assertion'],
  ])('seed %i (%s)', (seed) => {
    const result = runDataPlaneSeed(seed);
    expect(result.ok, `${result.failure}\n  replay: ${result.replayCommand}`).toBe(true);
  });
});
