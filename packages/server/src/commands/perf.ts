// `raftka perf produce` and `raftka perf consume`, after Kafka's
// kafka-producer-perf-test.sh and kafka-consumer-perf-test.sh: drive the
// cluster as hard as one process can (or at --throughput records/s), print
// progress every 5 s (records/s, MB/s, latency avg/p50/p99/max over the
// window) and a summary over the whole run; with --json the last line is one
// JSON object (recordsPerSec, mbPerSec, p50Ms, p99Ms...).
//
// perf produce with no flag but --json: creates (or reuses) topic `perf`
// with 6 partitions, RF 3 and min.insync.replicas=2, and writes 1 KiB
// records with acks=all for 20 s. Latency is Kafka's: from send() until the
// acknowledgement, queueing in the producer included. The producer runs with
// batch.size 1,000,000 bytes (just under the brokers' default
// max.message.bytes) and linger.ms 5 unless told otherwise (Kafka's own perf
// runs raise batch.size the same way): with one batch per partition in
// flight, batch.size is what a slow round trip is paid with, while linger.ms
// still bounds the wait when traffic is light. At most buffer.memory worth of
// records are outstanding, as a blocking Kafka send would allow.
//
// Records are one random payload (incompressible) reused for every send;
// MB means 10^6 bytes of record values, as in Kafka's tools.
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Consumer, Producer } from '@raftka/client';
import { isRaftkaError } from '@raftka/common';
import * as hdr from 'hdr-histogram-js';
import { DEFAULT_BROKER_BOOTSTRAP } from './produce.js';

export interface PerfIo {
  out: (line: string) => void;
}

export interface PerfProduceOptions {
  bootstrap: string;
  /** Where topic creation goes (brokers forward Admin calls to the active controller); '' = bootstrap. */
  adminBootstrap: string;
  topic: string;
  partitions: number;
  replicationFactor: number;
  minInsyncReplicas: number;
  acks: string;
  recordSize: number;
  /** Seconds. */
  duration: number;
  /** Stop after this many records (0: run for --duration). */
  numRecords: number;
  /** Records/s cap over the whole process; <= 0: as fast as possible. */
  throughput: number;
  producers: number;
  batchSize: number;
  lingerMs: number;
  bufferMemory: number;
  compression: string;
  producerProperty: string[];
  /** Batches per partition in flight (Producer option maxInFlightPerPartition). */
  inFlightPerPartition: number;
  reportingIntervalMs: number;
  /** Skip topic creation (the topic exists; no Admin call). */
  noCreate?: boolean;
  json?: boolean;
}

export const PERF_PRODUCE_DEFAULTS: PerfProduceOptions = {
  bootstrap: DEFAULT_BROKER_BOOTSTRAP,
  adminBootstrap: '',
  topic: 'perf',
  partitions: 6,
  replicationFactor: 3,
  minInsyncReplicas: 2,
  acks: 'all',
  recordSize: 1024,
  duration: 20,
  numRecords: 0,
  throughput: -1,
  producers: 1,
  batchSize: 1_000_000,
  lingerMs: 5,
  bufferMemory: 33_554_432,
  compression: 'none',
  producerProperty: [],
  inFlightPerPartition: 5,
  reportingIntervalMs: 5000,
};

export interface PerfProduceResult {
  topic: string;
  acks: string;
  recordSize: number;
  producers: number;
  batchSize: number;
  lingerMs: number;
  records: number;
  errors: number;
  firstError: string | null;
  elapsedSec: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** CPU of this process (user + system) over the run, % of one core. */
  clientCpuPercent: number;
  /** CPU of each broker process over the run, % of one core, when they run on this machine (Linux). */
  brokerCpuPercent: Record<string, number>;
}

const round = (v: number, digits = 2) => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);
const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

function histogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

type Histogram = ReturnType<typeof histogram>;

function latencyLine(h: Histogram): string {
  const ms = (us: number) => (us / 1000).toFixed(1);
  return `${ms(h.mean)} ms avg latency, ${ms(h.getValueAtPercentile(50))} ms p50, ${ms(h.getValueAtPercentile(99))} ms p99, ${ms(h.maxValue)} ms max latency`;
}

function parseProperties(props: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of props) {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`--producer-property expects key=value, got "${p}"`);
    out[p.slice(0, i).trim()] = p.slice(i + 1).trim();
  }
  return out;
}

