// Three controller nodes in one process on 127.0.0.1, talking real gRPC and
// writing real level databases: election, commit on all three, graceful
// leader handover without losing a committed record, and a follower that
// restarts from its directory and catches up.
import { QuorumClient } from '@raftka/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { kv, record, TestCluster, waitFor } from './helpers.js';

let cluster: TestCluster | undefined;
let client: QuorumClient | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await cluster?.destroy();
  cluster = undefined;
});

describe('controller quorum of three', () => {
  it('elects, commits on all, hands over on leader shutdown, and catches up a restarted follower', async () => {
    cluster = await TestCluster.create(3);
    await cluster.startAll();
    const leader = await cluster.waitForLeader();
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
    // A follower refuses appends and names the leader's endpoint.
    const aFollower = [...cluster.nodes.values()].find((n) => n.nodeId !== leader.nodeId)!;
    await expect(aFollower.append([record('x=1')])).rejects.toMatchObject({
      errorName: 'NOT_LEADER_OR_FOLLOWER',
      leaderId: leader.nodeId,
      leaderEndpoint: `127.0.0.1:${leader.port}`,
    });
    expect(aFollower.describeQuorum()).toMatchObject({ leaderId: leader.nodeId, voters: [] });

    // The direct API too: the leader's own append resolves once committed.
    const direct = await leader.append([record('direct=1'), record('direct2=2')]);
    expect(direct.lastOffset).toBe(direct.firstOffset + 1);
    expect(leader.status().highWatermark).toBeGreaterThan(direct.lastOffset);
    expect(
      leader
        .describeQuorum()
        .voters.map((v) => v.nodeId)
        .sort(),
    ).toEqual([1, 2, 3]);

    // Graceful shutdown of the leader: EndQuorumEpoch hands over at once.
    const oldLeaderId = leader.nodeId;
    const oldEpoch = leader.status().epoch;
    const handoverStart = performance.now();
    await cluster.stop(oldLeaderId);
    const newLeader = await cluster.waitForLeader();
    console.log(`handover after graceful leader shutdown: ${(performance.now() - handoverStart).toFixed(0)} ms`);
    expect(newLeader.nodeId).not.toBe(oldLeaderId);
    expect(newLeader.status().epoch).toBeGreaterThan(oldEpoch);

    // Nothing committed was lost: every acknowledged record is in the new leader's log.
    const second = await client.append([record('after=handover')]);
    expect(second.epoch).toBe(newLeader.status().epoch);
    const committed = await client.readAllCommitted(0, `127.0.0.1:${newLeader.port}`);
    const texts = new Set(committed.entries.map((e) => new TextDecoder().decode(e.data)));
    for (let i = 0; i < 60; i++) expect(texts.has(`k${i}=v${i}`)).toBe(true);
    expect(texts.has('direct=1') && texts.has('after=handover')).toBe(true);

    // The old leader restarts from its level directory as a follower and
    // catches up on what it missed.
    const rejoined = await cluster.start(oldLeaderId);
    await waitFor(() => kv(rejoined).get('after') === 'handover', 'the old leader to catch up');
    expect(kv(rejoined).size).toBe(63);

    // A follower stops, misses appends, restarts from its level directory and catches up.
    const follower = [...cluster.nodes.values()].find(
      (n) => n.nodeId !== newLeader.nodeId && n.nodeId !== oldLeaderId,
    )!;
    await cluster.stop(follower.nodeId);
    // The remaining two are still a majority of three.
    const missed = await Promise.all(Array.from({ length: 20 }, (_, i) => client!.append([record(`m${i}=x${i}`)])));
    const restarted = await cluster.start(follower.nodeId);
    const target = Math.max(...missed.map((r) => r.lastOffset));
    await waitFor(() => restarted.stateMachine.appliedOffset > target, 'the restarted follower to catch up');
    expect(kv(restarted).get('k0')).toBe('v0');
    expect(kv(restarted).get('m19')).toBe('x19');
    expect(kv(restarted).get('after')).toBe('handover');
    expect(restarted.status().leaderId).toBe(newLeader.nodeId);
  });
});
