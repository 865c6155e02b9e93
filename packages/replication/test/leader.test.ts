import { describe, expect, it } from 'vitest';
import { type LeaderPartitionConfig, LeaderPartitionState } from '../src/index.js';

const all = () => true;

function leader(over: Partial<LeaderPartitionConfig> = {}): LeaderPartitionState {
  return new LeaderPartitionState({
    localBrokerId: 1,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    leaderEpoch: 5,
    partitionEpoch: 10,
    minInsyncReplicas: 2,
    leaderEpochStartOffset: 0,
    highWatermark: 0,
    nowMs: 0,
    ...over,
  });
}

describe('LeaderPartitionState: high watermark', () => {
  it('is the min LEO over the ISR and waits for every member', () => {
    const l = leader();
    l.onLocalAppend(10);
    expect(l.onFollowerFetch({ replicaId: 2, fetchOffset: 10, nowMs: 1 }, all).highWatermark).toBe(0);
    const e = l.onFollowerFetch({ replicaId: 3, fetchOffset: 6, nowMs: 1 }, all);
    expect(e).toMatchObject({ highWatermark: 6, highWatermarkAdvanced: true });
    expect(l.onFollowerFetch({ replicaId: 3, fetchOffset: 10, nowMs: 2 }, all).highWatermark).toBe(10);
  });

  it('never moves backwards', () => {
    const l = leader({ highWatermark: 5, leaderEpochStartOffset: 8 });
    l.onFollowerFetch({ replicaId: 2, fetchOffset: 3, nowMs: 1 }, all);
    expect(l.onFollowerFetch({ replicaId: 3, fetchOffset: 4, nowMs: 1 }, all).highWatermark).toBe(5);
  });

  it('does not advance while |ISR| < min.insync.replicas (strict min ISR)', () => {
    const l = leader({ isr: [1] });
    expect(l.onLocalAppend(4).highWatermark).toBe(0);
    expect(l.isUnderMinIsr).toBe(true);
    // RF 1 with min.insync.replicas 2: effective min ISR is 1.
    const single = leader({ replicas: [1], isr: [1] });
    expect(single.onLocalAppend(4).highWatermark).toBe(4);
  });

  it('counts a pending ISR addition (maximal ISR, KIP-497)', () => {
    const l = leader({ isr: [1, 2] });
    l.onLocalAppend(10);
    l.onFollowerFetch({ replicaId: 2, fetchOffset: 10, nowMs: 1 }, all);
    expect(l.highWatermark).toBe(10);
    l.onLocalAppend(20);
    const e = l.onFollowerFetch({ replicaId: 3, fetchOffset: 10, nowMs: 1 }, all);
    expect(e.alterPartition).toMatchObject({ kind: 'expand', newIsr: [1, 2, 3], partitionEpoch: 10, leaderEpoch: 5 });
    expect(l.maximalIsr).toEqual([1, 2, 3]);
    l.onFollowerFetch({ replicaId: 2, fetchOffset: 20, nowMs: 2 }, all);
    expect(l.highWatermark).toBe(10); // broker 3 holds it back although not yet committed
  });
});

