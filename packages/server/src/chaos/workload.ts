// The chaos workload: Jepsen's queue workload on one topic. Several
// idempotent acks=all producers write unique values (`<process>-<counter>`)
// to every partition in turn; consumers with assigned partitions read
// continuously; every operation goes into the history. At the end a fresh
// consumer drains every partition from the beginning to the high watermark,
// which is what the checker compares acknowledged writes against.
import { type Admin, BufferExhaustedError, Consumer, type ConsumerRecord, Producer } from '@raftka/client';
import { isRaftkaError } from '@raftka/common';
import { waitFor } from '../wait.js';
import type { History, ReadRecord } from './history.js';

export interface WorkloadOptions {
  bootstrap: readonly string[];
  topic: string;
  partitions: number;
  history: History;
  /** Default 3. */
  producers?: number;
  /** Default 3; partition p goes to consumer p % consumers. */
  consumers?: number;
  /** Sends per second per producer (default 50). */
  ratePerProducer?: number;
  /** Sends a producer keeps outstanding (default 16). */
  maxInFlightPerProducer?: number;
  /** Extra producer keys (Kafka's names); acks=all and idempotence are always on. */
  producerConfig?: Record<string, string | number | boolean>;
  log?: (line: string) => void;
}

/** Producer process ids are 1..999 (a replacement producer gets a new one); consumers 1000+; the drain 100000+. */
const CONSUMER_PROCESS_BASE = 1000;
const DRAIN_PROCESS_BASE = 100_000;