/** Creates the topic unless it exists, then waits until every partition has a leader. */
export async function ensureTopic(
  o: Pick<
    PerfProduceOptions,
    'bootstrap' | 'adminBootstrap' | 'topic' | 'partitions' | 'replicationFactor' | 'minInsyncReplicas'
  >,
  io: PerfIo,
): Promise<number> {
  const { Admin } = await import('@raftka/client');
  const admin = new Admin({ bootstrap: list(o.bootstrap), adminEndpoints: list(o.adminBootstrap || o.bootstrap) });
  try {
    const [created] = await admin.createTopics(
      [
        {
          name: o.topic,
          numPartitions: o.partitions,
          replicationFactor: o.replicationFactor,
          configs: { 'min.insync.replicas': String(o.minInsyncReplicas) },
        },
      ],
      { ifNotExists: true },
    );
    if (created?.error?.errorName === 'TOPIC_ALREADY_EXISTS') io.out(`topic ${o.topic} exists; reusing it`);
    else
      io.out(
        `created topic ${o.topic}: ${o.partitions} partitions, RF ${o.replicationFactor}, min.insync.replicas=${o.minInsyncReplicas}`,
      );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const md = await admin.metadata([o.topic]);
      const t = md.topics.find((x) => x.name === o.topic);
      const parts = t?.partitions.filter((p) => p !== undefined) ?? [];
      if (t !== undefined && t.error === null && parts.length > 0 && parts.every((p) => p.leader >= 0)) {
        return parts.length;
      }
      if (Date.now() > deadline) throw new Error(`topic ${o.topic} has partitions without a leader after 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.close();
  }
}

export async function runPerfProduce(input: Partial<PerfProduceOptions>, io: PerfIo): Promise<PerfProduceResult> {
  const o: PerfProduceOptions = { ...PERF_PRODUCE_DEFAULTS, ...input };
  if (!(o.recordSize > 0)) throw new Error('--record-size must be positive');
  if (!(o.producers >= 1)) throw new Error('--producers must be at least 1');
  if (!o.noCreate) await ensureTopic(o, io);
  const { Producer } = await import('@raftka/client');
  const acks = o.acks;
  const config = {
    acks,
    'batch.size': o.batchSize,
    'linger.ms': o.lingerMs,
    'buffer.memory': o.bufferMemory,
    'compression.type': o.compression,
    ...parseProperties(o.producerProperty),
  };
  const producers: Producer[] = [];
  for (let i = 0; i < o.producers; i++) {
    producers.push(
      new Producer({ bootstrap: list(o.bootstrap), config, maxInFlightPerPartition: o.inFlightPerPartition }),
    );
  }
  try {
    await Promise.all(producers.map((p) => p.connect()));
    const payload = Buffer.alloc(o.recordSize);
    for (let i = 0; i < payload.length; i++) payload[i] = (Math.random() * 256) | 0;

    const total = histogram();
    const window = histogram();
    const state = { sent: 0, acked: 0, errors: 0, firstError: null as string | null, stop: false };
    let windowAcked = 0;
    const brokerCpu = brokerCpuMeter(list(o.bootstrap));
    const startMs = performance.now();
    const cpuStart = process.cpuUsage();
    let windowStartMs = startMs;
    const endMs = startMs + o.duration * 1000;
    const report = setInterval(() => {
      const now = performance.now();
      const sec = (now - windowStartMs) / 1000;
      io.out(
        `${windowAcked} records sent, ${(windowAcked / sec).toFixed(1)} records/sec (${((windowAcked * o.recordSize) / sec / 1e6).toFixed(2)} MB/sec), ${latencyLine(window)}.`,
      );
      window.reset();
      windowAcked = 0;
      windowStartMs = now;
    }, o.reportingIntervalMs);
    report.unref();

    // Outstanding records per producer: what buffer.memory holds, as a blocking send would allow.
    const perRecordBytes = o.recordSize + 80;
    const maxOutstanding = Math.max(1, Math.floor(o.bufferMemory / perRecordBytes));
    const limit = o.numRecords > 0 ? o.numRecords : Number.POSITIVE_INFINITY;
    const record = { topic: o.topic, value: payload };

    const drive = async (p: Producer): Promise<void> => {
      let outstanding = 0;
      let resume: (() => void) | undefined;
      const settle = (): void => {
        outstanding--;
        if (resume !== undefined && outstanding <= maxOutstanding / 2) {
          const r = resume;
          resume = undefined;
          r();
        }
      };
      while (!state.stop) {
        let burst = 0;
        while (outstanding < maxOutstanding && burst < 256) {
          const now = performance.now();
          if (now >= endMs || state.sent >= limit) {
            state.stop = true;
            break;
          }
          if (o.throughput > 0 && state.sent >= ((now - startMs) / 1000) * o.throughput) break;
          state.sent++;
          outstanding++;
          burst++;
          p.produce(record, (err) => {
            if (err === undefined) {
              const us = Math.max(1, Math.round((performance.now() - now) * 1000));
              total.recordValue(us);
              window.recordValue(us);
              state.acked++;
              windowAcked++;
            } else {
              state.errors++;
              state.firstError ??= isRaftkaError(err) ? `${err.errorName}: ${err.message}` : String(err);
            }
            settle();
          });
        }
        if (state.stop) break;
        if (outstanding >= maxOutstanding) await new Promise<void>((r) => (resume = r));
        else if (o.throughput > 0 && burst === 0) await new Promise((r) => setTimeout(r, 2));
        else await yieldToLoop();
      }
      await p.flush();
    };
    await Promise.all(producers.map((p) => drive(p)));
    clearInterval(report);
    const elapsedSec = (performance.now() - startMs) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    const us = (v: number) => round(v / 1000);
    const result: PerfProduceResult = {
      topic: o.topic,
      acks: String(acks),
      recordSize: o.recordSize,
      producers: o.producers,
      batchSize: Number(config['batch.size']),
      lingerMs: Number(config['linger.ms']),
      records: state.acked,
      errors: state.errors,
      firstError: state.firstError,
      elapsedSec: round(elapsedSec),
      recordsPerSec: round(state.acked / elapsedSec, 1),
      mbPerSec: round((state.acked * o.recordSize) / elapsedSec / 1e6),
      avgMs: us(total.mean),
      p50Ms: us(total.getValueAtPercentile(50)),
      p95Ms: us(total.getValueAtPercentile(95)),
      p99Ms: us(total.getValueAtPercentile(99)),
      p999Ms: us(total.getValueAtPercentile(99.9)),
      maxMs: us(total.maxValue),
      clientCpuPercent: round(((cpu.user + cpu.system) / 1000 / (elapsedSec * 1000)) * 100, 1),
      brokerCpuPercent: brokerCpu(),
    };
    io.out(
      `${result.records} records sent, ${result.recordsPerSec} records/sec (${result.mbPerSec} MB/sec), ` +
        `${result.avgMs} ms avg latency, ${result.maxMs} ms max latency, ${result.p50Ms} ms 50th, ` +
        `${result.p95Ms} ms 95th, ${result.p99Ms} ms 99th, ${result.p999Ms} ms 99.9th.`,
    );
    if (state.errors > 0) io.out(`${state.errors} records failed; first: ${state.firstError}`);
    const cpuLine = Object.entries(result.brokerCpuPercent).map(([e, pct]) => `${e} ${pct}%`);
    io.out(`CPU: client ${result.clientCpuPercent}%${cpuLine.length > 0 ? `, brokers ${cpuLine.join(', ')}` : ''}`);
    return result;
  } finally {
    await Promise.all(producers.map((p) => p.close().catch(() => {})));
  }
}

// --- CPU of the brokers under test ---------------------------------------------------

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS_PER_SEC = 100;

/**
 * The local processes serving `endpoints` (a Raftka node whose command line
 * names the endpoint, as `raftka local` starts them), by endpoint. Empty where
 * /proc is not there or the brokers run elsewhere.
 */
export function findLocalBrokerPids(endpoints: readonly string[]): Map<string, number> {
  const found = new Map<string, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return found;
  }
  for (const pid of pids) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (!cmdline.includes(' broker ')) continue;
    for (const endpoint of endpoints) {
      if (cmdline.includes(`//${endpoint} `) || cmdline.includes(`//${endpoint},`)) found.set(endpoint, Number(pid));
    }
  }
  return found;
}

