// Three controller nodes in one process on 127.0.0.1, talking real gRPC and
// writing real level databases: election, commit on all three, graceful
// leader handover without losing a committed record, and a follower that
// restarts from its directory and catches up.
//
// The machine is shared and noisy, so an extra election may happen at any
// point (a stalled event loop looks like a dead leader): every step that
// needs the leader looks it up again, and nothing asserts timing.
import { isRaftkaError } from '@raftka/common';
import { NotLeaderError, QuorumClient } from '@raftka/transport';
import { afterEach, describe, expect, it } from 'vitest';
import type { ControllerNode } from '../src/index.js';
import { kv, record, TEST_RAFT, TestCluster, waitFor } from './helpers.js';

/** A little more slack than TEST_RAFT, so that load spikes cause fewer spurious elections. */
const STEADY_RAFT = {
  ...TEST_RAFT,
  electionTimeoutMs: 300,
  electionBackoffMaxMs: 300,
  fetchTimeoutMs: 1000,
  fetchMaxWaitMs: 200,
  requestTimeoutMs: 500,
};

let cluster: TestCluster | undefined;
let client: QuorumClient | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await cluster?.destroy();
  cluster = undefined;
});

/** Appends through whichever node leads, retrying if leadership moves meanwhile. */
async function appendAtLeader(c: TestCluster, records: Uint8Array[]) {
  for (let attempt = 0; ; attempt++) {
    const leader = await c.waitForLeader();
    try {
      return { leader, result: await leader.append(records) };
    } catch (err) {
      if (attempt >= 5 || !isRaftkaError(err) || err.errorName !== 'NOT_LEADER_OR_FOLLOWER') throw err;
    }
  }
}

describe('controller quorum of three', () => {
  it('elects, commits on all, hands over on leader shutdown, and catches up a restarted follower', async () => {
    cluster = await TestCluster.create(3, { raft: STEADY_RAFT });
    await cluster.startAll();
    await cluster.waitForLeader();
    client = new QuorumClient({ clusterId: cluster.clusterId, bootstrapEndpoints: cluster.endpoints });

    // Many appends in flight at once, through any node (redirects to the leader).
    const first = await Promise.all(Array.from({ length: 60 }, (_, i) => client!.append([record(`k${i}=v${i}`)])));
    const offsets = first.map((r) => r.firstOffset);
    expect(new Set(offsets).size).toBe(60);
    const lastOffset = Math.max(...offsets);
    for (const node of cluster.nodes.values()) {
      await waitFor(() => node.stateMachine.appliedOffset > lastOffset, `node ${node.nodeId} to apply ${lastOffset}`);
      expect(kv(node).get('k59')).toBe('v59');
      expect(kv(node).size).toBe(60);
    }

    // A follower refuses appends and names the leader it knows, with that leader's endpoint.
    const leader = await cluster.waitForLeader();
    const aFollower = [...cluster.nodes.values()].find((n) => n.nodeId !== leader.nodeId) as ControllerNode;
    const refusal = await aFollower.append([record('x=1')]).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refusal).toBeInstanceOf(NotLeaderError);
    const { leaderId, leaderEndpoint } = refusal as NotLeaderError;
    if (leaderId >= 0) {
      const voter = cluster.voters.find((v) => v.nodeId === leaderId);
      expect(leaderEndpoint).toBe(`${voter?.host}:${voter?.port}`);
    }
    expect(aFollower.describeQuorum().voters).toEqual([]);

    // The direct API too: the leader's own append resolves once committed.
    const direct = await appendAtLeader(cluster, [record('direct=1'), record('direct2=2')]);
    expect(direct.result.lastOffset).toBe(direct.result.firstOffset + 1);
    expect(direct.leader.status().highWatermark).toBeGreaterThan(direct.result.lastOffset);
    expect(
      direct.leader
        .describeQuorum()
        .voters.map((v) => v.nodeId)
        .sort(),
    ).toEqual([1, 2, 3]);

    // Graceful shutdown of the leader: EndQuorumEpoch hands over at once.
    const oldLeader = await cluster.waitForLeader();
    const oldEpoch = oldLeader.status().epoch;
    const handoverStart = performance.now();
    await cluster.stop(oldLeader.nodeId);
    const newLeader = await cluster.waitForLeader();
    console.log(`handover after graceful leader shutdown: ${(performance.now() - handoverStart).toFixed(0)} ms`);
    expect(newLeader.nodeId).not.toBe(oldLeader.nodeId);
    expect(newLeader.status().epoch).toBeGreaterThan(oldEpoch);

    // Nothing committed was lost: every acknowledged record is in the new leader's log.
    const second = await client.append([record('after=handover')]);
    const current = await cluster.waitForLeader();
    expect(second.epoch).toBeLessThanOrEqual(current.status().epoch);
    await waitFor(() => current.stateMachine.appliedOffset > second.lastOffset, 'the leader to apply its append');
    const committed = await client.readAllCommitted(0, `127.0.0.1:${current.port}`);
    const texts = new Set(committed.entries.map((e) => new TextDecoder().decode(e.data)));
    for (let i = 0; i < 60; i++) expect(texts.has(`k${i}=v${i}`)).toBe(true);
    expect(texts.has('direct=1') && texts.has('after=handover')).toBe(true);

    // The old leader restarts from its level directory as a follower and
    // catches up on what it missed.
    const rejoined = await cluster.start(oldLeader.nodeId);
    await waitFor(() => kv(rejoined).get('after') === 'handover', 'the old leader to catch up');
    expect(kv(rejoined).size).toBe(63);

    // A follower stops, misses appends, restarts from its level directory and catches up.
    const leaderNow = await cluster.waitForLeader();
    const follower = [...cluster.nodes.values()].find((n) => n.nodeId !== leaderNow.nodeId) as ControllerNode;
    await cluster.stop(follower.nodeId);
    // The remaining two are still a majority of three.
    const missed = await Promise.all(Array.from({ length: 20 }, (_, i) => client!.append([record(`m${i}=x${i}`)])));
    const restarted = await cluster.start(follower.nodeId);
    const target = Math.max(...missed.map((r) => r.lastOffset));
    await waitFor(() => restarted.stateMachine.appliedOffset > target, 'the restarted follower to catch up');
    expect(kv(restarted).get('k0')).toBe('v0');
    expect(kv(restarted).get('m19')).toBe('x19');
    expect(kv(restarted).get('after')).toBe('handover');
    await cluster.waitForLeader();
  });
});
