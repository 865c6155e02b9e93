// `raftka bench controller`: the control plane under load, on loopback, with
// real processes: 3 controllers and 3 `raftka broker` processes (Raft
// observers that register and heartbeat), started by LocalCluster.
//
// 1. Creates one topic of `partitions` partitions with RF 3: how long the
//    CreateTopics call takes (its records committed), and how long until
//    every broker has applied them (its metadata offset, read from its
//    /metrics, reaches the high watermark seen right after the answer).
// 2. SIGKILLs the broker that leads the most partitions (about a third) and
//    measures until every partition it led has a new leader in the committed
//    metadata (polling DescribeTopics on the active controller). The broker's
//    heartbeat stream breaks with the process, so the controller fences it at
//    once rather than after broker.session.timeout.ms. The broker is then
//    restarted, caught up, and the preferred leaders restored before the next
//    trial.
// 3. SIGKILLs the active controller with that metadata loaded and measures
//    until another controller answers DescribeCluster as the active one.
//
// The last line (with --json) is one JSON object with the figures.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '@raftka/transport';
import { LocalCluster } from '../local-cluster.js';

export interface ControllerBenchOptions {
  json: boolean;
  partitions: number;
  trials: number;
  basePort: number;
  overrides: string[];
  log: (line: string) => void;
}

export interface ControllerBenchResult {
  brokers: string;
  partitions: number;
  replicationFactor: number;
  createMs: number;
  createPartitionsPerSec: number;
  propagationMs: number;
  leaderMoveAfterKillMedianMs: number;
  leaderMoveAfterKillMaxMs: number;
  leaderMoveAfterKillTrialsMs: number[];
  partitionsMovedPerTrial: number[];
  controllerFailoverMedianMs: number;
  controllerFailoverMaxMs: number;
  controllerFailoverTrialsMs: number[];
}

const TOPIC = 'bench-controller';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, pauseMs = 5) {
  const giveUpAt = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (performance.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pauseMs);
  }
}

