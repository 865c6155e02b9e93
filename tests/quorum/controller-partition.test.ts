// A partitioned active controller, for real: each controller runs in its own
// network namespace on a bridge, and the leader's bridge port is cut. Nothing
// tells the leader; it must notice the silence (check-quorum) and resign,
// while the majority side elects a new leader after the fetch timeout and
// keeps committing. When the link comes back, the old leader rejoins as a
// follower and catches up without bumping the epoch: pre-vote keeps a
// rejoining node from disrupting a healthy leader.
import { readFileSync } from 'node:fs';
import { NetnsNetwork, waitFor } from '@raftka/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendValues, committedValues, startTestCluster, type TestCluster, waitForConvergence } from './helpers.js';

const net = new NetnsNetwork({ tag: 'qt', subnet: 41, nodeIds: [1, 2, 3] });

describe('controller quorum under a network partition (network namespaces)', () => {
  let t: TestCluster;

  beforeAll(() => {
    if (!NetnsNetwork.available()) {
      throw new Error('this test needs root and iproute2 to create network namespaces (CI runs as root)');
    }
    net.setup();
    t = startTestCluster(19591, net);
  });
  afterAll(async () => {
    await t?.close();
    net.teardown();
  });

  it('resigns a cut-off leader, continues on the majority, and rejoins it without an epoch bump', async () => {
    const before = await t.waitForLeader();
    const acked = await appendValues(t.writer, 'p', 100);

    const cutAt = performance.now();
    net.isolate(before.leaderId);
    const after = await t.waitForLeader((s) => s.leaderId !== before.leaderId && s.epoch > before.epoch);
    console.log(
      `majority elected ${after.leaderId} at epoch ${after.epoch} ${Math.round(performance.now() - cutAt)} ms after the cut`,
    );
    acked.push(...(await appendValues(t.writer, 'q', 100)));

    // The old leader cannot be asked (it is cut off), so read what it logged.
    const oldLog = t.cluster.nodes.get(before.leaderId)?.logFile as string;
    await waitFor(
      `controller ${before.leaderId} to resign by check-quorum`,
      () => readFileSync(oldLog, 'utf8').includes('"msg":"raft role leader -> resigned"'),
      { timeoutMs: 10_000, intervalMs: 100 },
    );

    net.heal(before.leaderId);
    const healed = await waitForConvergence(t, 30_000);
    expect(healed.leaderId).toBe(after.leaderId);
    expect(healed.epoch).toBe(after.epoch);
    expect(healed.nodes.every((n) => n.epoch === after.epoch)).toBe(true);

    const committed = await committedValues(t, healed.leaderId);
    expect(acked.filter((v) => !committed.includes(v))).toEqual([]);
    expect(await committedValues(t, before.leaderId)).toEqual(committed);
  });
});
