// Three controllers and three brokers as real processes. The brokers follow
// the metadata log as observers, register and get unfenced; admin calls go
// through a broker's client port. A SIGKILLed broker is fenced at once (its
// heartbeat stream breaks) and leadership leaves it; restarted, it is
// unfenced again; a SIGSTOPped one is fenced when its session (or the
// connection's keepalive) runs out, and unfenced when it resumes. A SIGTERMed broker shuts down in a controlled way: every
// partition it led gets a new leader before it exits, so none is ever
// offline. When the active controller dies, the brokers move their heartbeat
// streams to the new one, which keeps fencing brokers and creating topics.
import { waitFor } from '@raftka/server';
import type { AdminClient } from '@raftka/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_IDS, type ControlPlaneCluster, controllerView, startControlPlaneCluster } from './helpers.js';

const TOPIC = 'orders';

type TopicDescription = Awaited<ReturnType<AdminClient['describeTopics']>>[number];

function leadersOf(topic: TopicDescription): number[] {
  return topic.partitions.map((p) => p.leader);
}

describe('control plane: brokers against the controller quorum', () => {
  let t: ControlPlaneCluster;

  async function describe1(name: string): Promise<TopicDescription> {
    const [topic] = await t.controllerAdmin.describeTopics([name]);
    if (!topic || topic.error) throw new Error(`describe ${name}: ${topic?.error?.message ?? 'no answer'}`);
    return topic;
  }

  beforeAll(async () => {
    t = startControlPlaneCluster(20_091);
    await t.waitForBrokers(BROKER_IDS, 'RUNNING');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('registers every broker, unfenced, and creates a topic through a broker', async () => {
    const cluster = await t.describeCluster();
    expect(cluster.brokers.map((b) => [b.brokerId, b.state])).toEqual(BROKER_IDS.map((id) => [id, 'unfenced']));
    for (const b of cluster.brokers) {
      expect(b.endpoints).toEqual([
        { name: 'PLAINTEXT', host: '127.0.0.1', port: t.cluster.nodes.get(b.brokerId)?.port },
      ]);
    }
    const [created] = await t.admin.createTopics([{ name: TOPIC, numPartitions: 6, replicationFactor: 3 }]);
    expect(created?.error).toBeNull();
    const topic = await describe1(TOPIC);
    expect(leadersOf(topic).every((l) => BROKER_IDS.includes(l))).toBe(true);
    // Every broker has applied the topic (its metadata offset passed the records).
    const hw = (await t.describeCluster()).highWatermark;
    await waitFor(
      'every broker to apply the topic',
      async () => {
        const all = await Promise.all(BROKER_IDS.map((id) => t.brokerStatus(id)));
        return all.every((s) => s !== null && s.metadataOffset >= hw - 1);
      },
      { timeoutMs: 10_000 },
    );
  });

  it('fences a SIGKILLed broker at once and moves its leaderships; unfences it after a restart', async () => {
    const victim = 101;
    const before = await describe1(TOPIC);
    expect(leadersOf(before)).toContain(victim);
    const killedAt = performance.now();
    await t.cluster.kill(victim);
    await waitFor('the killed broker to be fenced', async () => (await controllerView(t, victim))?.state === 'fenced', {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    const fencedMs = performance.now() - killedAt;
    const after = await waitFor(
      'leadership to leave the killed broker',
      async () => {
        const topic = await describe1(TOPIC);
        return leadersOf(topic).includes(victim) ? undefined : topic;
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    console.log(`broker ${victim} fenced ${Math.round(fencedMs)} ms after SIGKILL (session timeout 3000 ms)`);
    for (const p of after.partitions) {
      expect(p.leader).not.toBe(-1);
      expect(p.isr).not.toContain(victim);
      expect(p.offlineReplicas).toContain(victim);
    }

    t.cluster.startNode(victim);
    await t.waitForBrokers([victim], 'RUNNING');
    const view = await controllerView(t, victim);
    expect(view?.state).toBe('unfenced');
    expect(view?.brokerEpoch).toBeGreaterThan(0);
  });

  it('fences a silent (SIGSTOPped) broker once its session or its connection (keepalive) runs out, and unfences it when it resumes', async () => {
    const victim = 103;
    await t.cluster.signal(victim, 'SIGSTOP');
    const stoppedAt = performance.now();
    await waitFor('the silent broker to be fenced', async () => (await controllerView(t, victim))?.state === 'fenced', {
      timeoutMs: 15_000,
      intervalMs: 50,
    });
    console.log(`silent broker ${victim} fenced ${Math.round(performance.now() - stoppedAt)} ms after SIGSTOP`);
    const topic = await describe1(TOPIC);
    expect(leadersOf(topic)).not.toContain(victim);
    await t.cluster.signal(victim, 'SIGCONT');
    await waitFor('unfenced again', async () => (await controllerView(t, victim))?.state === 'unfenced', {
      timeoutMs: 15_000,
    });
    // The same incarnation: it was never restarted.
    expect((await t.brokerStatus(victim))?.state).toBe('RUNNING');
  });

  it('shuts a SIGTERMed broker down in a controlled way, with no partition offline', async () => {
    // A fresh topic: ISRs shrank on the fencings above and, without a data
    // path yet, nothing adds a replica back; here every ISR has all three.
    const victim = 102;
    const [created] = await t.admin.createTopics([{ name: 'shutdown', numPartitions: 6, replicationFactor: 3 }]);
    expect(created?.error).toBeNull();
    const before = await describe1('shutdown');
    expect(leadersOf(before)).toContain(victim);
    let offlineSeen = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const topic = await describe1('shutdown').catch(() => undefined);
        if (topic) offlineSeen += topic.partitions.filter((p) => p.leader === -1).length;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const node = t.cluster.nodes.get(victim);
    const child = node?.process;
    const exit = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    await t.cluster.signal(victim, 'SIGTERM');
    expect(await exit).toBe(0);
    polling = false;
    await poller;
    expect(offlineSeen).toBe(0);
    const after = await describe1('shutdown');
    expect(leadersOf(after)).not.toContain(victim);
    for (const p of after.partitions) expect(p.isr).not.toContain(victim);
    const view = await controllerView(t, victim);
    expect(view?.state === 'fenced' || view?.state === 'controlled-shutdown').toBe(true);

    t.cluster.startNode(victim);
    await t.waitForBrokers([victim], 'RUNNING');
  });

  it('follows a controller failover: brokers stay unfenced, fencing and topic creation continue', async () => {
    const before = await t.activeController();
    await t.cluster.kill(before.leaderId);
    const after = await waitFor(
      'a new active controller',
      async () => {
        const d = await t.describeCluster().catch(() => undefined);
        return d && d.controllerId !== -1 && d.controllerId !== before.leaderId ? d : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    // The new controller seeded every broker's session (KAFKA-18138) and got their heartbeats.
    expect(after.brokers.filter((b) => b.state !== 'unfenced')).toEqual([]);
    await waitFor(
      'heartbeats at the new active controller',
      async () => {
        const d = await t.describeCluster();
        return d.brokers.every((b) => b.lastContactMs !== null && b.metadataOffset >= 0);
      },
      { timeoutMs: 10_000 },
    );

    const victim = 103;
    await t.cluster.kill(victim);
    await waitFor(
      'fenced under the new controller',
      async () => (await controllerView(t, victim))?.state === 'fenced',
      {
        timeoutMs: 10_000,
        intervalMs: 20,
      },
    );
    const [created] = await t.admin.createTopics([{ name: 'after-failover', numPartitions: 3, replicationFactor: 2 }]);
    expect(created?.error).toBeNull();
    const topic = await describe1('after-failover');
    for (const p of topic.partitions) expect(p.replicas).not.toContain(victim);

    t.cluster.startNode(before.leaderId);
    t.cluster.startNode(victim);
    await t.waitForBrokers(BROKER_IDS, 'RUNNING');
  });
});
