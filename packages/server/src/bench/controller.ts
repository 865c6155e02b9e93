// `raftka bench controller`: the control plane under load, on loopback, with
// real processes: 3 controllers and 3 `raftka broker` processes (Raft
// observers that register and heartbeat), started by LocalCluster.
//
// Each trial:
// 1. creates a topic of `partitions` partitions with RF 3: how long the
//    CreateTopics call takes (its records committed), and how long until
//    every broker has applied them (its metadata offset, read from its
//    /metrics, reaches the high watermark seen right after the answer);
// 2. SIGKILLs the broker that leads the most partitions (about a third) and
//    measures until every partition it led has a new leader in the committed
//    metadata: polling DescribeCluster at the active controller (not through
//    a standby, which would forward the call after replaying the same
//    records) every millisecond until the broker shows fenced (the
//    fence record ends the batch of leader moves), then checking with
//    DescribeTopics that every partition it led has a live leader. The
//    broker's heartbeat stream breaks with the process, so the controller
//    fences it at once rather than after broker.session.timeout.ms;
// 3. restarts the broker, waits until it is unfenced, and deletes the topic
//    (the next trial starts with full ISRs: without a data plane yet, a
//    broker fenced once never re-enters an ISR).
// Then, with the last topic loaded, SIGKILLs the active controller and
// measures until another controller answers DescribeCluster as the active
// one, `trials` times.
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
  /** Medians over the trials. */
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

    const allUnfenced = () =>
      until(
        'every broker unfenced',
        60_000,
        async () => {
          const d = await admin.describeCluster();
          return d.brokers.length === brokerIds.length && d.brokers.every((b) => b.state === 'unfenced')
            ? d
            : undefined;
        },
        20,
      );

    // Each trial creates the topic afresh (every ISR full: without a data
    // plane yet, a broker fenced once never re-enters an ISR), kills the
    // busiest leader, restarts it and deletes the topic.
    const createTrials: number[] = [];
    const propagationTrials: number[] = [];
    const moveTrials: number[] = [];
    const moved: number[] = [];
    let topic = '';
    for (let trial = 0; trial < o.trials; trial++) {
      await allUnfenced();
      topic = `${TOPIC}-${trial}`;
      // 1. Creation and propagation.
      const createStart = performance.now();
      const [created] = await admin.createTopics([{ name: topic, numPartitions: o.partitions, replicationFactor: 3 }]);
      const createMs = performance.now() - createStart;
      if (!created || created.error) throw new Error(`CreateTopics failed: ${created?.error?.message}`);
      const commitOffset = (await admin.describeCluster()).highWatermark - 1;
      const propagated = await until('every broker to apply the topic', 60_000, async () => {
        const statuses = await Promise.all(brokerIds.map((id) => cluster.brokerStatus(id, 1000)));
        return statuses.every((s) => s !== null && s.metadataOffset >= commitOffset) ? performance.now() : undefined;
      });
      const propagationMs = propagated - createStart - createMs;
      createTrials.push(createMs);
      propagationTrials.push(propagationMs);
      o.log(
        `trial ${trial + 1}: created ${o.partitions} partitions (RF 3) in ${createMs.toFixed(0)} ms = ${(o.partitions / (createMs / 1000)).toFixed(0)} partitions/s; every broker applied them ${propagationMs.toFixed(0)} ms later (offset ${commitOffset})`,
      );

      // 2. SIGKILL of the broker leading the most partitions (about a third).
      const [before] = await admin.describeTopics([topic]);
      if (!before || before.error) throw new Error('cannot describe the bench topic');
      const ledBy = new Map<number, number[]>();
      for (const p of before.partitions) ledBy.set(p.leader, [...(ledBy.get(p.leader) ?? []), p.partition]);
      const [victim, led] = [...ledBy.entries()]
        .filter(([id]) => id >= 0)
        .sort((x, y) => y[1].length - x[1].length)[0] as [number, number[]];
      const ledSet = new Set(led);
      // Polled at the active controller itself: through a standby the call is
      // forwarded, and waits behind the standby replaying the same records.
      const active = adminAt([endpointOf((await admin.describeCluster()).controllerId)]);
      const killStart = performance.now();
      const killedAt = new Date().toISOString();
      await cluster.kill(victim);
      // The fence record closes the batch that moves the broker's leaderships,
      // so once DescribeCluster (committed registrations, a small answer to
      // poll) shows the broker fenced, every move has committed with it.
      const movedAt = await until(
        'the killed broker fenced in the committed metadata',
        60_000,
        async () => {
          const d = await active.describeCluster();
          return d.brokers.find((b) => b.brokerId === victim)?.state === 'fenced' ? performance.now() : undefined;
        },
        1,
      );
      const ms = movedAt - killStart;
      const [after] = await admin.describeTopics([topic]);
      const stuck = after?.partitions.filter((p) => ledSet.has(p.partition) && (p.leader < 0 || p.leader === victim));
      if (!after || (stuck?.length ?? 0) > 0)
        throw new Error(`${stuck?.length} partitions kept no leader or the dead one`);
      moveTrials.push(ms);
      moved.push(led.length);
      o.log(
        `  killed broker ${victim} at ${killedAt} (leader of ${led.length}); all its partitions had new leaders committed after ${ms.toFixed(0)} ms`,
      );
      cluster.startNode(victim);
      if (trial < o.trials - 1) {
        await allUnfenced();
        const [deleted] = await admin.deleteTopics([topic]);
        if (deleted?.error) throw new Error(`DeleteTopics failed: ${deleted.error.message}`);
      }
    }
    await allUnfenced();

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

    const createMs = median(createTrials);
    const result: ControllerBenchResult = {
      brokers: 'raftka broker processes (LocalCluster)',
      partitions: o.partitions,
      replicationFactor: 3,
      createMs: Math.round(createMs),
      createPartitionsPerSec: Math.round(o.partitions / (createMs / 1000)),
      propagationMs: Math.round(median(propagationTrials)),
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
    // RAFTKA_BENCH_KEEP_DIR=1 keeps the nodes' data and logs (run with -o log.level=info to see the timings).
    if (process.env.RAFTKA_BENCH_KEEP_DIR === '1') o.log(`kept ${dataDir}`);
    else rmSync(dataDir, { recursive: true, force: true });
  }
}
