// Three real controller processes on loopback: an active controller is
// elected, writes commit through it, and when its process is SIGKILLed a new
// one takes over without losing any committed record. The killed node comes
// back and catches up. Values are unique so a lost one is visible; the client
// retries through the failover, so duplicates are allowed, losses are not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendValues, committedValues, startTestCluster, type TestCluster, waitForConvergence } from './helpers.js';

describe('controller quorum processes', () => {
  let t: TestCluster;

  beforeAll(() => {
    t = startTestCluster(19491);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('elects one active controller and commits writes on all three', async () => {
    const s = await t.waitForLeader();
    const leaders = s.nodes.filter((n) => n.role === 'leader');
    expect(leaders).toHaveLength(1);
    const acked = await appendValues(t.writer, 'a', 200);
    expect(acked).toHaveLength(200);
    await waitForConvergence(t);
    for (const id of [1, 2, 3]) {
      const values = await committedValues(t, id);
      expect(new Set(values)).toEqual(new Set(acked));
    }
  });

  it('fails over after SIGKILL of the active controller without losing committed records', async () => {
    const before = await t.waitForLeader();
    const acked = await appendValues(t.writer, 'b', 100);
    // Keep writing while the leader dies.
    const during = appendValues(t.writer, 'c', 300, 4);
    await new Promise((r) => setTimeout(r, 50));
    const killedAt = performance.now();
    await t.cluster.kill(before.leaderId);
    const after = await t.waitForLeader((s) => s.leaderId !== before.leaderId && s.epoch > before.epoch);
    const electedMs = performance.now() - killedAt;
    console.log(
      `new active controller ${after.leaderId} at epoch ${after.epoch} ${Math.round(electedMs)} ms after SIGKILL`,
    );
    acked.push(...(await during));
    acked.push(...(await appendValues(t.writer, 'd', 50)));

    const survivors = [1, 2, 3].filter((id) => id !== before.leaderId);
    await waitForConvergence(t);
    const committed = await committedValues(t, after.leaderId);
    const lost = acked.filter((v) => !committed.includes(v));
    expect(lost).toEqual([]);
    for (const id of survivors) expect(await committedValues(t, id)).toEqual(committed);
  });

  it('restarts the killed controller, which catches up to the same log', async () => {
    const s = await t.status();
    const down = [1, 2, 3].find((id) => !t.cluster.isRunning(id));
    expect(down).toBeDefined();
    t.cluster.startNode(down as number);
    await appendValues(t.writer, 'e', 50);
    const converged = await waitForConvergence(t);
    expect(converged.epoch).toBe(s.epoch);
    const leaderLog = await committedValues(t, converged.leaderId);
    expect(await committedValues(t, down as number)).toEqual(leaderLog);
  });

  it('hands leadership over quickly on SIGTERM (EndQuorumEpoch)', async () => {
    const before = await t.waitForLeader();
    const t0 = performance.now();
    await t.cluster.signal(before.leaderId, 'SIGTERM');
    const after = await t.waitForLeader((s) => s.leaderId !== before.leaderId);
    console.log(`graceful handover to ${after.leaderId} in ${Math.round(performance.now() - t0)} ms`);
    expect(after.epoch).toBeGreaterThan(before.epoch);
    await appendValues(t.writer, 'f', 20);
    t.cluster.startNode(before.leaderId);
    await waitForConvergence(t);
  });
});
