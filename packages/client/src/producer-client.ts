// The producer users call: ProducerCore (partitioner + accumulator) in front,
// and behind it the sender, which does what Java's Sender does:
// - drains the accumulator's sendable batches of partitions whose leader is
//   known and whose leader's connection has fewer than
//   max.in.flight.requests.per.connection requests in flight,
// - groups them by leader into one ProduceRequest per broker,
// - completes each batch from its partition's answer, or gives it back to
//   the accumulator with the error (which retries retriable ones after
//   retry.backoff.ms, within delivery.timeout.ms, with the same sequence),
// - asks for fresh metadata on the errors that say leaders moved.
// With acks=0 the batches complete with offset -1 as soon as the request is
// handed to the transport; the (empty) answer only frees the in-flight slot,
// which keeps a fire-and-forget producer from queueing without bound.
//
// The sender runs on events (a full batch, a lingered batch's timer, an
// answer, a metadata refresh), never on a busy loop; while batches are held
// back a 10 ms tick keeps expiry and retries moving.
import { type ErrorName, errorNameOf, isRaftkaError, RaftkaError } from '@raftka/common';
import { ACKS_NONE, BrokerDataClient, type ProduceResponseWire } from '@raftka/transport';
import type { DeliveryCallback, DrainedBatch, RecordMetadata } from './accumulator.js';
import type { ProducerConfig, ProducerSettings } from './config.js';
import { METADATA_REFRESH_ERRORS, MetadataCache, type PartitionInfo } from './metadata-cache.js';
import { ProducerCore, type ProducerRecord, type TopicLayout } from './producer.js';

export interface ProducerOptions {
  /** Broker client endpoints, host:port (any one will do); or config bootstrap.servers. */
  bootstrap?: readonly string[] | string;
  /** Kafka's producer keys (see config.ts). */
  config?: ProducerConfig;
  /** Carried on every request; '' (default) is accepted by any cluster. */
  clusterId?: string;
  /**
   * Batches of one partition in flight at once (not a Kafka key). Default:
   * max.in.flight.requests.per.connection, as Kafka's producer pipelines.
   * Requests go to each broker over one ordered ProduceStream (gRPC would
   * let a later unary call overtake an earlier one), so they are appended in
   * the order sent; a partition's first batch still goes alone until it is
   * acknowledged (a broker without state for the producer takes any first
   * sequence). 1 disables pipelining.
   */
  maxInFlightPerPartition?: number;
}

/** A send that failed for good carries Kafka's error name; these mean "already written" instead. */
const ALREADY_WRITTEN: ReadonlySet<ErrorName> = new Set<ErrorName>(['DUPLICATE_SEQUENCE_NUMBER']);
const HELD_BACK_TICK_MS = 10;
/**
 * A produce request unanswered this long while its broker has no live
 * connection (it waits on a connect: a killed container's address answers
 * none) asks for fresh metadata; if that no longer lists the broker (fenced),
 * the metadata cache fails what waits on it, and the batches go to the new
 * leader. Kafka's producer waits for request.timeout.ms. A slow answer over a
 * live connection asks nothing.
 */
const STALLED_REQUEST_MS = 500;

export function parseBootstrap(bootstrap: readonly string[] | string | undefined, fallback: readonly string[]) {
  const list = typeof bootstrap === 'string' ? bootstrap.split(',') : (bootstrap ?? []);
  const out = list.map((s) => s.trim()).filter((s) => s !== '');
  return out.length > 0 ? out : [...fallback];
}

