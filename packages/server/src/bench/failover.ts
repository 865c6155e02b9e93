// `raftka bench failover`: under-replicated partitions (URP) and leader
// election under broker and controller faults, measured per partition.
//
// It starts its own cluster (3 controllers, 3 brokers, fresh data directory;
// in network namespaces when it runs as root, for the isolation fault) or
// uses a running one (--bootstrap, with a docker compose project to apply
// faults to), creates a topic of N partitions (RF 3, min.insync.replicas=2),
// and keeps a probe producer writing small idempotent acks=all records to
// every partition. A sampler polls DescribeTopics at the controllers (every
// 200 ms, every few ms while a fault is being measured) for the URP and
// offline-partition counts and each partition's leader and ISR. Then, in turn:
//   kill        SIGKILL the broker leading the most partitions; per partition
//               it led: fault -> new leader committed, fault -> first
//               acknowledged write that was sent after the fault. While it is
//               down, --catch-up-bytes are written for it to miss.
//   restart     start it again: per partition, restart -> back in the ISR;
//               URP recovery (restart -> URP 0); catch-up bandwidth (bytes it
//               fetched as a follower / time to full ISR).
//   shutdown    SIGTERM a broker (controlled shutdown), the same figures, and
//               how many acks=all sends failed (the target is none).
//   controller  SIGKILL the active controller: time until a new one answers,
//               and what the producers saw.
//   isolate     cut a broker off the network without killing it (its bridge
//               port down): time until the controller fences it (target:
//               broker.session.timeout.ms + 1 s), new leaders, first writes;
//               then heal and wait for full ISR.
// The timeline (URP, offline partitions, acknowledged records/s, faults) is
// written as JSON and as a chart (SVG and PNG). The last line with --json is
// one JSON object with the figures.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Admin, metadataFromWire, Producer } from '@raftka/client';
import { isRaftkaError } from '@raftka/common';
import type { PartitionDescription } from '@raftka/metadata';
import { BrokerDataClient } from '@raftka/transport';
import { type FaultApplier, LocalClusterApplier } from '../chaos/nemesis.js';
import { LocalCluster } from '../local-cluster.js';
import { NetnsNetwork } from '../netns.js';
import { type FaultMark, type ThroughputPoint, type TimelinePoint, writeTimelineChart } from './failover-chart.js';

export const FAILOVER_SCENARIOS = ['kill', 'restart', 'shutdown', 'controller', 'isolate'] as const;
export type FailoverScenario = (typeof FAILOVER_SCENARIOS)[number];

export interface FailoverBenchOptions {
  partitions: number;
  scenarios: readonly FailoverScenario[];
  /** A running cluster's broker endpoints; unset: start a local cluster. */
  bootstrap?: readonly string[];
  /** Applies faults to the running cluster (e.g. a DockerApplier); required with bootstrap. */
  applier?: FaultApplier;
  /** Broker id -> host:port of its /metrics, for a running cluster (catch-up bytes and broker error counts). */
  metricsEndpoints?: ReadonlyMap<number, string>;
  /** Where the timeline JSON and the chart go; default a fresh temp dir. */
  outDir?: string;
  /** Local cluster: first controller port (brokers +200, metrics +100/+300). */
  basePort: number;
  /** Local cluster: config overrides for every node. */
  overrides: readonly string[];
  /** Local cluster in network namespaces: 'auto' = when root with iproute2. */
  netns: 'auto' | boolean;
  netnsTag?: string;
  netnsSubnet?: number;
  /** Bytes written while the killed broker is down (it has to fetch them back). */
  catchUpBytes: number;
  /** How long a stopped broker stays down after the catch-up writes, and between faults. */
  pauseMs: number;
  /** Probe producer: each partition gets a record every this many ms (at most 4 outstanding). */
  probeIntervalMs: number;
  /** Sampler period outside measurements. */
  sampleIntervalMs: number;
  /** How long to wait for a recovery before giving up and reporting what did not recover. */
  recoveryTimeoutMs: number;
  /** broker.session.timeout.ms of the cluster (read from overrides for a local one); default 9000. */
  sessionTimeoutMs?: number;
  log: (line: string) => void;
}

export interface Summary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Partitions that had not got there when the measurement gave up. */
  missing: number;
}

export interface ScenarioResult {
  scenario: FailoverScenario;
  /** What was hit, e.g. "broker 101". */
  target: string;
  /** Seconds since the bench started producing. */
  atSeconds: number;
  skipped?: string;
  /** Partitions the fault took the leader from (or, for a restart/heal, that had to re-join the ISR). */
  partitions: number;
  leaderElection?: Summary;
  /** Fault -> every surviving broker's Metadata answer names the new leader (what producers learn). */
  leaderKnownToBrokers?: Summary;
  produceUnavailable?: Summary;
  /** Per partition, restart or heal -> the broker back in its ISR. */
  fullIsr?: Summary;
  urpRecoverySeconds?: number;
  /** Restart or heal -> the broker unfenced again (registered, caught up with the metadata). */
  unfencedAfterMs?: number;
  catchUpBytes?: number;
  catchUpMBps?: number;
  controlledShutdownMs?: number;
  /** Docker: the broker container's exit code after the SIGTERM (0 = controlled shutdown complete). */
  shutdownExitCode?: number | null;
  controllerFailoverMs?: number;
  fencedAfterMs?: number;
  maxUnderReplicated: number;
  maxUnderMinIsr: number;
  maxOffline: number;
  /** Probe sends made during the scenario that failed for good, by Kafka error name. */
  failedProduces: number;
  failedByCode: Record<string, number>;
  /** Produce partition errors the brokers answered during the scenario (retried by the client), by name. */
  brokerProduceErrors: Record<string, number>;
}