/** User + system CPU seconds of a process so far, or NaN. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC;
  } catch {
    return Number.NaN;
  }
}

/** Starts measuring; the returned function gives % of one core per endpoint since then. */
export function brokerCpuMeter(endpoints: readonly string[]): () => Record<string, number> {
  const pids = findLocalBrokerPids(endpoints);
  const start = new Map([...pids].map(([e, pid]) => [e, cpuSeconds(pid)]));
  const startMs = performance.now();
  return () => {
    const sec = (performance.now() - startMs) / 1000;
    const out: Record<string, number> = {};
    for (const [endpoint, pid] of pids) {
      const used = cpuSeconds(pid) - (start.get(endpoint) ?? Number.NaN);
      if (Number.isFinite(used)) out[endpoint] = round((used / sec) * 100, 1);
    }
    return out;
  };
}

// --- perf consume ---------------------------------------------------------------------

export interface PerfConsumeOptions {
  bootstrap: string;
  topic: string;
  /** Stop after this many records (0: until --duration or --timeout-ms of silence). */
  messages: number;
  /** Seconds; 0: no limit. */
  duration: number;
  /** Stop after this long without a record. */
  timeoutMs: number;
  fetchMaxBytes: number;
  maxPartitionFetchBytes: number;
  fetchMaxWaitMs: number;
  /** Start at the end instead of the beginning (then it measures end-to-end latency of live traffic). */
  fromLatest?: boolean;
  consumerProperty: string[];
  reportingIntervalMs: number;
  json?: boolean;
}