export class Producer {
  readonly settings: ProducerSettings;
  readonly #core: ProducerCore;
  readonly #client: BrokerDataClient;
  readonly #metadata: MetadataCache;
  readonly #layouts = new Map<string, TopicLayout>();
  readonly #inFlightByBroker = new Map<number, number>();
  #connecting: Promise<void> | undefined;
  #connected = false;
  #closed = false;
  #runQueued = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAtMs = Number.POSITIVE_INFINITY;
  /** Produce requests in flight: their count, and for the stall check their broker and age. */
  readonly #outstanding = new Set<{ endpoint: string; sentMs: number }>();
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  #appending = 0;
  /** A sequenced batch failed for good: drain nothing until a new producer id resets sequences. */
  #needsNewIdentity = false;
  #renewingIdentity = false;
  readonly #appendWaiters: (() => void)[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  readonly #maxInFlightPerPartition: number;
  readonly #canDrain = (topic: string, partition: number): boolean => this.#canDrainPartition(topic, partition);

  constructor(options: ProducerOptions = {}) {
    this.#core = new ProducerCore(options.config ?? {}, {
      onSequenceGap: () => {
        this.#needsNewIdentity = true;
      },
    });
    this.settings = this.#core.settings;
    const bootstrap = parseBootstrap(options.bootstrap, this.settings.bootstrapServers);
    this.#maxInFlightPerPartition = Math.max(
      1,
      Math.min(
        options.maxInFlightPerPartition ?? this.settings.maxInFlightRequestsPerConnection,
        this.settings.maxInFlightRequestsPerConnection,
      ),
    );
    this.#client = new BrokerDataClient({ clusterId: options.clusterId ?? '' });
    this.#metadata = new MetadataCache(this.#client, {
      bootstrap,
      requestTimeoutMs: this.settings.requestTimeoutMs,
      retryBackoffMs: this.settings.retryBackoffMs,
      maxAgeMs: this.settings.metadataMaxAgeMs,
    });
    this.#metadata.onUpdate(() => {
      this.#updateLayouts();
      this.#wake();
    });
  }

  /** The accumulator's bytes of buffer.memory in use (records not yet acknowledged). */
  get bufferedBytes(): number {
    return this.#core.accumulator.usedBytes;
  }

  /** Produce requests waiting for an answer, over all brokers. */
  get requestsInFlight(): number {
    return this.#outstanding.size;
  }

  /**
   * Fetches cluster metadata from a bootstrap broker and, with idempotence,
   * a producer id (InitProducerId). send() connects on first use too.
   */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    this.#connecting ??= this.#connect().catch((err: unknown) => {
      this.#connecting = undefined;
      throw err;
    });
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    const deadlineMs = Date.now() + this.settings.maxBlockMs;
    await this.#retrying(deadlineMs, () => this.#metadata.refresh());
    if (this.settings.enableIdempotence) {
      const identity = await this.#retrying(deadlineMs, () => this.#initProducerId());
      this.#core.accumulator.setProducerIdentity(identity);
    }
    this.#connected = true;
  }

  async #initProducerId(): Promise<{ producerId: number; producerEpoch: number }> {
    const brokers = this.#metadata.brokers();
    const endpoint = brokers.length > 0 ? brokers[Math.floor(Math.random() * brokers.length)]!.endpoint : undefined;
    if (endpoint === undefined) throw new RaftkaError('BROKER_NOT_AVAILABLE', 'no broker known for InitProducerId');
    const res = await this.#client.initProducerId(endpoint, Date.now() + this.settings.requestTimeoutMs);
    if (res.error_code !== 0) {
      throw new RaftkaError(errorNameOf(res.error_code), res.error_message || `InitProducerId at ${endpoint} failed`);
    }
    return { producerId: res.producer_id, producerEpoch: res.producer_epoch };
  }

  /** Retries retriable RaftkaErrors with retry.backoff.ms until `deadlineMs`. */
  async #retrying<T>(deadlineMs: number, body: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await body();
      } catch (err) {
        if (this.#closed) throw closedError();
        const retriable = isRaftkaError(err) && (err.retriable || err.errorName === 'BROKER_NOT_AVAILABLE');
        if (!retriable || Date.now() + this.settings.retryBackoffMs >= deadlineMs) throw err;
        await sleep(this.settings.retryBackoffMs);
      }
    }
  }

  /**
   * Appends the record to its partition's batch (waiting up to max.block.ms
   * for metadata and buffer.memory) and resolves once the partition leader
   * acknowledged it as acks asks, with its offset (-1 with acks=0). Rejects
   * with the Kafka error when it cannot be delivered within delivery.timeout.ms.
   */
  send(record: ProducerRecord): Promise<RecordMetadata> {
    try {
      const fast = this.#trySend(record, undefined);
      if (fast !== undefined) return fast.delivery!;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#sendSlow(record);
  }

  /**
   * Java's send(record, callback): the same as send() without a promise per
   * record, for loops that send many. `callback(error)` on failure (any
   * failure, also one before the record was batched), `callback(undefined,
   * metadata)` once acknowledged.
   */
  produce(record: ProducerRecord, callback: DeliveryCallback): void {
    try {
      if (this.#trySend(record, callback) !== undefined) return;
    } catch (err) {
      callback(err);
      return;
    }
    this.#sendSlow(record).then((metadata) => callback(undefined, metadata), callback);
  }

  /** The synchronous path: connected, topic known, memory free, and no earlier send still waiting (order). */
  #trySend(record: ProducerRecord, callback: DeliveryCallback | undefined) {
    if (this.#closed) throw closedError();
    if (typeof record.topic !== 'string' || record.topic === '') {
      throw new RaftkaError('INVALID_TOPIC_EXCEPTION', 'a record needs a topic');
    }
    if (!this.#connected || this.#appending > 0) return undefined;
    const layout = this.#layouts.get(record.topic);
    if (layout === undefined) return undefined;
    const nowMs = Date.now();
    const result = this.#core.trySend(record, layout, nowMs, callback);
    if (result === undefined) return undefined;
    if (result.batchIsFull) this.#wake();
    else if (result.newBatchCreated) this.#armTimer(nowMs + this.settings.lingerMs);
    return result;
  }

  async #sendSlow(record: ProducerRecord): Promise<RecordMetadata> {
    if (this.#closed) throw closedError();
    // Counted until the record is in a batch, so that flush() waits for sends still looking up metadata,
    // and later sends queue behind this one instead of overtaking it.
    this.#appending++;
    let result: Awaited<ReturnType<ProducerCore['send']>>;
    try {
      if (!this.#connected) await this.connect();
      const layout = this.#layouts.get(record.topic) ?? (await this.#waitForTopic(record.topic));
      result = await this.#core.send(record, layout);
    } finally {
      if (--this.#appending === 0) this.#signal(this.#appendWaiters);
    }
    if (result.batchIsFull) this.#wake();
    else if (result.newBatchCreated) this.#armTimer(Date.now() + this.settings.lingerMs);
    return result.delivery;
  }

  #signal(waiters: (() => void)[]): void {
    for (const w of waiters.splice(0)) w();
  }

  /**
   * The topic's partitions from metadata (asking a broker if not cached);
   * rejects with UNKNOWN_TOPIC_OR_PARTITION when the topic does not exist.
   */
  async partitionsFor(topic: string): Promise<PartitionInfo[]> {
    if (!this.#connected) await this.connect();
    this.#metadata.track([topic]);
    if (this.#metadata.topic(topic) === undefined) await this.#metadata.refresh();
    const info = this.#metadata.topic(topic);
    if (info === undefined || info.error !== null) {
      throw new RaftkaError(
        info?.error ?? 'UNKNOWN_TOPIC_OR_PARTITION',
        `topic ${topic}: ${info?.error ?? 'not found'}`,
      );
    }
    return info.partitions.filter((p) => p !== undefined);
  }

  /** Makes every buffered record sendable now and waits until each is acknowledged or failed. */
  async flush(): Promise<void> {
    while (this.#appending > 0) await new Promise<void>((resolve) => this.#appendWaiters.push(resolve));
    const accumulator = this.#core.accumulator;
    const pending = accumulator.incompleteBatches();
    if (pending.length > 0) {
      accumulator.flush();
      this.#wake();
      await Promise.all(pending.map((b) => b.whenDone()));
    }
    // acks=0 batches are done once handed over; their requests are still on the way.
    while (this.#outstanding.size > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Sends what is buffered (flush), then closes the connections. Later sends
   * fail with SHUTTING_DOWN. With `timeoutMs`, records still queued then fail
   * with SHUTTING_DOWN; requests in flight are left to finish or fail.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    try {
      if (this.#connected) {
        const flushed = this.flush();
        if (options.timeoutMs === undefined) await flushed;
        else {
          // Java's close(Duration): what is not acknowledged by then fails with SHUTTING_DOWN.
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([flushed, new Promise((r) => (timer = setTimeout(r, options.timeoutMs)))]);
          clearTimeout(timer);
        }
      }
    } finally {
      this.#closed = true;
      this.#core.accumulator.abortQueued(closedError());
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer);
      this.#metadata.close();
      this.#client.close();
    }
  }

  async #waitForTopic(topic: string): Promise<TopicLayout> {
    this.#metadata.track([topic]);
    const deadlineMs = Date.now() + this.settings.maxBlockMs;
    let lastError: ErrorName | null = null;
    for (;;) {
      const known = this.#layouts.get(topic);
      if (known !== undefined) return known;
      const info = this.#metadata.topic(topic);
      lastError = info?.error ?? null;
      if (info?.error && !isRetriableName(info.error)) {
        throw new RaftkaError(info.error, `topic ${topic}: ${info.error}`);
      }
      if (Date.now() >= deadlineMs) {
        throw new RaftkaError(
          lastError ?? 'UNKNOWN_TOPIC_OR_PARTITION',
          `Topic ${topic} not present in metadata after ${this.settings.maxBlockMs} ms.`,
        );
      }
      try {
        await this.#metadata.refresh();
      } catch {
        // Counted against max.block.ms like any other wait.
      }
      if (!this.#layouts.has(topic)) await sleep(Math.min(this.settings.retryBackoffMs, deadlineMs - Date.now()));
      if (this.#closed) throw closedError();
    }
  }

  #updateLayouts(): void {
    for (const name of this.#metadata.trackedTopics()) {
      const info = this.#metadata.topic(name);
      if (info === undefined || info.error !== null || info.partitions.length === 0) {
        this.#layouts.delete(name);
        continue;
      }
      const available: number[] = [];
      for (const p of info.partitions) if (p !== undefined && p.leader >= 0) available.push(p.partition);
      this.#layouts.set(name, { numPartitions: info.partitions.length, availablePartitions: available });
    }
  }

  // --- The sender ---------------------------------------------------------------------

  #wake(): void {
    if (this.#runQueued || this.#closed) return;
    this.#runQueued = true;
    setImmediate(() => this.#run());
  }

  #armTimer(atMs: number): void {
    if (this.#closed || atMs >= this.#timerAtMs) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAtMs = atMs;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAtMs = Number.POSITIVE_INFINITY;
        this.#run();
      },
      Math.max(0, atMs - Date.now()),
    );
  }

  /**
   * Kafka bumps the epoch after a sequenced batch fails for good (KIP-360);
   * InitProducerId here has no epoch-bump form, so a new producer id does the
   * same job: the broker keeps no expectations for it, and the queued batches
   * are sequenced from 0 again.
   */
  #renewIdentity(): void {
    if (this.#renewingIdentity) return;
    this.#renewingIdentity = true;
    this.#retrying(Date.now() + this.settings.maxBlockMs, () => this.#initProducerId())
      .then(
        (identity) => {
          if (this.#outstanding.size === 0) {
            this.#core.accumulator.resetProducerIdentity(identity);
            this.#needsNewIdentity = false;
          }
        },
        (err: unknown) => debug('InitProducerId for a new producer id failed', err),
      )
      .finally(() => {
        this.#renewingIdentity = false;
        this.#wake();
      });
  }

  #canDrainPartition(topic: string, partition: number): boolean {
    if (this.#needsNewIdentity) return false;
    const leader = this.#metadata.partition(topic, partition)?.leader ?? -1;
    if (leader < 0 || this.#metadata.broker(leader) === undefined) {
      this.#metadata.requestUpdate();
      return false;
    }
    // Up to maxInFlightPerPartition batches in flight (they reach the broker in order on its ProduceStream),
    // but the first one alone until acknowledged: a broker with no state for this producer takes any first sequence.
    const tp = { topic, partition };
    const inFlight = this.#core.accumulator.inFlightCount(tp);
    if (inFlight > 0 && (inFlight >= this.#maxInFlightPerPartition || !this.#core.accumulator.hasAcknowledged(tp))) {
      return false;
    }
    return (this.#inFlightByBroker.get(leader) ?? 0) < this.settings.maxInFlightRequestsPerConnection;
  }

  #run(): void {
    this.#runQueued = false;
    if (this.#closed) return;
    this.#metadata.maybeRefresh();
    if (this.#needsNewIdentity && this.#outstanding.size === 0) this.#renewIdentity();
    const nowMs = Date.now();
    const accumulator = this.#core.accumulator;
    const drained = accumulator.ready(nowMs, this.#canDrain);
    if (drained.length > 0) {
      const byLeader = new Map<number, DrainedBatch[]>();
      for (const d of drained) {
        const leader = this.#metadata.partition(d.topic, d.partition)!.leader;
        let list = byLeader.get(leader);
        if (list === undefined) {
          list = [];
          byLeader.set(leader, list);
        }
        list.push(d);
      }
      for (const [leader, batches] of byLeader) this.#sendProduce(leader, batches);
    }
    if (accumulator.queuedBatchCount > 0) {
      // ready() drains one batch per partition per call: go again at once while that drains anything
      // (a partition may take more in flight); once nothing drains, wait for an answer or the tick.
      if (drained.length > 0) this.#wake();
      else {
        const next = accumulator.nextReadyMs();
        this.#armTimer(next !== undefined && next > nowMs ? next : nowMs + HELD_BACK_TICK_MS);
      }
    }
  }

  #sendProduce(leader: number, batches: DrainedBatch[]): void {
    const broker = this.#metadata.broker(leader)!;
    const topics: { name: string; partitions: { partition: number; records: Buffer }[] }[] = [];
    for (const d of batches) {
      let t = topics.find((x) => x.name === d.topic);
      if (t === undefined) {
        t = { name: d.topic, partitions: [] };
        topics.push(t);
      }
      t.partitions.push({ partition: d.partition, records: d.encoded });
    }
    const acks = this.settings.acks;
    const timeoutMs = this.settings.requestTimeoutMs;
    this.#inFlightByBroker.set(leader, (this.#inFlightByBroker.get(leader) ?? 0) + 1);
    const accumulator = this.#core.accumulator;
    const outstanding = { endpoint: broker.endpoint, sentMs: Date.now() };
    this.#outstanding.add(outstanding);
    this.#armStallCheck();
    const answer = this.#client.produceOrdered(
      broker.endpoint,
      { acks, timeout_ms: timeoutMs, topics },
      Date.now() + timeoutMs,
    );
    const done = (): void => {
      this.#outstanding.delete(outstanding);
      // Closed meanwhile: a batch this answer put back for a retry will never be sent again.
      if (this.#closed) accumulator.abortQueued(closedError());
      this.#inFlightByBroker.set(leader, (this.#inFlightByBroker.get(leader) ?? 1) - 1);
      if (this.#outstanding.size === 0) this.#signal(this.#idleWaiters);
      this.#wake();
    };
    if (acks === ACKS_NONE) {
      // Kafka's producer does not wait for acks=0: the records count as sent.
      for (const d of batches) accumulator.complete(d.batch, { baseOffset: -1 });
      answer.then(done, (err: unknown) => {
        if (isRaftkaError(err) && METADATA_REFRESH_ERRORS.has(err.errorName)) this.#metadata.requestUpdate();
        done();
      });
      return;
    }
    answer.then(
      (res) => {
        this.#onProduceResponse(batches, res);
        done();
      },
      (err: unknown) => {
        const error = isRaftkaError(err) ? err : new RaftkaError('NETWORK_EXCEPTION', String(err), { cause: err });
        debug(`produce request to broker ${leader} failed`, error);
        if (METADATA_REFRESH_ERRORS.has(error.errorName)) this.#metadata.requestUpdate();
        const nowMs = Date.now();
        for (const d of batches) accumulator.fail(d.batch, error, nowMs);
        done();
      },
    );
  }

  #armStallCheck(): void {
    if (this.#stallTimer !== undefined || this.#closed) return;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      if (this.#closed || this.#outstanding.size === 0) return;
      const stalledBefore = Date.now() - STALLED_REQUEST_MS;
      for (const o of this.#outstanding) {
        if (o.sentMs <= stalledBefore && !this.#client.isConnected(o.endpoint)) {
          this.#metadata.requestUpdate();
          break;
        }
      }
      this.#armStallCheck();
    }, STALLED_REQUEST_MS / 2);
    this.#stallTimer.unref?.();
  }

  #onProduceResponse(batches: DrainedBatch[], res: ProduceResponseWire): void {
    const accumulator = this.#core.accumulator;
    const nowMs = Date.now();
    let refresh = false;
    for (const d of batches) {
      const p = res.topics?.find((t) => t.name === d.topic)?.partitions?.find((x) => x.partition === d.partition);
      if (p === undefined) {
        accumulator.fail(
          d.batch,
          new RaftkaError('UNKNOWN_SERVER_ERROR', `the Produce answer has no partition ${d.topic}-${d.partition}`),
          nowMs,
        );
        continue;
      }
      if (p.error_code === 0) {
        accumulator.complete(d.batch, { baseOffset: p.base_offset, logAppendTimeMs: p.log_append_time_ms });
        continue;
      }
      const name = errorNameOf(p.error_code);
      if (ALREADY_WRITTEN.has(name)) {
        accumulator.complete(d.batch, { baseOffset: p.base_offset, logAppendTimeMs: p.log_append_time_ms });
        continue;
      }
      if (METADATA_REFRESH_ERRORS.has(name)) refresh = true;
      debug(`produce ${d.topic}-${d.partition} seq ${d.baseSequence} attempt ${d.attempt}: ${name}`, p.error_message);
      // An earlier batch of the partition has not landed yet (it failed and is retried, or is still in flight):
      // the broker refused this one for the gap, and it goes again after the earlier one (Java's rule).
      // The earlier one may also have landed, and been acknowledged, after this one was judged (its answer
      // overtaken too): one more try then, which the broker judges after it.
      if (name === 'OUT_OF_ORDER_SEQUENCE_NUMBER') {
        const behindEarlier = accumulator.hasEarlierUnacknowledged(d.batch);
        if (behindEarlier || !d.batch.outOfOrderRetried) {
          if (!behindEarlier) d.batch.outOfOrderRetried = true;
          accumulator.fail(d.batch, new RaftkaError(name, p.error_message || name), nowMs, true);
          continue;
        }
      }
      const message =
        p.error_message ||
        `${name} (${p.error_code}) producing to ${d.topic}-${d.partition}` +
          (name === 'UNKNOWN_SERVER_ERROR' ? ` (error code ${p.error_code})` : '');
      accumulator.fail(d.batch, new RaftkaError(name, message), nowMs);
    }
    if (refresh) this.#metadata.requestUpdate();
  }
}

const DEBUG = process.env.RAFTKA_CLIENT_DEBUG === '1';

function debug(what: string, detail?: unknown): void {
  if (DEBUG)
    process.stderr.write(
      `[raftka client] ${what}${detail ? `: ${String((detail as Error)?.message ?? detail)}` : ''}\n`,
    );
}

function isRetriableName(name: ErrorName): boolean {
  return new RaftkaError(name, '').retriable;
}

function closedError(): RaftkaError {
  return new RaftkaError('SHUTTING_DOWN', 'the producer is closed');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