export interface FailoverBenchResult {
  cluster: string;
  partitions: number;
  replicationFactor: number;
  minInsyncReplicas: number;
  /** Whether every partition took a write and had a full ISR before the first fault. */
  steadyBeforeFaults: boolean;
  loadAverageStart: number[];
  loadAverageEnd: number[];
  /** From the SIGKILL of a broker (scenario kill), over the partitions it led. */
  leaderElectionP50Ms: number | null;
  leaderElectionP99Ms: number | null;
  leaderElectionMaxMs: number | null;
  produceUnavailableP50Ms: number | null;
  produceUnavailableP99Ms: number | null;
  produceUnavailableMaxMs: number | null;
  /** From the restart of the killed broker until URP 0. */
  urpRecoverySeconds: number | null;
  catchUpBytes: number | null;
  catchUpMBps: number | null;
  /** acks=all probe sends that failed during the controlled shutdown scenario. */
  controlledShutdownFailedProduces: number | null;
  controllerFailoverMs: number | null;
  isolatedBrokerFencedMs: number | null;
  sessionTimeoutMs: number;
  probeRecordsAcked: number;
  probeRecordsFailed: number;
  targets: Array<{ name: string; met: boolean | null; value: string }>;
  timelineFile: string;
  chartSvg: string;
  chartPng: string;
  scenarios: ScenarioResult[];
}

const PROBE_MAX_OUTSTANDING = 4;
const MIN_INSYNC_REPLICAS = 2;
const THROUGHPUT_BUCKET_MS = 500;

/** An applier that can stop a node without starting it again (the Docker one): the shutdown scenario then measures the restart too. */
function isStoppable(a: FaultApplier): a is FaultApplier & { stop(id: number): Promise<number | null> } {
  return typeof (a as { stop?: unknown }).stop === 'function';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** Exact percentiles of a small sample (at most the partition count). */
export function summarize(values: readonly number[], missing = 0): Summary {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number);
  return {
    count: s.length,
    p50Ms: Math.round(at(0.5)),
    p99Ms: Math.round(at(0.99)),
    maxMs: Math.round(s.length === 0 ? Number.NaN : (s[s.length - 1] as number)),
    missing,
  };
}

/** Parses `kill,restart,...` (or `all`). */
export function parseScenarios(text: string): FailoverScenario[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.includes('all')) return [...FAILOVER_SCENARIOS];
  for (const n of names) {
    if (!(FAILOVER_SCENARIOS as readonly string[]).includes(n))
      throw new Error(`unknown scenario "${n}" (one of ${FAILOVER_SCENARIOS.join(', ')}, all)`);
  }
  return FAILOVER_SCENARIOS.filter((s) => names.includes(s));
}

/** `64MiB`, `1GiB`, `500MB`, `1048576` to bytes. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a size (e.g. 64MiB, 1GiB)`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const factor: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: 1024,
    mb: 1e6,
    mib: 1024 ** 2,
    gb: 1e9,
    gib: 1024 ** 3,
  };
  return Math.round(Number(m[1]) * (factor[unit] as number));
}

/**
 * Writes a small record to every partition every `intervalMs` (at most a few
 * outstanding per partition), and records per partition when writes were
 * acknowledged; a measurement "watches" a set of partitions from an instant
 * and gets the first acknowledgement of a send made at or after it.
 */
class ProduceProbe {
  readonly producer: Producer;
  readonly #topic: string;
  readonly #partitions: number;
  readonly #now: () => number;
  readonly #outstanding: Int32Array;
  readonly #pending = new Set<Promise<void>>();
  readonly buckets = new Map<number, number>();
  readonly failures: Array<{ sentMs: number; failedMs: number; partition: number; code: string }> = [];
  acked = 0;
  /** Partitions with at least one acknowledged write. */
  partitionsAcked = 0;
  readonly #everAcked: Uint8Array;
  #seq = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #watch: { fromMs: number; partitions: Set<number>; firstAckMs: Map<number, number> } | null = null;