export async function runControllerBench(o: ControllerBenchOptions): Promise<ControllerBenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftka-bench-controller-'));
  const cluster = new LocalCluster({
    dataDir,
    controllers: 3,
    brokers: 3,
    basePort: o.basePort,
    baseMetricsPort: o.basePort + 100,
    overrides: o.overrides,
    logLevel: 'warn',
  });
  const endpointOf = (id: number) => {
    const n = cluster.nodes.get(id);
    return `${n?.host}:${n?.port}`;
  };
  const controllerIds = cluster.controllers.map((n) => n.nodeId);
  const brokerIds = cluster.brokers.map((n) => n.nodeId);
  const clients = new Map<string, AdminClient>();
  const adminAt = (endpoints: string[]) => {
    const key = endpoints.join(',');
    let c = clients.get(key);
    if (!c) {
      c = new AdminClient({
        clusterId: cluster.clusterId,
        bootstrapEndpoints: endpoints,
        requestTimeoutMs: 10_000,
        retryTimeoutMs: 30_000,
        retryBackoffMs: 5,
      });
      clients.set(key, c);
    }
    return c;
  };
  const admin = adminAt(controllerIds.map(endpointOf));
  try {
    cluster.start();
    o.log(
      `local cluster: controllers ${controllerIds.join(',')}, brokers ${brokerIds.join(',')} (raftka broker processes)`,
    );
    await until(
      'every broker unfenced',
      60_000,
      async () => {
        const d = await admin.describeCluster();
        return d.brokers.length === brokerIds.length && d.brokers.every((b) => b.state === 'unfenced') ? d : undefined;
      },
      50,
    );

    // 1. Creation and propagation.
    const createStart = performance.now();
    const [created] = await admin.createTopics([{ name: TOPIC, numPartitions: o.partitions, replicationFactor: 3 }]);
    const createMs = performance.now() - createStart;
    if (!created || created.error) throw new Error(`CreateTopics failed: ${created?.error?.message}`);
    const commitOffset = (await admin.describeCluster()).highWatermark - 1;
    const propagated = await until('every broker to apply the topic', 60_000, async () => {
      const statuses = await Promise.all(brokerIds.map((id) => cluster.brokerStatus(id, 1000)));
      return statuses.every((s) => s !== null && s.metadataOffset >= commitOffset) ? performance.now() : undefined;
    });
    const propagationMs = propagated - createStart - createMs;
    const createPartitionsPerSec = o.partitions / (createMs / 1000);
    o.log(
      `created ${o.partitions} partitions (RF 3) in ${createMs.toFixed(0)} ms = ${createPartitionsPerSec.toFixed(0)} partitions/s; every broker applied them ${propagationMs.toFixed(0)} ms later (offset ${commitOffset})`,
    );

    // 2. SIGKILL of a broker leading about a third of the partitions.
    const moveTrials: number[] = [];
    const moved: number[] = [];
    for (let trial = 0; trial < o.trials; trial++) {
      const [before] = await admin.describeTopics([TOPIC]);
      if (!before || before.error) throw new Error('cannot describe the bench topic');
      const ledBy = new Map<number, number[]>();
      for (const p of before.partitions) ledBy.set(p.leader, [...(ledBy.get(p.leader) ?? []), p.partition]);
      const [victim, led] = [...ledBy.entries()]
        .filter(([id]) => id >= 0)
        .sort((a, b) => b[1].length - a[1].length)[0] as [number, number[]];
      const ledSet = new Set(led);
      const killStart = performance.now();
      await cluster.kill(victim);
      const movedAt = await until(
        'new leaders for every partition of the killed broker',
        60_000,
        async () => {
          const [d] = await admin.describeTopics([TOPIC]);
          if (!d) return undefined;
          const done = d.partitions.every((p) => !ledSet.has(p.partition) || (p.leader >= 0 && p.leader !== victim));
          return done ? performance.now() : undefined;
        },
        1,
      );
      const ms = movedAt - killStart;
      moveTrials.push(ms);
      moved.push(led.length);
      o.log(`trial ${trial + 1}: killed broker ${victim} (leader of ${led.length}); all moved in ${ms.toFixed(0)} ms`);
      // Back to the starting point: restart, wait until unfenced and in sync, restore preferred leaders.
      cluster.startNode(victim);
      await until(
        `broker ${victim} unfenced again`,
        60_000,
        async () => {
          const d = await admin.describeCluster();
          return d.brokers.find((b) => b.brokerId === victim)?.state === 'unfenced' ? d : undefined;
        },
        50,
      );
      await admin.electLeaders({ electionType: 'preferred', partitions: null });
      await until(
        'preferred leaders restored',
        60_000,
        async () => {
          const [d] = await admin.describeTopics([TOPIC]);
          return d?.partitions.every((p) => p.leader === p.replicas[0]) ? d : undefined;
        },
        50,
      ).catch(() => o.log('  (some preferred leaders not restored; the next trial kills the busiest leader)'));
    }

    // 3. Active-controller failover with the metadata loaded.
    const failoverTrials: number[] = [];
    for (let trial = 0; trial < o.trials; trial++) {
      const old = (await admin.describeCluster()).controllerId;
      const others = controllerIds.filter((id) => id !== old).map(endpointOf);
      const survivors = adminAt(others);
      const start = performance.now();
      await cluster.kill(old);
      const doneAt = await until(
        'a new active controller',
        60_000,
        async () => {
          const d = await survivors.describeCluster();
          return d.controllerId !== old ? performance.now() : undefined;
        },
        1,
      );
      const ms = doneAt - start;
      failoverTrials.push(ms);
      o.log(`failover ${trial + 1}: killed active controller ${old}; a new one answered after ${ms.toFixed(0)} ms`);
      cluster.startNode(old);
      await until(
        `controller ${old} caught up`,
        60_000,
        async () => {
          const d = await admin.describeCluster();
          const c = d.controllers.find((x) => x.nodeId === old);
          return c && c.lag === 0 && c.logEndOffset > 0 ? d : undefined;
        },
        50,
      );
    }

    const result: ControllerBenchResult = {
      brokers: 'raftka broker processes (LocalCluster)',
      partitions: o.partitions,
      replicationFactor: 3,
      createMs: Math.round(createMs),
      createPartitionsPerSec: Math.round(createPartitionsPerSec),
      propagationMs: Math.round(propagationMs),
      leaderMoveAfterKillMedianMs: Math.round(median(moveTrials)),
      leaderMoveAfterKillMaxMs: Math.round(Math.max(...moveTrials)),
      leaderMoveAfterKillTrialsMs: moveTrials.map((v) => Math.round(v)),
      partitionsMovedPerTrial: moved,
      controllerFailoverMedianMs: Math.round(median(failoverTrials)),
      controllerFailoverMaxMs: Math.round(Math.max(...failoverTrials)),
      controllerFailoverTrialsMs: failoverTrials.map((v) => Math.round(v)),
    };
    o.log(
      `leader move after SIGKILL of a broker: median ${result.leaderMoveAfterKillMedianMs} ms, max ${result.leaderMoveAfterKillMaxMs} ms (n=${o.trials}); controller failover: median ${result.controllerFailoverMedianMs} ms, max ${result.controllerFailoverMaxMs} ms`,
    );
    return result;
  } finally {
    for (const c of clients.values()) c.close();
    await cluster.stop().catch(() => cluster.killAllNow());
    rmSync(dataDir, { recursive: true, force: true });
  }
}