export const PERF_CONSUME_DEFAULTS: PerfConsumeOptions = {
  bootstrap: DEFAULT_BROKER_BOOTSTRAP,
  topic: 'perf',
  messages: 0,
  duration: 0,
  timeoutMs: 5000,
  fetchMaxBytes: 52_428_800,
  maxPartitionFetchBytes: 4_194_304,
  fetchMaxWaitMs: 500,
  consumerProperty: [],
  reportingIntervalMs: 5000,
};

export interface PerfConsumeResult {
  topic: string;
  records: number;
  bytes: number;
  elapsedSec: number;
  recordsPerSec: number;
  mbPerSec: number;
  /** Now minus the record's CreateTime, meaningful when consuming live traffic (--from-latest). */
  e2eP50Ms: number;
  e2eP99Ms: number;
  polls: number;
  clientCpuPercent: number;
}

export async function runPerfConsume(input: Partial<PerfConsumeOptions>, io: PerfIo): Promise<PerfConsumeResult> {
  const o: PerfConsumeOptions = { ...PERF_CONSUME_DEFAULTS, ...input };
  const { Consumer, Admin } = await import('@raftka/client');
  const admin = new Admin({ bootstrap: list(o.bootstrap) });
  let partitions: number[];
  try {
    const md = await admin.metadata([o.topic]);
    const t = md.topics.find((x) => x.name === o.topic);
    if (t === undefined || t.error !== null) throw new Error(`topic ${o.topic}: ${t?.error ?? 'not found'}`);
    partitions = t.partitions.filter((p) => p !== undefined).map((p) => p.partition);
  } finally {
    await admin.close();
  }
  const consumer: Consumer = new Consumer({
    bootstrap: list(o.bootstrap),
    config: {
      'fetch.max.bytes': o.fetchMaxBytes,
      'max.partition.fetch.bytes': o.maxPartitionFetchBytes,
      'fetch.max.wait.ms': o.fetchMaxWaitMs,
      'max.poll.records': 10_000,
      ...parseProperties(o.consumerProperty),
    },
  });
  try {
    const tps = partitions.map((partition) => ({ topic: o.topic, partition }));
    consumer.assign(tps);
    for (const tp of tps) await consumer.seek(tp, o.fromLatest ? 'latest' : 'earliest');
    const e2e = histogram();
    let records = 0;
    let bytes = 0;
    let polls = 0;
    let windowRecords = 0;
    let windowBytes = 0;
    const startMs = performance.now();
    const cpuStart = process.cpuUsage();
    let windowStartMs = startMs;
    let lastRecordMs = startMs;
    let firstRecordMs: number | undefined;
    const report = setInterval(() => {
      const now = performance.now();
      const sec = (now - windowStartMs) / 1000;
      io.out(
        `${windowRecords} records received, ${(windowRecords / sec).toFixed(1)} records/sec (${(windowBytes / sec / 1e6).toFixed(2)} MB/sec)`,
      );
      windowRecords = 0;
      windowBytes = 0;
      windowStartMs = now;
    }, o.reportingIntervalMs);
    report.unref();
    const endMs = o.duration > 0 ? startMs + o.duration * 1000 : Number.POSITIVE_INFINITY;
    for (;;) {
      const now = performance.now();
      if (now >= endMs || (o.messages > 0 && records >= o.messages)) break;
      if (now - lastRecordMs >= o.timeoutMs) break;
      const got = await consumer.poll(Math.min(1000, o.timeoutMs));
      polls++;
      if (got.length === 0) continue;
      const wallMs = Date.now();
      lastRecordMs = performance.now();
      firstRecordMs ??= lastRecordMs;
      for (const r of got) {
        const size = r.value?.length ?? 0;
        bytes += size;
        windowBytes += size;
        e2e.recordValue(Math.max(1, (wallMs - r.timestamp) * 1000));
      }
      records += got.length;
      windowRecords += got.length;
    }
    clearInterval(report);
    // Time until the last record: the silence that ended the run is not consumption.
    const elapsedSec = ((records > 0 ? lastRecordMs : performance.now()) - startMs) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    const result: PerfConsumeResult = {
      topic: o.topic,
      records,
      bytes,
      elapsedSec: round(elapsedSec),
      recordsPerSec: round(records / elapsedSec, 1),
      mbPerSec: round(bytes / elapsedSec / 1e6),
      e2eP50Ms: round(e2e.getValueAtPercentile(50) / 1000),
      e2eP99Ms: round(e2e.getValueAtPercentile(99) / 1000),
      polls,
      clientCpuPercent: round(((cpu.user + cpu.system) / 1000 / (elapsedSec * 1000)) * 100, 1),
    };
    io.out(
      `${records} records received in ${result.elapsedSec} s, ${result.recordsPerSec} records/sec (${result.mbPerSec} MB/sec)` +
        (firstRecordMs === undefined ? ' (no records)' : ''),
    );
    return result;
  } finally {
    await consumer.close();
  }
}