  constructor(bootstrap: readonly string[], topic: string, partitions: number, now: () => number) {
    this.#topic = topic;
    this.#partitions = partitions;
    this.#now = now;
    this.#outstanding = new Int32Array(partitions);
    this.#everAcked = new Uint8Array(partitions);
    this.producer = new Producer({
      bootstrap,
      config: {
        acks: 'all',
        'enable.idempotence': true,
        'linger.ms': 2,
        // Short enough that a request stuck on a silent (cut-off) leader is retried elsewhere soon.
        'request.timeout.ms': 5000,
        'delivery.timeout.ms': 120_000,
        'retry.backoff.ms': 20,
        'metadata.max.age.ms': 5000,
      },
    });
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      for (let p = 0; p < this.#partitions; p++)
        if ((this.#outstanding[p] as number) < PROBE_MAX_OUTSTANDING) this.#send(p);
    }, intervalMs);
  }

  /** From now on, the first acknowledgement per partition of a send made from now. Sends one to each at once. */
  watch(partitions: Iterable<number>): Map<number, number> {
    const firstAckMs = new Map<number, number>();
    this.#watch = { fromMs: this.#now(), partitions: new Set(partitions), firstAckMs };
    for (const p of this.#watch.partitions) this.#send(p);
    return firstAckMs;
  }

  unwatch(): void {
    this.#watch = null;
  }

  #send(partition: number): void {
    const sentMs = this.#now();
    this.#outstanding[partition] = (this.#outstanding[partition] as number) + 1;
    const value = `p${partition}-${this.#seq++}`;
    const p = this.producer
      .send({ topic: this.#topic, partition, key: null, value })
      .then(
        () => {
          const t = this.#now();
          this.acked++;
          if (this.#everAcked[partition] === 0) {
            this.#everAcked[partition] = 1;
            this.partitionsAcked++;
          }
          const b = Math.floor(t / THROUGHPUT_BUCKET_MS);
          this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
          const w = this.#watch;
          if (w !== null && sentMs >= w.fromMs && w.partitions.has(partition) && !w.firstAckMs.has(partition))
            w.firstAckMs.set(partition, t);
        },
        (err: unknown) => {
          const code = isRaftkaError(err) ? err.errorName : err instanceof Error ? err.message : String(err);
          this.failures.push({ sentMs, failedMs: this.#now(), partition, code });
        },
      )
      .finally(() => {
        this.#outstanding[partition] = (this.#outstanding[partition] as number) - 1;
        this.#pending.delete(p);
      });
    this.#pending.add(p);
  }

  failuresSentBetween(fromMs: number, toMs: number) {
    return this.failures.filter((f) => f.sentMs >= fromMs && f.sentMs < toMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.#pending);
    await this.producer.close();
  }
}

interface Sample {
  tMs: number;
  partitions: readonly PartitionDescription[];
}

/** Polls DescribeTopics for the URP/offline timeline and per-partition leader and ISR changes. */
class ClusterSampler {
  readonly timeline: TimelinePoint[] = [];
  latest: Sample | null = null;
  fast = false;
  readonly #listeners = new Set<(s: Sample) => void>();
  readonly #admin: Admin;
  readonly #topic: string;
  readonly #now: () => number;
  #running = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(admin: Admin, topic: string, now: () => number) {
    this.#admin = admin;
    this.#topic = topic;
    this.#now = now;
  }

  start(intervalMs: number): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        const sentMs = this.#now();
        try {
          const [d] = await this.#admin.describeTopics([this.#topic]);
          if (d !== undefined && d.error === null) {
            // The answer's time: the state it shows was committed at the latest by then.
            const s: Sample = { tMs: this.#now(), partitions: d.partitions };
            this.latest = s;
            this.timeline.push({
              tSeconds: s.tMs / 1000,
              underReplicated: d.partitions.filter((p) => p.isr.length < p.replicas.length).length,
              underMinIsr: d.partitions.filter((p) => p.isr.length < MIN_INSYNC_REPLICAS).length,
              offline: d.partitions.filter((p) => p.leader < 0).length,
            });
            for (const l of this.#listeners) l(s);
          }
        } catch {
          // A controller election: the next poll gets through.
        }
        // Fast (around a fault): 10 ms between polls. Each one makes the active controller describe
        // every partition, and that controller is the one deciding the failover being measured.
        await sleep(this.fast ? 10 : intervalMs - (this.#now() - sentMs));
      }
    })();
  }

  on(listener: (s: Sample) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with true when `done` holds after a sample, false after timeoutMs. */
  until(done: (s: Sample) => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolveWait) => {
      const off = this.on((s) => {
        if (done(s)) finish(true);
      });
      const timer = setTimeout(() => finish(false), timeoutMs);
      function finish(ok: boolean) {
        clearTimeout(timer);
        off();
        resolveWait(ok);
      }
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

/** A broker's /metrics counters the bench reads: replication bytes in, produce partition errors. */
async function readBrokerCounters(
  endpoint: string | undefined,
): Promise<{ replicationBytesIn: number; produceErrors: Map<string, number> } | null> {
  if (endpoint === undefined) return null;
  try {
    const res = await fetch(`http://${endpoint}/metrics`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return null;
    const text = await res.text();
    const bytes = /^raftka_broker_replication_bytes_in_total(?:\{[^}]*\})? (\S+)$/m.exec(text);
    const produceErrors = new Map<string, number>();
    for (const m of text.matchAll(/^raftka_broker_partition_errors_total\{([^}]*)\} (\S+)$/gm)) {
      const labels = m[1] as string;
      if (!/api="produce"/.test(labels)) continue;
      const error = /error="([^"]*)"/.exec(labels)?.[1] ?? 'UNKNOWN';
      produceErrors.set(error, (produceErrors.get(error) ?? 0) + Number(m[2]));
    }
    return { replicationBytesIn: bytes ? Number(bytes[1]) : Number.NaN, produceErrors };
  } catch {
    return null;
  }
}

function countBy(items: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}

function fmtMs(s: Summary | undefined): string {
  if (s === undefined || s.count === 0) return '-';
  return `${s.p50Ms} / ${s.p99Ms} / ${s.maxMs}${s.missing > 0 ? ` (+${s.missing} never)` : ''}`;
}

export async function runFailoverBench(o: FailoverBenchOptions): Promise<FailoverBenchResult> {
  const log = o.log;
  const own = o.bootstrap === undefined;
  if (!own && o.applier === undefined)
    throw new Error('a running cluster needs a fault applier (--docker-project) for the bench to apply faults');
  const loadAverageStart = loadavg().map((v) => Math.round(v * 100) / 100);
  const outDir = resolve(o.outDir ?? mkdtempSync(join(tmpdir(), 'raftka-bench-failover-')));
  mkdirSync(outDir, { recursive: true });
  const sessionTimeoutMs =
    o.sessionTimeoutMs ??
    Number(o.overrides.find((x) => x.startsWith('broker.session.timeout.ms='))?.split('=')[1] ?? 9000);

  const cleanups: Array<() => Promise<void> | void> = [];
  let cluster: LocalCluster | null = null;
  let net: NetnsNetwork | null = null;
  let dataDir: string | null = null;
  try {
    let bootstrap: string[];
    let adminEndpoints: string[] | undefined;
    let applier: FaultApplier;
    const metricsOf = new Map<number, string>(o.metricsEndpoints ?? []);
    let clusterDescription: string;
    if (own) {
      const useNetns = o.netns === 'auto' ? o.scenarios.includes('isolate') && NetnsNetwork.available() : o.netns;
      if (useNetns) {
        net = new NetnsNetwork({
          tag: o.netnsTag ?? 'bf',
          subnet: o.netnsSubnet ?? 74,
          nodeIds: [1, 2, 3, 101, 102, 103],
        });
        net.setup();
        const n = net;
        cleanups.push(() => n.teardown());
      }
      dataDir = mkdtempSync(join(tmpdir(), 'raftka-bench-failover-cluster-'));
      cluster = new LocalCluster({
        dataDir,
        controllers: 3,
        brokers: 3,
        basePort: o.basePort,
        baseMetricsPort: o.basePort + 100,
        overrides: [...o.overrides],
        logLevel: 'warn',
        netns: net,
      });
      const c = cluster;
      cluster.start();
      cleanups.push(async () => {
        await c.stop().catch(() => undefined);
        c.killAllNow();
      });
      applier = new LocalClusterApplier(cluster, { netns: net });
      bootstrap = cluster.brokerEndpoints;
      adminEndpoints = cluster.controllers.map((n) => `${n.host}:${n.port}`);
      for (const b of cluster.brokers) metricsOf.set(b.nodeId, `${b.host}:${b.metricsPort}`);
      clusterDescription = `local: 3 controllers, 3 brokers${net === null ? ' on loopback' : ' in network namespaces'}`;
    } else {
      bootstrap = [...(o.bootstrap ?? [])];
      applier = o.applier as FaultApplier;
      clusterDescription = `running cluster at ${bootstrap.join(',')}; faults by ${applier.description}`;
    }
    const a = applier;
    cleanups.push(() => a.close());
    // Ctrl-C: no node and no namespace left behind.
    const onSignal = () => {
      cluster?.killAllNow();
      net?.teardown();
      if (dataDir !== null && process.env.RAFTKA_BENCH_KEEP_DIR !== '1')
        rmSync(dataDir, { recursive: true, force: true });
      if (own) process.exit(130);
      // A running cluster: put an isolated broker back on its network first (at most 5 s).
      void Promise.race([a.close(), sleep(5000)]).finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    cleanups.push(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
    log(`bench failover: ${clusterDescription}; data in ${dataDir ?? '(running cluster)'}, output in ${outDir}`);

    const admin = new Admin({ bootstrap, adminEndpoints, requestTimeoutMs: 3000, retryTimeoutMs: 10_000 });
    cleanups.push(() => admin.close());
    const upStart = performance.now();
    await waitUntil('3 brokers registered and unfenced', 90_000, async () => {
      const d = await admin.describeCluster();
      return d.brokers.length >= 3 && d.brokers.every((b) => b.state === 'unfenced');
    });
    log(`cluster up: 3 brokers unfenced after ${((performance.now() - upStart) / 1000).toFixed(1)} s`);

    const topic = `bench-failover-${Date.now().toString(36)}`;
    const createStart = performance.now();
    await admin.createTopics([
      {
        name: topic,
        numPartitions: o.partitions,
        replicationFactor: 3,
        configs: { 'min.insync.replicas': String(MIN_INSYNC_REPLICAS) },
      },
    ]);
    const describe = async () => {
      const [d] = await admin.describeTopics([topic]);
      if (d === undefined || d.error !== null) throw new Error(`cannot describe ${topic}`);
      return d.partitions;
    };
    await waitUntil(`${topic}: every partition with a leader and full ISR`, 120_000, async () => {
      const ps = await describe();
      return ps.length === o.partitions && ps.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length);
    });
    log(
      `topic ${topic}: ${o.partitions} partitions, RF 3, min.insync.replicas=2, ready in ${((performance.now() - createStart) / 1000).toFixed(1)} s`,
    );

    const brokerEndpoint = new Map((await admin.metadata([topic])).brokers.map((b) => [b.nodeId, b.endpoint]));
    const dataClient = new BrokerDataClient({});
    cleanups.push(() => dataClient.close());
    const t0 = performance.now();
    const now = () => performance.now() - t0;
    const sampler = new ClusterSampler(admin, topic, now);
    const probe = new ProduceProbe(bootstrap, topic, o.partitions, now);
    cleanups.push(() => probe.stop().catch(() => undefined));
    cleanups.push(() => sampler.stop());
    await probe.producer.connect();
    sampler.start(o.sampleIntervalMs);
    probe.start(o.probeIntervalMs);
    const faults: FaultMark[] = [];
    const mark = (label: string) => {
      faults.push({ tSeconds: now() / 1000, label });
      log(`[${(now() / 1000).toFixed(1)} s] ${label}`);
    };
    // Warm-up: every partition acknowledged once and every ISR full, then a steady stretch for the chart.
    const steady = await sampler.until(
      (s) =>
        probe.partitionsAcked === o.partitions &&
        s.partitions.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length),
      o.recoveryTimeoutMs,
    );
    if (!steady)
      log(
        `warm-up: NOT STEADY after ${(o.recoveryTimeoutMs / 1000).toFixed(0)} s: ${probe.partitionsAcked}/${o.partitions} partitions acknowledged a write, ${sampler.timeline.at(-1)?.underReplicated ?? '?'} under-replicated, ${sampler.timeline.at(-1)?.offline ?? '?'} offline; measuring anyway`,
      );
    else log(`warm-up: every partition acknowledged a write and every ISR full after ${(now() / 1000).toFixed(1)} s`);
    await sleep(Math.max(2000, o.pauseMs));
    log(`probe: ${probe.acked} records acknowledged in the warm-up (${(probe.acked / (now() / 1000)).toFixed(0)}/s)`);

    const brokerIds = a.brokerIds.length > 0 ? [...a.brokerIds] : [101, 102, 103];
    const fresh = async () => {
      const ps = await describe();
      return ps;
    };
    const busiestBroker = (ps: readonly PartitionDescription[]) => {
      const led = new Map<number, number[]>(brokerIds.map((id) => [id, []]));
      for (const p of ps) led.get(p.leader)?.push(p.partition);
      return [...led.entries()].sort((x, y) => y[1].length - x[1].length)[0] as [number, number[]];
    };
    const brokerErrors = async () => {
      const out = new Map<number, Map<string, number>>();
      for (const id of brokerIds) {
        const c = await readBrokerCounters(metricsOf.get(id));
        if (c !== null) out.set(id, c.produceErrors);
      }
      return out;
    };
    const errorDiff = (before: Map<number, Map<string, number>>, after: Map<number, Map<string, number>>) => {
      const out: Record<string, number> = {};
      for (const [id, m] of after) {
        const b = before.get(id);
        for (const [code, v] of m) {
          // A restarted broker's counters start again from 0.
          const prev = b?.get(code) ?? 0;
          const d = v >= prev ? v - prev : v;
          if (d > 0) out[code] = (out[code] ?? 0) + d;
        }
      }
      return out;
    };
    const maxOver = (fromMs: number, toMs: number) => {
      const pts = sampler.timeline.filter((p) => p.tSeconds * 1000 >= fromMs && p.tSeconds * 1000 <= toMs);
      return {
        maxUnderReplicated: Math.max(0, ...pts.map((p) => p.underReplicated)),
        maxOffline: Math.max(0, ...pts.map((p) => p.offline)),
        maxUnderMinIsr: Math.max(0, ...pts.map((p) => p.underMinIsr ?? 0)),
      };
    };

    /**
     * Per partition of `led`: from the fault at `faultMs` until a leader other
     * than `victim` is committed, and until the first write sent after the
     * fault is acknowledged. Call before the fault, `probe()` once the fault is
     * in place (so that no write the old leader acknowledged in the meantime
     * counts), and await `done()`.
     */
    const watchMove = (victim: number, led: readonly number[]) => {
      const elected = new Map<number, number>();
      const ledSet = new Set(led);
      const off = sampler.on((s) => {
        for (const p of s.partitions) {
          if (!ledSet.has(p.partition) || elected.has(p.partition)) continue;
          if (p.leader >= 0 && p.leader !== victim) elected.set(p.partition, s.tMs);
        }
      });
      // When the surviving brokers' own metadata (what clients are told) shows the new leader.
      const propagated = new Map<number, number>();
      const seenBy = new Map<number, Set<number>>();
      const survivors = [...brokerEndpoint].filter(([id]) => id !== victim);
      let polling = true;
      const poller = (async () => {
        while (polling && propagated.size < led.length) {
          await Promise.all(
            survivors.map(async ([id, endpoint]) => {
              try {
                const md = metadataFromWire(await dataClient.metadata(endpoint, [topic], Date.now() + 2000));
                const t = now();
                for (const p of md.topics[0]?.partitions ?? []) {
                  if (!ledSet.has(p.partition) || propagated.has(p.partition)) continue;
                  if (p.leader < 0 || p.leader === victim) continue;
                  const seen = seenBy.get(p.partition) ?? new Set<number>();
                  seen.add(id);
                  seenBy.set(p.partition, seen);
                  if (seen.size === survivors.length) propagated.set(p.partition, t);
                }
              } catch {
                // Busy or restarting: the next round.
              }
            }),
          );
          await sleep(20);
        }
      })();
      sampler.fast = true;
      const faultMs = now();
      let firstAck = new Map<number, number>();
      return {
        faultMs,
        probe: () => {
          firstAck = probe.watch(led);
        },
        done: async () => {
          const giveUp = now() + o.recoveryTimeoutMs;
          while (now() < giveUp && (elected.size < led.length || firstAck.size < led.length)) await sleep(10);
          off();
          probe.unwatch();
          sampler.fast = false;
          polling = false;
          await poller;
          return {
            leaderElection: summarize(
              [...elected.values()].map((t) => t - faultMs),
              led.length - elected.size,
            ),
            leaderKnownToBrokers: summarize(
              [...propagated.values()].map((t) => t - faultMs),
              led.length - propagated.size,
            ),
            produceUnavailable: summarize(
              [...firstAck.values()].map((t) => t - faultMs),
              led.length - firstAck.size,
            ),
          };
        },
      };
    };

    /** After a restart or heal of `broker` at `fromMs`: per partition with a replica there, back in the ISR. */
    const measureRejoin = async (broker: number, fromMs: number) => {
      const joined = new Map<number, number>();
      let lastBytes = Number.NaN;
      let urpZeroMs: number | null = null;
      const off = sampler.on((s) => {
        for (const p of s.partitions) {
          if (!joined.has(p.partition) && p.replicas.includes(broker) && p.isr.includes(broker))
            joined.set(p.partition, s.tMs);
        }
        if (urpZeroMs === null && s.partitions.every((p) => p.isr.length === p.replicas.length)) urpZeroMs = s.tMs;
      });
      const expected = (await fresh()).filter((p) => p.replicas.includes(broker)).length;
      const giveUp = now() + o.recoveryTimeoutMs;
      let unfencedMs: number | null = null;
      let lastScrapeMs = 0;
      while (now() < giveUp && (joined.size < expected || urpZeroMs === null)) {
        // Once a second: a /metrics scrape costs the broker under test a walk of its thousands of
        // open files (process_open_fds), and only the last count matters.
        if (now() - lastScrapeMs >= 1000) {
          lastScrapeMs = now();
          const c = await readBrokerCounters(metricsOf.get(broker));
          if (c !== null) lastBytes = c.replicationBytesIn;
        }
        if (unfencedMs === null) {
          const d = await admin.describeCluster().catch(() => null);
          if (d?.brokers.find((b) => b.brokerId === broker)?.state === 'unfenced') unfencedMs = now();
        }
        await sleep(50);
      }
      off();
      const c = await readBrokerCounters(metricsOf.get(broker));
      if (c !== null) lastBytes = c.replicationBytesIn;
      const fullIsr = summarize(
        [...joined.values()].map((t) => t - fromMs),
        expected - joined.size,
      );
      const doneMs = urpZeroMs ?? Number.NaN;
      const seconds = (doneMs - fromMs) / 1000;
      return {
        fullIsr,
        ...(unfencedMs === null ? {} : { unfencedAfterMs: Math.round(unfencedMs - fromMs) }),
        urpRecoverySeconds: Number.isFinite(seconds) ? Math.round(seconds * 100) / 100 : undefined,
        catchUpBytes: Number.isFinite(lastBytes) ? lastBytes : undefined,
        catchUpMBps:
          Number.isFinite(lastBytes) && Number.isFinite(seconds) && seconds > 0
            ? Math.round((lastBytes / 1e6 / seconds) * 10) / 10
            : undefined,
      };
    };

    const results: ScenarioResult[] = [];
    const scenarioBase = (scenario: FailoverScenario, target: string, fromMs: number) => ({
      scenario,
      target,
      atSeconds: Math.round(fromMs / 100) / 10,
      partitions: 0,
      maxUnderReplicated: 0,
      maxUnderMinIsr: 0,
      maxOffline: 0,
      failedProduces: 0,
      failedByCode: {},
      brokerProduceErrors: {},
    });
    const finish = async (
      r: ScenarioResult,
      fromMs: number,
      errorsBefore: Map<number, Map<string, number>>,
    ): Promise<ScenarioResult> => {
      const toMs = now();
      Object.assign(r, maxOver(fromMs, toMs));
      // Failures are counted at the end of the run too (a send may fail after its scenario); see below.
      r.brokerProduceErrors = errorDiff(errorsBefore, await brokerErrors());
      (r as ScenarioResult & { toMs: number }).toMs = toMs;
      (r as ScenarioResult & { fromMs: number }).fromMs = fromMs;
      results.push(r);
      return r;
    };
    const waitQuiet = async () => {
      const quiet = await sampler.until(
        (s) => s.partitions.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length),
        o.recoveryTimeoutMs,
      );
      if (!quiet) log(`not back to full ISR within ${o.recoveryTimeoutMs} ms; going on`);
      await sleep(o.pauseMs);
    };

    // (a) SIGKILL of a broker, and (b) its restart after missing the catch-up writes.
    if (o.scenarios.includes('kill') || o.scenarios.includes('restart')) {
      const [victim, led] = busiestBroker(await fresh());
      const errorsBefore = await brokerErrors();
      const move = watchMove(victim, led);
      const faultMs = move.faultMs;
      await a.kill(victim);
      move.probe();
      mark(`SIGKILL broker ${victim}`);
      const r: ScenarioResult = { ...scenarioBase('kill', `broker ${victim}`, faultMs), partitions: led.length };
      Object.assign(r, await move.done());
      if (o.scenarios.includes('kill')) {
        await finish(r, faultMs, errorsBefore);
        log(
          `kill: ${led.length} partitions led by broker ${victim}: new leader p50/p99/max ${fmtMs(r.leaderElection)} ms; known to every broker ${fmtMs(r.leaderKnownToBrokers)} ms; first write ${fmtMs(r.produceUnavailable)} ms`,
        );
      }
      if (o.catchUpBytes > 0)
        await writeCatchUp(bootstrap, topic, o.partitions, o.catchUpBytes, o.recoveryTimeoutMs, log);
      await sleep(o.pauseMs);
      const restartErrors = await brokerErrors();
      const restartMs = now();
      await a.start(victim);
      mark(`restart broker ${victim}`);
      sampler.fast = true;
      const rejoin = await measureRejoin(victim, restartMs);
      sampler.fast = false;
      if (o.scenarios.includes('restart')) {
        const rr: ScenarioResult = {
          ...scenarioBase('restart', `broker ${victim}`, restartMs),
          partitions: rejoin.fullIsr.count + rejoin.fullIsr.missing,
          ...rejoin,
        };
        await finish(rr, restartMs, restartErrors);
        log(
          `restart: broker ${victim} back in the ISR of its partitions p50/p99/max ${fmtMs(rr.fullIsr)} ms; URP 0 after ${rr.urpRecoverySeconds ?? '-'} s; fetched ${((rr.catchUpBytes ?? 0) / 1e6).toFixed(1)} MB at ${rr.catchUpMBps ?? '-'} MB/s`,
        );
      }
      await waitQuiet();
    }

    // (c) SIGTERM: controlled shutdown, then restart.
    if (o.scenarios.includes('shutdown')) {
      const [victim, led] = busiestBroker(await fresh());
      const errorsBefore = await brokerErrors();
      const move = watchMove(victim, led);
      const faultMs = move.faultMs;
      // Writes the broker still acknowledges while it hands its leaderships over count: it is serving.
      move.probe();
      mark(`SIGTERM broker ${victim}`);
      const r: ScenarioResult = { ...scenarioBase('shutdown', `broker ${victim}`, faultMs), partitions: led.length };
      let restarted = false;
      if (cluster !== null) {
        await cluster.signal(victim, 'SIGTERM', 60_000);
        r.controlledShutdownMs = Math.round(now() - faultMs);
      } else if (isStoppable(a)) {
        // Docker: SIGTERM and wait for the exit without blocking the sampler; exit 0 = controlled shutdown complete.
        r.shutdownExitCode = await a.stop(victim);
        r.controlledShutdownMs = Math.round(now() - faultMs);
      } else {
        await a.restart(victim);
        restarted = true;
      }
      Object.assign(r, await move.done());
      if (!restarted) {
        await sleep(o.pauseMs);
        const restartMs = now();
        await a.start(victim);
        mark(`restart broker ${victim}`);
        const rejoin = await measureRejoin(victim, restartMs);
        r.fullIsr = rejoin.fullIsr;
        r.urpRecoverySeconds = rejoin.urpRecoverySeconds;
        r.unfencedAfterMs = rejoin.unfencedAfterMs;
      }
      await finish(r, faultMs, errorsBefore);
      log(
        `shutdown: broker ${victim} exited after ${r.controlledShutdownMs ?? '-'} ms${r.shutdownExitCode === undefined ? '' : ` with status ${r.shutdownExitCode ?? '?'}`}; ${led.length} partitions: new leader ${fmtMs(r.leaderElection)} ms, first write ${fmtMs(r.produceUnavailable)} ms`,
      );
      await waitQuiet();
    }

    // (d) SIGKILL of the active controller.
    if (o.scenarios.includes('controller')) {
      const old = await waitUntil('an active controller', 30_000, () => a.activeController());
      const errorsBefore = await brokerErrors();
      const faultMs = now();
      await a.kill(old);
      mark(`SIGKILL controller ${old}`);
      const r: ScenarioResult = { ...scenarioBase('controller', `controller ${old}`, faultMs), partitions: 0 };
      const newId = await waitUntil(
        'a new active controller',
        o.recoveryTimeoutMs,
        async () => {
          const id = await a.activeController();
          return id !== null && id !== old ? id : undefined;
        },
        5,
      );
      r.controllerFailoverMs = Math.round(now() - faultMs);
      log(`controller: ${newId} active ${r.controllerFailoverMs} ms after the SIGKILL of ${old}`);
      await sleep(o.pauseMs);
      await a.start(old);
      mark(`restart controller ${old}`);
      await waitUntil(`controller ${old} caught up`, o.recoveryTimeoutMs, async () => {
        const d = await admin.describeCluster();
        const c = d.controllers.find((x) => x.nodeId === old);
        return c !== undefined && c.lag === 0 && c.logEndOffset > 0;
      });
      await finish(r, faultMs, errorsBefore);
      await waitQuiet();
    }

    // (e) A broker cut off the network, alive: fenced after the session timeout.
    if (o.scenarios.includes('isolate')) {
      if (!a.supports('isolate-broker')) {
        const why =
          own && process.getuid?.() !== 0
            ? 'needs root (network namespaces); run as root or leave out isolate'
            : 'the cluster does not run in network namespaces (no way to cut a broker off)';
        log(`isolate: skipped: ${why}`);
        results.push({ ...scenarioBase('isolate', '-', now()), skipped: why });
      } else {
        const [victim, led] = busiestBroker(await fresh());
        const errorsBefore = await brokerErrors();
        const move = watchMove(victim, led);
        const faultMs = move.faultMs;
        await a.isolate(victim);
        move.probe();
        mark(`isolate broker ${victim}`);
        const r: ScenarioResult = { ...scenarioBase('isolate', `broker ${victim}`, faultMs), partitions: led.length };
        const fencedAt = await waitUntil(
          `broker ${victim} fenced`,
          o.recoveryTimeoutMs,
          async () => {
            const d = await admin.describeCluster();
            return d.brokers.find((b) => b.brokerId === victim)?.state === 'fenced' ? now() : undefined;
          },
          5,
        );
        r.fencedAfterMs = Math.round(fencedAt - faultMs);
        Object.assign(r, await move.done());
        log(
          `isolate: broker ${victim} fenced ${r.fencedAfterMs} ms after the cut (session timeout ${sessionTimeoutMs} ms); ${led.length} partitions: new leader ${fmtMs(r.leaderElection)} ms, first write ${fmtMs(r.produceUnavailable)} ms`,
        );
        await sleep(o.pauseMs);
        const healMs = now();
        await a.healNetwork();
        mark(`heal broker ${victim}`);
        sampler.fast = true;
        const rejoin = await measureRejoin(victim, healMs);
        sampler.fast = false;
        r.fullIsr = rejoin.fullIsr;
        r.urpRecoverySeconds = rejoin.urpRecoverySeconds;
        r.unfencedAfterMs = rejoin.unfencedAfterMs;
        await finish(r, faultMs, errorsBefore);
        await sleep(o.pauseMs);
      }
    }

    await probe.stop();
    await sampler.stop();
    // Failures by the time the send was made, now that every send has settled.
    for (const r of results as Array<ScenarioResult & { fromMs?: number; toMs?: number }>) {
      if (r.fromMs === undefined || r.toMs === undefined) continue;
      const f = probe.failuresSentBetween(r.fromMs, r.toMs);
      r.failedProduces = f.length;
      r.failedByCode = countBy(f.map((x) => x.code));
      delete r.fromMs;
      delete r.toMs;
    }

    const throughput: ThroughputPoint[] = [];
    const lastBucket = Math.floor(now() / THROUGHPUT_BUCKET_MS);
    for (let b = 0; b <= lastBucket; b++)
      throughput.push({
        tSeconds: (b * THROUGHPUT_BUCKET_MS) / 1000,
        recordsPerSec: ((probe.buckets.get(b) ?? 0) * 1000) / THROUGHPUT_BUCKET_MS,
      });
    const timelineFile = join(outDir, 'failover-timeline.json');
    writeFileSync(
      timelineFile,
      `${JSON.stringify({ partitions: o.partitions, faults, timeline: sampler.timeline, throughput }, null, 1)}\n`,
    );
    const chart = await writeTimelineChart(
      {
        // The applier's description is long for a running cluster, and the title sets the chart's width.
        title: `raftka bench failover: ${o.partitions} partitions, RF 3 (${own ? clusterDescription : `running cluster at ${bootstrap.join(',')}`})`,
        partitions: sampler.timeline,
        throughput,
        faults,
      },
      join(outDir, 'failover-timeline'),
    );

    const find = (s: FailoverScenario) => results.find((r) => r.scenario === s && r.skipped === undefined);
    const kill = find('kill');
    const restart = find('restart');
    const shutdown = find('shutdown');
    const controller = find('controller');
    const isolate = find('isolate');
    const orNull = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? null : v);
    // A target is met only when every partition got there; one that never did is a miss, not "n/a".
    const killWorst = kill
      ? Math.max(kill.leaderElection?.p99Ms ?? Number.NaN, kill.produceUnavailable?.p99Ms ?? Number.NaN)
      : Number.NaN;
    const killComplete =
      kill !== undefined && kill.leaderElection?.missing === 0 && kill.produceUnavailable?.missing === 0;
    const targets: FailoverBenchResult['targets'] = [
      {
        name: 'SIGKILL: new leader and writes accepted again, p99 < 1 s',
        met: kill ? killComplete && killWorst < 1000 : null,
        value: !kill
          ? 'not run'
          : Number.isNaN(killWorst)
            ? 'no partition recovered'
            : `${killWorst} ms${killComplete ? '' : ' (some partitions never recovered)'}`,
      },
      {
        name: 'controlled shutdown fails no acks=all produce',
        met: shutdown ? shutdown.failedProduces === 0 : null,
        value: shutdown ? `${shutdown.failedProduces} failed` : 'not run',
      },
      {
        name: `restarted broker back in every ISR within 30 s (missed ${(o.catchUpBytes / 2 ** 20).toFixed(0)} MiB)`,
        met: restart ? restart.urpRecoverySeconds !== undefined && restart.urpRecoverySeconds < 30 : null,
        value: restart
          ? restart.urpRecoverySeconds === undefined
            ? 'never'
            : `${restart.urpRecoverySeconds} s`
          : 'not run',
      },
      {
        name: `cut-off broker fenced within broker.session.timeout.ms + 1 s (${sessionTimeoutMs + 1000} ms)`,
        met: isolate ? isolate.fencedAfterMs !== undefined && isolate.fencedAfterMs <= sessionTimeoutMs + 1000 : null,
        value: isolate ? `${isolate.fencedAfterMs ?? 'never'} ms` : 'not run',
      },
    ];
    const result: FailoverBenchResult = {
      cluster: clusterDescription,
      partitions: o.partitions,
      replicationFactor: 3,
      minInsyncReplicas: MIN_INSYNC_REPLICAS,
      steadyBeforeFaults: steady,
      loadAverageStart,
      loadAverageEnd: loadavg().map((v) => Math.round(v * 100) / 100),
      leaderElectionP50Ms: orNull(kill?.leaderElection?.p50Ms),
      leaderElectionP99Ms: orNull(kill?.leaderElection?.p99Ms),
      leaderElectionMaxMs: orNull(kill?.leaderElection?.maxMs),
      produceUnavailableP50Ms: orNull(kill?.produceUnavailable?.p50Ms),
      produceUnavailableP99Ms: orNull(kill?.produceUnavailable?.p99Ms),
      produceUnavailableMaxMs: orNull(kill?.produceUnavailable?.maxMs),
      urpRecoverySeconds: orNull(restart?.urpRecoverySeconds),
      catchUpBytes: orNull(restart?.catchUpBytes),
      catchUpMBps: orNull(restart?.catchUpMBps),
      controlledShutdownFailedProduces: shutdown ? shutdown.failedProduces : null,
      controllerFailoverMs: orNull(controller?.controllerFailoverMs),
      isolatedBrokerFencedMs: orNull(isolate?.fencedAfterMs),
      sessionTimeoutMs,
      probeRecordsAcked: probe.acked,
      probeRecordsFailed: probe.failures.length,
      targets,
      timelineFile,
      chartSvg: chart.svg,
      chartPng: chart.png,
      scenarios: results,
    };
    log('');
    log(formatFailoverTable(result));
    return result;
  } finally {
    const stopStart = performance.now();
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log(`bench failover: cleanup: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    log(`bench failover: stopped in ${((performance.now() - stopStart) / 1000).toFixed(1)} s`);
    if (dataDir !== null) {
      if (process.env.RAFTKA_BENCH_KEEP_DIR === '1') log(`kept ${dataDir}`);
      else rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

/** The terminal table: one row per scenario, then the targets. */
export function formatFailoverTable(r: FailoverBenchResult): string {
  const header = [
    'scenario',
    'target',
    'partitions',
    'new leader ms p50/p99/max',
    'brokers know ms p50/p99/max',
    'first write ms p50/p99/max',
    'back in ISR ms p50/p99/max',
    'URP 0 s',
    'max URP',
    'max <min ISR',
    'max offline',
    'failed sends',
    'other',
  ];
  const rows = r.scenarios.map((s) => {
    const other: string[] = [];
    if (s.skipped) other.push(`skipped: ${s.skipped}`);
    if (s.controllerFailoverMs !== undefined) other.push(`new controller ${s.controllerFailoverMs} ms`);
    if (s.fencedAfterMs !== undefined) other.push(`fenced ${s.fencedAfterMs} ms`);
    if (s.controlledShutdownMs !== undefined)
      other.push(
        `exit ${s.controlledShutdownMs} ms${s.shutdownExitCode === undefined ? '' : ` (status ${s.shutdownExitCode ?? '?'})`}`,
      );
    if (s.unfencedAfterMs !== undefined) other.push(`unfenced ${s.unfencedAfterMs} ms`);
    if (s.catchUpBytes !== undefined)
      other.push(`fetched ${(s.catchUpBytes / 1e6).toFixed(0)} MB at ${s.catchUpMBps ?? '-'} MB/s`);
    const errs = Object.entries(s.brokerProduceErrors);
    if (errs.length > 0) other.push(`broker errors ${errs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
    const failed = Object.entries(s.failedByCode);
    return [
      s.scenario,
      s.target,
      String(s.partitions),
      fmtMs(s.leaderElection),
      fmtMs(s.leaderKnownToBrokers),
      fmtMs(s.produceUnavailable),
      fmtMs(s.fullIsr),
      s.urpRecoverySeconds === undefined ? '-' : String(s.urpRecoverySeconds),
      String(s.maxUnderReplicated),
      String(s.maxUnderMinIsr),
      String(s.maxOffline),
      failed.length === 0
        ? String(s.failedProduces)
        : `${s.failedProduces} (${failed.map(([k, v]) => `${k}=${v}`).join(' ')})`,
      other.join('; '),
    ];
  });
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] as string).length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  out.push('');
  if (!r.steadyBeforeFaults)
    out.push(
      '  WARNING: the cluster never reached a steady state (every partition written, every ISR full) before the faults',
    );
  for (const t of r.targets)
    out.push(`  ${t.met === null ? 'n/a   ' : t.met ? 'MET   ' : 'MISSED'}  ${t.name}: ${t.value}`);
  out.push('');
  out.push(
    `  probe: ${r.probeRecordsAcked} records acknowledged, ${r.probeRecordsFailed} failed; load average ${r.loadAverageStart.join(' ')} at the start, ${r.loadAverageEnd.join(' ')} at the end`,
  );
  out.push(`  chart: ${r.chartSvg}, ${r.chartPng}; timeline: ${r.timelineFile}`);
  return out.join('\n');
}

/**
 * Writes `bytes` in 64 KiB records round robin over the partitions (acks=all),
 * while a broker is down; stops sending after `timeoutMs` (and says so).
 */
async function writeCatchUp(
  bootstrap: readonly string[],
  topic: string,
  partitions: number,
  bytes: number,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<void> {
  const recordBytes = 64 * 1024;
  const count = Math.ceil(bytes / recordBytes);
  const producer = new Producer({
    bootstrap,
    config: {
      acks: 'all',
      'linger.ms': 5,
      'batch.size': 512 * 1024,
      'buffer.memory': 128 * 1024 * 1024,
      'request.timeout.ms': 30_000,
      'delivery.timeout.ms': Math.max(35_000, timeoutMs),
    },
  });
  const value = Buffer.alloc(recordBytes, 0x61);
  const start = performance.now();
  let failed = 0;
  let sent = 0;
  try {
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < count; i++) {
      if (performance.now() - start > timeoutMs) break;
      sent++;
      const p = producer
        .send({ topic, partition: i % partitions, key: null, value })
        .then(
          () => undefined,
          () => {
            failed++;
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 512) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    await producer.close();
  }
  const s = (performance.now() - start) / 1000;
  const written = (sent - failed) * recordBytes;
  log(
    `catch-up: wrote ${(written / 2 ** 20).toFixed(0)} MiB (${sent - failed} records of 64 KiB, acks=all) in ${s.toFixed(1)} s = ${(written / 1e6 / s).toFixed(0)} MB/s${failed > 0 ? `; ${failed} failed` : ''}${sent < count ? `; gave up after ${timeoutMs} ms (${count - sent} records not sent)` : ''}`,
  );
}

async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined | null | false>,
  pauseMs = 100,
): Promise<T> {
  const giveUpAt = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() > giveUpAt)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? ` (${lastError.message})` : ''}`,
      );
    await sleep(pauseMs);
  }
}