describe('LeaderPartitionState: ISR changes', () => {
  it('proposes to shrink a follower not caught up within replica.lag.time.max.ms', () => {
    const l = leader();
    l.onLocalAppend(10);
    l.onFollowerFetch({ replicaId: 2, fetchOffset: 10, nowMs: 1_000 }, all);
    l.onFollowerFetch({ replicaId: 3, fetchOffset: 5, nowMs: 1_000 }, all);
    expect(l.onTick(30_000).alterPartition).toBeUndefined();
    const e = l.onTick(30_001);
    expect(e.alterPartition).toMatchObject({ kind: 'shrink', newIsr: [1, 2], changed: [3] });
    // One in flight at a time.
    expect(l.onTick(40_000).alterPartition).toBeUndefined();
  });

  it('treats a fetch that reaches the LEO of the previous fetch as caught up', () => {
    const l = leader();
    l.onLocalAppend(10);
    l.onFollowerFetch({ replicaId: 3, fetchOffset: 0, nowMs: 20_000 }, all); // previous leader LEO 10
    l.onLocalAppend(20);
    l.onFollowerFetch({ replicaId: 3, fetchOffset: 10, nowMs: 40_000 }, all); // caught up as of 20_000
    expect(l.follower(3)?.lastCaughtUpTimeMs).toBe(20_000);
    l.onFollowerFetch({ replicaId: 2, fetchOffset: 20, nowMs: 40_000 }, all);
    expect(l.onTick(50_000).alterPartition).toBeUndefined();
    expect(l.onTick(50_001).alterPartition).toMatchObject({ kind: 'shrink', changed: [3] });
  });

  it('expands only when LEO >= HW, >= the leader epoch start offset, and the broker is eligible', () => {
    const l = leader({ isr: [1, 2], leaderEpochStartOffset: 10, highWatermark: 4 });
    expect(l.onFollowerFetch({ replicaId: 3, fetchOffset: 8, nowMs: 1 }, all).alterPartition).toBeUndefined();
    expect(l.onFollowerFetch({ replicaId: 3, fetchOffset: 10, nowMs: 2 }, () => false).alterPartition).toBeUndefined();
    expect(l.onFollowerFetch({ replicaId: 3, fetchOffset: 10, nowMs: 3 }, all).alterPartition).toMatchObject({
      kind: 'expand',
      changed: [3],
    });
  });

  it('commits on success, resets on INELIGIBLE_REPLICA, waits on stale epochs, retries otherwise', () => {
    const l = leader({ isr: [1, 2] });
    const req = l.onFollowerFetch({ replicaId: 3, fetchOffset: 0, nowMs: 1 }, all).alterPartition!;
    expect(l.onAlterPartitionResponse(req, { error: 'NOT_CONTROLLER' }).retryAlterPartition).toBe(true);
    expect(l.onAlterPartitionResponse(req, { error: 'INVALID_UPDATE_VERSION' }).retryAlterPartition).toBeUndefined();
    expect(l.pendingAlterPartition).toBe(req);
    expect(l.onAlterPartitionResponse(req, { error: 'FENCED_LEADER_EPOCH' }).retryAlterPartition).toBeUndefined();
    expect(l.pendingAlterPartition).toBe(req);
    l.onAlterPartitionResponse(req, { error: 'INELIGIBLE_REPLICA' });
    expect(l.pendingAlterPartition).toBeUndefined();
    expect(l.maximalIsr).toEqual([1, 2]);
    const again = l.onFollowerFetch({ replicaId: 3, fetchOffset: 0, nowMs: 2 }, all).alterPartition!;
    l.onAlterPartitionResponse(again, { error: 'NONE', leaderEpoch: 5, partitionEpoch: 11, isr: [1, 2, 3] });
    expect(l.isr).toEqual([1, 2, 3]);
    expect(l.partitionEpoch).toBe(11);
    expect(l.pendingAlterPartition).toBeUndefined();
  });

  it('ignores a success answer from another leader epoch and takes the ISR from metadata', () => {
    const l = leader({ isr: [1, 2] });
    const req = l.onFollowerFetch({ replicaId: 3, fetchOffset: 0, nowMs: 1 }, all).alterPartition!;
    l.onAlterPartitionResponse(req, { error: 'NONE', leaderEpoch: 4, partitionEpoch: 11, isr: [1, 2, 3] });
    expect(l.isr).toEqual([1, 2]);
    l.onMetadataUpdate({ replicas: [1, 2, 3], isr: [1, 2, 3], leaderEpoch: 5, partitionEpoch: 12, nowMs: 2 });
    expect(l.isr).toEqual([1, 2, 3]);
    expect(l.pendingAlterPartition).toBeUndefined();
  });
});

