// The nemesis against real processes in network namespaces: each kind of
// fault takes effect (a killed or paused broker is fenced, a cut link drops
// packets one way only, a broker cut from the controllers is fenced) and its
// heal undoes it; then a short seeded schedule of every kind plays through
// and leaves a healthy cluster behind.
import { FAULT_KINDS, generateSchedule, LocalClusterApplier, runNemesis, waitFor } from '@raftka/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_IDS, type ChaosTestCluster, canConnect, startChaosTestCluster } from './helpers.js';

const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);

describe(`nemesis against a local cluster in network namespaces (seed=${seed})`, () => {
  let t: ChaosTestCluster;
  let applier: LocalClusterApplier;

  beforeAll(async () => {
    t = startChaosTestCluster(21091, 'cn', 61);
    applier = new LocalClusterApplier(t.cluster, { netns: t.net });
    await t.waitForBrokersRunning();
  });
  afterAll(async () => {
    await applier?.close();
    await t?.close();
  });

  const waitState = async (id: number, state: string) => {
    await waitFor(`broker ${id} ${state}`, async () => (await t.brokerState(id)) === state, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  };

  it('kills and restarts a broker, pauses and resumes one, kills the active controller', async () => {
    expect(applier.description).toMatch(/network namespaces/);
    await applier.kill(101);
    expect(t.cluster.isRunning(101)).toBe(false);
    await waitState(101, 'fenced');
    await applier.start(101);
    await waitState(101, 'unfenced');

    await applier.pause(102);
    expect(await t.cluster.brokerStatus(102, 300)).toBeNull();
    await waitState(102, 'fenced');
    await applier.resume(102);
    await waitState(102, 'unfenced');

    const active = await applier.activeController();
    expect(active).not.toBeNull();
    await applier.kill(active as number);
    const next = await waitFor(
      'a new active controller',
      async () => {
        const c = await applier.activeController();
        return c !== null && c !== active ? c : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(next).not.toBe(active);
    await applier.healAll();
    expect(t.cluster.isRunning(active as number)).toBe(true);
  });

  it('cuts one way: broker 101 stops hearing 102 (so TCP between them fails both ways) while 103 is untouched', async () => {
    const n101 = t.cluster.nodes.get(101);
    const port = n101?.port as number;
    const host = n101?.host as string;
    expect(canConnect(t.net, 102, host, port)).toBe(true);
    await applier.cut(102, 101);
    // 102's SYN is dropped at 101; 103 still connects.
    expect(canConnect(t.net, 102, host, port)).toBe(false);
    expect(canConnect(t.net, 103, host, port)).toBe(true);
    // The other direction: 101's SYN reaches 102, but 102's SYN-ACK is dropped, so it hangs too (TCP needs both ways).
    const n102 = t.cluster.nodes.get(102);
    expect(canConnect(t.net, 101, n102?.host as string, n102?.port as number)).toBe(false);
    await applier.healNetwork();
    expect(canConnect(t.net, 102, host, port)).toBe(true);
  });

  it('fences a broker cut off from every controller and unfences it after the heal', async () => {
    for (const c of applier.controllerIds) {
      await applier.cut(103, c);
      await applier.cut(c, 103);
    }
    await waitState(103, 'fenced');
    // The broker itself is alive and its metrics answer the host (the host is never cut).
    expect(await t.cluster.brokerStatus(103)).not.toBeNull();
    await applier.healNetwork();
    await waitState(103, 'unfenced');
  });

  it('isolates a broker from the whole network and brings it back', async () => {
    await applier.isolate(102);
    expect(await t.cluster.brokerStatus(102, 300)).toBeNull();
    await waitState(102, 'fenced');
    await applier.healNetwork();
    await waitState(102, 'unfenced');
  });

  it('plays a seeded schedule of every fault kind and leaves every broker running and unfenced', async () => {
    const schedule = generateSchedule({
      seed,
      durationMs: 500 + FAULT_KINDS.length * 3000,
      kinds: FAULT_KINDS,
      brokerIds: BROKER_IDS,
      warmupMs: 500,
      faultMinMs: 1000,
      faultMaxMs: 1500,
      quietMinMs: 800,
      quietMaxMs: 1500,
    });
    expect(new Set(schedule.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    const lines: string[] = [];
    const report = await runNemesis({ applier, schedule, log: (l) => lines.push(l) });
    console.log(lines.join('\n'));
    expect(report.skipped).toEqual([]);
    expect(report.applied.filter((a) => a.error !== undefined)).toEqual([]);
    await applier.healAll();
    await t.waitForBrokersRunning(30_000);
    for (const id of BROKER_IDS) await waitState(id, 'unfenced');
    expect(await applier.activeController()).not.toBeNull();
  }, 120_000);
});
