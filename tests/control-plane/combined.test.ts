// Three nodes with process.roles=broker,controller: each is a voter and a
// broker in one process. Their broker parts register with the active
// controller (possibly their own process) and are unfenced. SIGKILL of the
// active controller loses a voter and a broker at once: a new controller is
// elected, fences the dead node's broker and moves its leaderships. SIGTERM
// of a node hands its leaderships over (controlled shutdown) before its
// controller part resigns, with no partition offline.
import { waitFor } from '@raftka/server';
import type { AdminClient } from '@raftka/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneCluster, controllerView, startControlPlaneCluster } from './helpers.js';

type TopicDescription = Awaited<ReturnType<AdminClient['describeTopics']>>[number];
const IDS = [1, 2, 3];

describe('control plane: combined broker,controller nodes', () => {
  let t: ControlPlaneCluster;

  async function topic(name: string): Promise<TopicDescription> {
    const [d] = await t.controllerAdmin.describeTopics([name]);
    if (!d || d.error) throw new Error(`describe ${name}: ${d?.error?.message ?? 'no answer'}`);
    return d;
  }

  beforeAll(async () => {
    t = startControlPlaneCluster(20_591, { combined: true });
    await t.waitForBrokers(IDS, 'RUNNING');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('survives the loss of a node that is the active controller and a broker', async () => {
    const cluster = await t.describeCluster();
    expect(cluster.brokers.map((b) => [b.brokerId, b.state])).toEqual(IDS.map((id) => [id, 'unfenced']));
    const [created] = await t.admin.createTopics([{ name: 'combined', numPartitions: 6, replicationFactor: 3 }]);
    expect(created?.error).toBeNull();

    const before = await t.activeController();
    await t.cluster.kill(before.leaderId);
    await waitFor(
      'a new controller that fenced the dead node',
      async () => {
        const d = await t.describeCluster();
        const dead = d.brokers.find((b) => b.brokerId === before.leaderId);
        return d.controllerId !== -1 && d.controllerId !== before.leaderId && dead?.state === 'fenced';
      },
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    const after = await waitFor(
      'leadership to leave the dead node',
      async () => {
        const d = await topic('combined');
        return d.partitions.every((p) => p.leader !== before.leaderId && p.leader !== -1) ? d : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    for (const p of after.partitions) expect(p.isr).not.toContain(before.leaderId);

    t.cluster.startNode(before.leaderId);
    await t.waitForBrokers(IDS, 'RUNNING');
    expect((await controllerView(t, before.leaderId))?.state).toBe('unfenced');
  });

  it('a SIGTERMed node hands its leaderships over before it stops', async () => {
    const [created] = await t.admin.createTopics([{ name: 'handover', numPartitions: 6, replicationFactor: 3 }]);
    expect(created?.error).toBeNull();
    const victim = (await t.activeController()).leaderId;
    let offlineSeen = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const d = await topic('handover').catch(() => undefined);
        if (d) offlineSeen += d.partitions.filter((p) => p.leader === -1).length;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const child = t.cluster.nodes.get(victim)?.process;
    const exit = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    await t.cluster.signal(victim, 'SIGTERM');
    expect(await exit).toBe(0);
    await t.activeController();
    polling = false;
    await poller;
    expect(offlineSeen).toBe(0);
    const d = await topic('handover');
    for (const p of d.partitions) expect(p.leader).not.toBe(victim);
    t.cluster.startNode(victim);
    await t.waitForBrokers(IDS, 'RUNNING');
  });
});