describe('LeaderPartitionState: produce', () => {
  it('checks acks and min ISR before the append', () => {
    const l = leader({ isr: [1] });
    expect(l.checkProduce({ acks: 2 })).toBe('INVALID_REQUIRED_ACKS');
    expect(l.checkProduce({ acks: -1 })).toBe('NOT_ENOUGH_REPLICAS');
    expect(l.checkProduce({ acks: 1 })).toBe('NONE');
    expect(l.checkProduce({ acks: 0 })).toBe('NONE');
    expect(leader().checkProduce({ acks: -1 })).toBe('NONE');
  });

  it('completes acks=all with NONE when the HW passes the batch', () => {
    const l = leader();
    l.onLocalAppend(3);
    expect(l.addDelayedProduce({ id: 1, requiredOffset: 3, deadlineMs: 100 }).completedProduces).toEqual([]);
    l.onFollowerFetch({ replicaId: 2, fetchOffset: 3, nowMs: 1 }, all);
    const e = l.onFollowerFetch({ replicaId: 3, fetchOffset: 3, nowMs: 1 }, all);
    expect(e.completedProduces).toEqual([{ id: 1, error: 'NONE' }]);
  });

  it('times out an acks=all produce once the ISR shrank below min ISR (strict min ISR holds the HW)', () => {
    const l = leader({ minInsyncReplicas: 3 });
    l.onLocalAppend(3);
    l.onFollowerFetch({ replicaId: 2, fetchOffset: 3, nowMs: 1 }, all);
    l.addDelayedProduce({ id: 1, requiredOffset: 3, deadlineMs: 100_000 });
    const shrink = l.onTick(40_000).alterPartition!;
    expect(shrink.changed).toEqual([3]);
    // The HW is stuck (strict min ISR), so nothing completes; the request times out.
    const e = l.onAlterPartitionResponse(shrink, { error: 'NONE', leaderEpoch: 5, partitionEpoch: 11, isr: [1, 2] });
    expect(e.completedProduces).toEqual([]);
    expect(l.onTick(100_000).completedProduces).toEqual([{ id: 1, error: 'REQUEST_TIMED_OUT' }]);
    // Metadata lowers min.insync.replicas afterwards: HW advances, and completion sees |maximal ISR| >= 2.
    l.addDelayedProduce({ id: 2, requiredOffset: 3, deadlineMs: 200_000 });
    const done = l.onMetadataUpdate({
      replicas: [1, 2, 3],
      isr: [1, 2],
      leaderEpoch: 5,
      partitionEpoch: 11,
      minInsyncReplicas: 2,
      nowMs: 100_001,
    });
    expect(done.completedProduces).toEqual([{ id: 2, error: 'NONE' }]);
  });

  it('answers NOT_ENOUGH_REPLICAS_AFTER_APPEND from the purgatory rule', async () => {
    const { ProducePurgatory } = await import('../src/index.js');
    const p = new ProducePurgatory(2);
    p.add({ id: 1, requiredOffset: 5, deadlineMs: 10 });
    p.add({ id: 2, requiredOffset: 9, deadlineMs: 10 });
    expect(p.add({ id: 3, requiredOffset: 9, deadlineMs: 10 })).toEqual({ id: 3, error: 'REQUEST_TIMED_OUT' });
    expect(p.tryComplete(6, false)).toEqual([{ id: 1, error: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND' }]);
    expect(p.tryComplete(9, true)).toEqual([{ id: 2, error: 'NONE' }]);
  });

  it('times out with REQUEST_TIMED_OUT and fails all with NOT_LEADER_OR_FOLLOWER on resignation', () => {
    const l = leader();
    l.onLocalAppend(3);
    l.addDelayedProduce({ id: 1, requiredOffset: 1, deadlineMs: 50 });
    l.addDelayedProduce({ id: 2, requiredOffset: 3, deadlineMs: 500 });
    expect(l.onTick(50).completedProduces).toEqual([{ id: 1, error: 'REQUEST_TIMED_OUT' }]);
    expect(l.resign()).toEqual([{ id: 2, error: 'NOT_LEADER_OR_FOLLOWER' }]);
    expect(l.checkProduce({ acks: 1 })).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(() => l.onLocalAppend(4)).toThrow();
  });
});