// Errors raised before anything reached a broker: the write certainly did not happen.
const DEFINITE_FAILURES = new Set(['INVALID_TOPIC_EXCEPTION', 'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

// After these the producer instance cannot go on (closed, its producer id
// fenced, or its sequence broken: like Kafka's pre-KIP-360 producers, the
// workload then replaces it with a new one, which gets a new producer id).
const FATAL_PRODUCER_ERRORS = new Set([
  'SHUTTING_DOWN',
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
]);

function errorName(err: unknown): string {
  if (isRaftkaError(err)) return `${err.errorName}${err.name && err.name !== 'RaftkaError' ? ` (${err.name})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

const CONNECT_TIMEOUT_MS = 15_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The running workload; stop() ends it and waits for every outstanding op to complete. */
export class Workload {
  readonly #o: Required<Omit<WorkloadOptions, 'producerConfig' | 'log'>> &
    Pick<WorkloadOptions, 'producerConfig' | 'log'>;
  #stopping = false;
  readonly #loops: Promise<void>[] = [];
  #nextProducerProcess = 1;
  #nextConsumerProcess = CONSUMER_PROCESS_BASE;
  /** Sends completed ok / failed / unknown, for progress lines. */
  readonly counts = { ok: 0, fail: 0, info: 0, read: 0 };

  constructor(options: WorkloadOptions) {
    // `?? default` rather than spreading: callers pass explicit undefineds.
    this.#o = {
      ...options,
      producers: options.producers ?? 3,
      consumers: options.consumers ?? 3,
      ratePerProducer: options.ratePerProducer ?? 50,
      maxInFlightPerProducer: options.maxInFlightPerProducer ?? 16,
    };
  }

  start(): void {
    for (let i = 0; i < this.#o.producers; i++) this.#loops.push(this.#producerLoop(i));
    const consumers = Math.min(this.#o.consumers, this.#o.partitions);
    for (let c = 0; c < consumers; c++) {
      const assigned = Array.from({ length: this.#o.partitions }, (_, p) => p).filter((p) => p % consumers === c);
      this.#loops.push(this.#consumerLoop(assigned));
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#loops);
  }

  #producerConfig(): Record<string, string | number | boolean> {
    return {
      'linger.ms': 5,
      'delivery.timeout.ms': 30_000,
      'request.timeout.ms': 5_000,
      'max.block.ms': 10_000,
      'retry.backoff.ms': 100,
      ...this.#o.producerConfig,
      acks: 'all',
      'enable.idempotence': true,
    };
  }

  /**
   * One producer slot: a Producer instance writing round-robin over the
   * partitions at a steady rate. If the instance breaks for good (a fatal
   * error), it is replaced by a new one under a new process id, as Jepsen
   * does with crashed clients.
   */
  async #producerLoop(slot: number): Promise<void> {
    const h = this.#o.history;
    const intervalMs = 1000 / this.#o.ratePerProducer;
    let partition = slot % this.#o.partitions;
    while (!this.#stopping) {
      const process = this.#nextProducerProcess++;
      const producer = new Producer({ bootstrap: this.#o.bootstrap, config: this.#producerConfig() });
      let counter = 0;
      const inFlight = new Set<Promise<void>>();
      let broken = false;
      try {
        // Bounded: a connect that hangs (e.g. InitProducerId to a broker that died) must not stall the run.
        await withTimeout(producer.connect(), CONNECT_TIMEOUT_MS, `producer ${process} connect`);
      } catch (err) {
        this.#o.log?.(`workload: producer ${process} could not connect: ${errorName(err)}`);
        broken = true;
      }
      let nextAtMs = performance.now();
      while (!this.#stopping && !broken) {
        if (inFlight.size >= this.#o.maxInFlightPerProducer) {
          await Promise.race(inFlight);
          continue;
        }
        const value = `${process}-${counter++}`;
        const p = partition;
        partition = (partition + 1) % this.#o.partitions;
        const invoke = h.invoke(process, 'send', { partition: p, value });
        const op = producer
          .send({ topic: this.#o.topic, partition: p, key: null, value })
          .then(
            (md) => {
              this.counts.ok++;
              h.complete(invoke, 'ok', { offset: md.offset });
            },
            (err: unknown) => {
              const name: string = isRaftkaError(err) ? err.errorName : '';
              const definite = err instanceof BufferExhaustedError || DEFINITE_FAILURES.has(name);
              if (definite) this.counts.fail++;
              else this.counts.info++;
              h.complete(invoke, definite ? 'fail' : 'info', { error: errorName(err) });
              // A closed or fenced producer (e.g. its producer id expired) cannot go on.
              if (FATAL_PRODUCER_ERRORS.has(name) && !broken) {
                broken = true;
                this.#o.log?.(`workload: producer ${process} got ${name}; replacing it with a new producer`);
              }
            },
          )
          .finally(() => inFlight.delete(op));
        inFlight.add(op);
        nextAtMs += intervalMs;
        const waitMs = nextAtMs - performance.now();
        if (waitMs > 0) await sleep(waitMs);
        else if (waitMs < -1000) nextAtMs = performance.now(); // fell behind (a stall): do not burst to catch up
      }
      // Outstanding sends complete within delivery.timeout.ms (ok or not).
      await Promise.allSettled(inFlight);
      await producer.close().catch(() => {});
      if (broken && !this.#stopping) await sleep(500);
    }
  }

  /**
   * One consumer slot: assigned partitions, read from the beginning, polled
   * continuously. Only polls that returned records go into the history (an
   * empty poll says nothing the checker can use). On an error the consumer
   * is replaced by a new process that resumes after the last offset read.
   */
  async #consumerLoop(partitions: number[]): Promise<void> {
    const h = this.#o.history;
    const tps = partitions.map((partition) => ({ topic: this.#o.topic, partition }));
    const resumeAt = new Map<number, number>(partitions.map((p) => [p, 0]));
    while (!this.#stopping) {
      const process = this.#nextConsumerProcess++;
      const consumer = new Consumer({
        bootstrap: this.#o.bootstrap,
        config: { 'auto.offset.reset': 'none', 'fetch.max.wait.ms': 250, 'request.timeout.ms': 5_000 },
      });
      try {
        consumer.assign(tps);
        for (const tp of tps) await consumer.seek(tp, { offset: resumeAt.get(tp.partition) ?? 0 });
        while (!this.#stopping) {
          const time = h.now();
          let records: ConsumerRecord[];
          try {
            records = await consumer.poll(500);
          } catch (err) {
            h.add({ process, f: 'poll', type: 'invoke', time });
            h.add({ process, f: 'poll', type: 'info', error: errorName(err) });
            throw err;
          }
          if (records.length === 0) continue;
          const reads: ReadRecord[] = records.map((r) => [r.partition, r.offset, r.value?.toString('utf8') ?? '']);
          h.add({ process, f: 'poll', type: 'invoke', time });
          h.add({ process, f: 'poll', type: 'ok', reads });
          this.counts.read += reads.length;
          for (const [p, offset] of reads) resumeAt.set(p, offset + 1);
        }
      } catch (err) {
        this.#o.log?.(`workload: consumer ${process} failed (${errorName(err)}); a new one resumes`);
        await sleep(250);
      } finally {
        await consumer.close().catch(() => {});
      }
    }
  }
}

/** Creates the chaos topic (RF 3 or fewer brokers, min.insync.replicas 2) and waits until every partition has a leader. */
export async function createChaosTopic(
  admin: Admin,
  topic: string,
  partitions: number,
  replicationFactor: number,
  minInsyncReplicas: number,
): Promise<void> {
  // The name is new to this run, so TOPIC_ALREADY_EXISTS after a timed-out attempt means that attempt worked.
  await waitFor(
    `topic ${topic} created`,
    async () => {
      const [created] = await admin.createTopics([
        {
          name: topic,
          numPartitions: partitions,
          replicationFactor,
          configs: { 'min.insync.replicas': String(minInsyncReplicas) },
        },
      ]);
      const error = created?.error;
      if (!error || error.errorName === 'TOPIC_ALREADY_EXISTS') return true;
      throw new Error(`creating ${topic}: ${error.errorName} ${error.message}`);
    },
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
  await waitFor(
    `leaders for every partition of ${topic}`,
    async () => {
      const md = await admin.metadata([topic]);
      const t = md.topics.find((x) => x.name === topic);
      return t !== undefined && t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0);
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

/** Under-replicated partitions of the topic (ISR smaller than the replica set, or no leader), as the controller sees them. */
export async function underReplicated(admin: Admin, topic: string): Promise<number> {
  const [d] = await admin.describeTopics([topic]);
  if (d === undefined || d.error !== null)
    throw new Error(`describeTopics ${topic}: ${d?.error?.errorName ?? 'missing'}`);
  return d.partitions.filter((p) => p.leader < 0 || p.isr.length < p.replicas.length).length;
}

export async function waitForFullIsr(admin: Admin, topic: string, timeoutMs: number): Promise<void> {
  await waitFor(`URP 0 on ${topic}`, async () => (await underReplicated(admin, topic)) === 0, {
    timeoutMs,
    intervalMs: 250,
  });
}

export interface DrainResult {
  /** High watermark per partition when the drain started. */
  endOffsets: Map<number, number>;
  values: number;
  complete: boolean;
}

/**
 * Reads every partition from the beginning up to the high watermark with a
 * fresh consumer, recording each poll as a `drain` op. Polls in rounds
 * until every partition's position reached its end offset or the timeout
 * passed (then `complete` is false and the checker says so).
 */
export async function finalDrain(
  options: Pick<WorkloadOptions, 'bootstrap' | 'topic' | 'partitions' | 'history' | 'log'>,
  timeoutMs: number,
): Promise<DrainResult> {
  const h = options.history;
  const tps = Array.from({ length: options.partitions }, (_, partition) => ({ topic: options.topic, partition }));
  const deadline = performance.now() + timeoutMs;
  let process = DRAIN_PROCESS_BASE;
  let values = 0;
  const endOffsets = new Map<number, number>();
  const position = new Map<number, number>(tps.map((tp) => [tp.partition, 0]));
  // A drain consumer that fails is replaced, resuming where it stopped (bounded by the deadline).
  while (performance.now() < deadline) {
    const consumer = new Consumer({
      bootstrap: options.bootstrap,
      config: { 'auto.offset.reset': 'none', 'fetch.max.wait.ms': 100, 'request.timeout.ms': 5_000 },
    });
    try {
      consumer.assign(tps);
      if (endOffsets.size === 0) {
        const ends = await consumer.endOffsets(tps);
        for (const tp of tps) endOffsets.set(tp.partition, ends.get(`${tp.topic}-${tp.partition}`) ?? 0);
        options.log?.(`drain: high watermarks ${[...endOffsets.values()].join(', ')}`);
      }
      for (const tp of tps) await consumer.seek(tp, { offset: position.get(tp.partition) ?? 0 });
      while (performance.now() < deadline) {
        const pending = tps.filter((tp) => (position.get(tp.partition) ?? 0) < (endOffsets.get(tp.partition) ?? 0));
        if (pending.length === 0) return { endOffsets, values, complete: true };
        consumer.assign(pending);
        const invoke = h.invoke(process, 'drain');
        const records = await consumer.poll(1000);
        const reads: ReadRecord[] = records.map((r) => [r.partition, r.offset, r.value?.toString('utf8') ?? '']);
        h.complete(invoke, 'ok', { reads });
        values += reads.length;
        for (const [p, offset] of reads) position.set(p, Math.max(position.get(p) ?? 0, offset + 1));
      }
    } catch (err) {
      options.log?.(`drain: consumer ${process} failed (${errorName(err)}); retrying`);
      h.add({ process, f: 'drain', type: 'info', error: errorName(err) });
      process++;
      await sleep(500);
    } finally {
      await consumer.close().catch(() => {});
    }
  }
  return { endOffsets, values, complete: false };
}
