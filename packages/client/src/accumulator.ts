// The producer's record accumulator: records wait here, per partition, in
// batches that the sender drains to the brokers as RecordBatch v2. It does
// what Java's RecordAccumulator and BufferPool do, without IO:
// - a batch is sendable when it is full (batch.size), was followed by another
//   batch, lingered linger.ms, or someone waits for memory or flushes;
// - buffer.memory bounds the bytes of records not yet acknowledged; append
//   waits up to max.block.ms for space, then fails with BufferExhaustedError;
// - with enable.idempotence, a batch gets its baseSequence when it is first
//   drained (so batches that expire unsent leave no gap), sequences increase
//   per partition and wrap at INT32_MAX, a retried batch keeps its sequence and
//   its encoded bytes (the broker answers a duplicate with the original offset),
//   and at most max.in.flight.requests.per.connection batches per partition
//   are in flight so the broker can order them;
// - a batch not acknowledged within delivery.timeout.ms of its creation fails
//   its records with DeliveryTimeoutError.
// Time comes in as `nowMs` (and a Clock/Timer for the one wait), so the whole
// life of a batch is testable without real timers. The network side (a
// sender that turns drained batches into Produce requests on a Transport)
// arrives with the broker's data path; see transport.ts and docs/client.md.
import { type CompressionCodec, encodeBatch, type RecordHeader, sizeOfVarint, sizeOfVarlong } from '@raftka/codec';
import { assert, type Clock, isRaftkaError, RaftkaError } from '@raftka/common';
import type { ProducerSettings } from './config.js';

const INT32_MAX = 0x7fffffff;
/** A RecordBatch v2 header: everything before the first record. */
export const RECORD_BATCH_OVERHEAD_BYTES = 61;
/** Largest varint (offsetDelta) and varlong (timestampDelta) sizes, for the upper bound of a record. */
const MAX_VARINT_BYTES = 5;
const MAX_VARLONG_BYTES = 10;

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** One record as the producer hands it over: bytes already serialized. */
export interface ProducerRecordData {
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: readonly RecordHeader[];
  /** CreateTime, milliseconds since the epoch. */
  timestamp: number;
}

/** What a record's delivery resolves to once the partition leader acknowledged it. */
export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  /** The batch's base offset + the record's index in it; -1 with acks=0. */
  readonly offset: number;
  /** The broker's LogAppendTime when the topic uses it, else the record's CreateTime. */
  readonly timestamp: number;
}

/** The producer id and epoch from InitProducerId, which an idempotent producer stamps on every batch. */
export interface ProducerIdentity {
  readonly producerId: number;
  readonly producerEpoch: number;
}

/** Timers for the one thing that waits: an append blocked on buffer.memory. */
export interface Timer {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd so a blocked append does not keep the process alive on its own. */
export const systemTimer: Timer = {
  setTimeout(callback, delayMs) {
    const handle = setTimeout(callback, delayMs);
    handle.unref?.();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

export const systemClock: Clock = { nowMs: () => Date.now() };

/** append could not get buffer.memory within max.block.ms (Java's BufferExhaustedException). */
export class BufferExhaustedError extends RaftkaError {
  constructor(message: string) {
    super('REQUEST_TIMED_OUT', message);
    this.name = 'BufferExhaustedError';
  }
}

/** A batch was not acknowledged within delivery.timeout.ms of its creation. */
export class DeliveryTimeoutError extends RaftkaError {
  constructor(message: string) {
    super('REQUEST_TIMED_OUT', message);
    this.name = 'DeliveryTimeoutError';
  }
}

export interface AppendResult {
  /** Settles when the record is acknowledged (or fails for good). */
  readonly delivery: Promise<RecordMetadata>;
  /** The record opened a new batch. */
  readonly newBatchCreated: boolean;
  /** The record's batch is full: the sender may want to wake up. */
  readonly batchIsFull: boolean;
}

/** How one record learns its outcome: `error` undefined and `metadata` set on success. */
export type DeliveryCallback = (error: unknown, metadata?: RecordMetadata) => void;

/** What tryAppend returns: `delivery` only when no callback was given. */
export interface AppendOutcome {
  readonly delivery: Promise<RecordMetadata> | undefined;
  readonly newBatchCreated: boolean;
  readonly batchIsFull: boolean;
}

/** A batch of one partition, from its first record to its acknowledgement. */
export class ProducerBatch {
  readonly topic: string;
  readonly partition: number;
  readonly createdMs: number;
  readonly records: ProducerRecordData[] = [];
  /** Exact uncompressed size of the encoded batch so far, header included. */
  sizeBytes = RECORD_BATCH_OVERHEAD_BYTES;
  /** Memory reserved in buffer.memory for this batch's records. */
  reservedBytes = 0;
  /** No more records go in: full, followed by another batch, or drained. */
  closed = false;
  /** -1 until first drained by an idempotent producer. */
  baseSequence = -1;
  producerId = -1;
  producerEpoch = -1;
  /** Set when first drained; a retry sends the same bytes. */
  encoded: Buffer | undefined;
  /** How many times it was drained. */
  attempts = 0;
  retryAtMs = 0;
  /** Refused as out of order once with nothing earlier outstanding (the sender retries that once). */
  outOfOrderRetried = false;
  /** The error of the last failed attempt, named when the batch expires. */
  lastErrorMessage: string | undefined;
  inFlight = false;
  /** Order of first drain within the partition; retries go back in this order. */
  drainOrder = -1;
  readonly deliveries: DeliveryCallback[] = [];
  /** Settled once every record is acknowledged or failed; made on demand (flush). */
  #done: { promise: Promise<void>; resolve: () => void } | undefined;
  #isDone = false;

  constructor(tp: TopicPartition, createdMs: number) {
    this.topic = tp.topic;
    this.partition = tp.partition;
    this.createdMs = createdMs;
  }

  get recordCount(): number {
    return this.records.length;
  }

  /** Resolves once the batch's records are acknowledged or failed (never rejects). */
  whenDone(): Promise<void> {
    if (this.#isDone) return Promise.resolve();
    if (this.#done === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#done = { promise, resolve };
    }
    return this.#done.promise;
  }

  /** @internal The accumulator settled every delivery. */
  markDone(): void {
    this.#isDone = true;
    this.#done?.resolve();
  }

  /** Sequence of the last record (wrapping at INT32_MAX), -1 without idempotence. */
  get lastSequence(): number {
    return this.baseSequence < 0 ? -1 : incrementSequence(this.baseSequence, this.records.length - 1);
  }
}

/** What the sender gets from `ready`: one encoded batch for one partition. */
export interface DrainedBatch {
  readonly topic: string;
  readonly partition: number;
  /** RecordBatch v2 bytes, ready for a Produce request (baseOffset 0, leader epoch -1). */
  readonly encoded: Buffer;
  readonly recordCount: number;
  readonly baseSequence: number;
  readonly producerId: number;
  readonly producerEpoch: number;
  /** 1 on the first send, 2 on the first retry... */
  readonly attempt: number;
  /** The handle to pass back to complete() or fail(). */
  readonly batch: ProducerBatch;
}

/** Kafka's DefaultRecordBatch.incrementSequence: sequences wrap from INT32_MAX to 0. */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence > INT32_MAX - increment) return increment - (INT32_MAX - sequence) - 1;
  return sequence + increment;
}

function headersBytes(headers: readonly RecordHeader[] | undefined): number {
  let bytes = sizeOfVarint(headers?.length ?? 0);
  for (const h of headers ?? []) {
    const keyBytes = Buffer.byteLength(h.key, 'utf8');
    bytes += sizeOfVarint(keyBytes) + keyBytes;
    bytes += h.value == null ? 1 : sizeOfVarint(h.value.length) + h.value.length;
  }
  return bytes;
}

function payloadBytes(record: ProducerRecordData): number {
  const key = record.key == null ? 1 : sizeOfVarint(record.key.length) + record.key.length;
  const value = record.value == null ? 1 : sizeOfVarint(record.value.length) + record.value.length;
  return key + value + headersBytes(record.headers);
}

/** A record's encoded size at `offsetDelta` in a batch whose base timestamp is `baseTimestamp`. */
export function recordSizeBytes(record: ProducerRecordData, offsetDelta: number, baseTimestamp: number): number {
  const body = 1 + sizeOfVarlong(record.timestamp - baseTimestamp) + sizeOfVarint(offsetDelta) + payloadBytes(record);
  return sizeOfVarint(body) + body;
}

/** A record's size wherever it lands in a batch (Java's estimateSizeInBytesUpperBound). */
export function recordSizeUpperBoundBytes(record: ProducerRecordData): number {
  const body = 1 + MAX_VARLONG_BYTES + MAX_VARINT_BYTES + payloadBytes(record);
  return sizeOfVarint(body) + body;
}

export interface RecordAccumulatorOptions {
  /** Read only when an append had to wait for memory; everything else takes nowMs. */
  clock?: Clock;
  timer?: Timer;
  /** Required before an idempotent producer's batches drain (from InitProducerId). */
  producerIdentity?: ProducerIdentity;
  /** A batch of (topic, partition) was closed: the sticky partitioner moves on. */
  onBatchClosed?: (topic: string, partition: number) => void;
  /** A batch that had a sequence failed for good: the producer needs a new id or epoch (see resetProducerIdentity). */
  onSequenceGap?: (batch: ProducerBatch) => void;
}

type AccumulatorSettings = Pick<
  ProducerSettings,
  | 'enableIdempotence'
  | 'compression'
  | 'lingerMs'
  | 'batchSizeBytes'
  | 'bufferMemoryBytes'
  | 'maxBlockMs'
  | 'maxRequestSizeBytes'
  | 'maxInFlightRequestsPerConnection'
  | 'deliveryTimeoutMs'
  | 'retries'
  | 'retryBackoffMs'
>;

interface PartitionState {
  readonly tp: TopicPartition;
  /** Oldest first; only the last batch may be open. Retries are put back in drain order. */
  readonly batches: ProducerBatch[];
  /** Drained and not yet completed or failed. */
  readonly inFlight: Set<ProducerBatch>;
  nextSequence: number;
  drains: number;
  /** A batch of the current producer id was acknowledged: the broker now holds state for it. */
  acknowledged: boolean;
}

interface MemoryWaiter {
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  handle: unknown;
}

export class RecordAccumulator {
  readonly #settings: AccumulatorSettings;
  readonly #compression: CompressionCodec;
  readonly #clock: Clock;
  readonly #timer: Timer;
  readonly #onBatchClosed: ((topic: string, partition: number) => void) | undefined;
  readonly #onSequenceGap: ((batch: ProducerBatch) => void) | undefined;
  #identity: ProducerIdentity | undefined;
  readonly #partitions = new Map<string, PartitionState>();
  #usedBytes = 0;
  readonly #waiters: MemoryWaiter[] = [];
  /** Batches created before a flush() that has not yet been drained: all sendable now. */
  #flushing = false;

  constructor(settings: AccumulatorSettings, options: RecordAccumulatorOptions = {}) {
    this.#settings = settings;
    this.#compression = settings.compression;
    this.#clock = options.clock ?? systemClock;
    this.#timer = options.timer ?? systemTimer;
    this.#onBatchClosed = options.onBatchClosed;
    this.#onSequenceGap = options.onSequenceGap;
    this.#identity = options.producerIdentity;
  }

  /** Bytes of buffer.memory held by records not yet acknowledged or failed. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Appends blocked on buffer.memory. */
  get waitingAppends(): number {
    return this.#waiters.length;
  }

  /** Batches queued or in flight. */
  get batchCount(): number {
    let n = 0;
    for (const p of this.#partitions.values()) n += p.batches.length + p.inFlight.size;
    return n;
  }

  /**
   * Whether a batch of the partition was acknowledged under the current
   * producer id. Until then a broker has no state for the producer there and,
   * like Kafka's, takes any first sequence: a second batch that overtook the
   * first would be written ahead of it. Senders keep one batch in flight until then.
   */
  hasAcknowledged(tp: TopicPartition): boolean {
    return this.#partitions.get(keyOf(tp))?.acknowledged ?? false;
  }

  /** Batches waiting to be drained (not in flight). */
  get queuedBatchCount(): number {
    let n = 0;
    for (const p of this.#partitions.values()) n += p.batches.length;
    return n;
  }

  inFlightCount(tp: TopicPartition): number {
    return this.#partitions.get(keyOf(tp))?.inFlight.size ?? 0;
  }

  /**
   * A new producer id or epoch (InitProducerId, or an epoch bump after a
   * sequence gap): sequences start again from 0 for every partition.
   */
  setProducerIdentity(identity: ProducerIdentity): void {
    this.#identity = identity;
    for (const p of this.#partitions.values()) {
      p.nextSequence = 0;
      p.acknowledged = false;
    }
  }

  /**
   * Adds a record to its partition's open batch, waiting up to max.block.ms
   * for buffer.memory. Rejects with BufferExhaustedError when no space came,
   * and with MESSAGE_TOO_LARGE for a record that can never fit.
   */
  async append(tp: TopicPartition, record: ProducerRecordData, nowMs: number): Promise<AppendResult> {
    const reserve = this.#checkSize(tp, record);
    let appendMs = nowMs;
    if (this.#waiters.length === 0 && this.#usedBytes + reserve <= this.#settings.bufferMemoryBytes) {
      this.#usedBytes += reserve;
    } else {
      await this.#waitForMemory(reserve);
      appendMs = this.#clock.nowMs();
    }
    return this.#appendReserved(tp, record, reserve, appendMs, undefined) as AppendResult;
  }

  /**
   * append() without waiting: undefined when buffer.memory has no room now
   * (then call append()). With a callback, no promise is made for the record:
   * the producer's hot path, one record at a time, no async frames.
   */
  tryAppend(
    tp: TopicPartition,
    record: ProducerRecordData,
    nowMs: number,
    callback?: DeliveryCallback,
  ): AppendOutcome | undefined {
    const reserve = this.#checkSize(tp, record);
    if (this.#waiters.length > 0 || this.#usedBytes + reserve > this.#settings.bufferMemoryBytes) return undefined;
    this.#usedBytes += reserve;
    return this.#appendReserved(tp, record, reserve, nowMs, callback);
  }

  /** The record's reservation; MESSAGE_TOO_LARGE for one that can never fit. */
  #checkSize(tp: TopicPartition, record: ProducerRecordData): number {
    assert(Number.isInteger(tp.partition) && tp.partition >= 0, `invalid partition ${tp.partition}`);
    const reserve = recordSizeUpperBoundBytes(record);
    const batchBytes = RECORD_BATCH_OVERHEAD_BYTES + reserve;
    if (batchBytes > this.#settings.maxRequestSizeBytes) {
      throw new RaftkaError(
        'MESSAGE_TOO_LARGE',
        `The message is ${batchBytes} bytes when serialized which is larger than ${this.#settings.maxRequestSizeBytes}, which is the value of the max.request.size configuration.`,
      );
    }
    if (reserve > this.#settings.bufferMemoryBytes) {
      throw new RaftkaError(
        'MESSAGE_TOO_LARGE',
        `The message is ${reserve} bytes when serialized which is larger than the total memory buffer you have configured with the buffer.memory configuration (${this.#settings.bufferMemoryBytes}).`,
      );
    }
    return reserve;
  }

  #waitForMemory(bytes: number): Promise<void> {
    const maxBlockMs = this.#settings.maxBlockMs;
    return new Promise<void>((resolve, reject) => {
      const waiter: MemoryWaiter = { bytes, resolve, reject, handle: undefined };
      const timeOut = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i < 0) return;
        this.#waiters.splice(i, 1);
        reject(
          new BufferExhaustedError(
            `Failed to allocate ${bytes} bytes within the configured max blocking time ${maxBlockMs} ms. ` +
              `Total memory: ${this.#settings.bufferMemoryBytes} bytes. Available memory: ${this.#settings.bufferMemoryBytes - this.#usedBytes} bytes.`,
          ),
        );
        // The next waiter may be smaller and fit now.
        this.#serveWaiters();
      };
      this.#waiters.push(waiter);
      if (maxBlockMs === 0) timeOut();
      else waiter.handle = this.#timer.setTimeout(timeOut, maxBlockMs);
    });
  }

  #release(bytes: number): void {
    this.#usedBytes -= bytes;
    assert(this.#usedBytes >= 0, `buffer.memory accounting went negative: ${this.#usedBytes}`);
    this.#serveWaiters();
  }

  /** First come, first served: a large waiter at the head holds back smaller ones behind it, as in Java. */
  #serveWaiters(): void {
    while (this.#waiters.length > 0) {
      const head = this.#waiters[0]!;
      if (this.#usedBytes + head.bytes > this.#settings.bufferMemoryBytes) return;
      this.#waiters.shift();
      this.#usedBytes += head.bytes;
      if (head.handle !== undefined) this.#timer.clearTimeout(head.handle);
      head.resolve();
    }
  }

  #partitionState(tp: TopicPartition): PartitionState {
    const key = keyOf(tp);
    let state = this.#partitions.get(key);
    if (state === undefined) {
      state = {
        tp: { topic: tp.topic, partition: tp.partition },
        batches: [],
        inFlight: new Set(),
        nextSequence: 0,
        drains: 0,
        acknowledged: false,
      };
      this.#partitions.set(key, state);
    }
    return state;
  }

  #appendReserved(
    tp: TopicPartition,
    record: ProducerRecordData,
    reserve: number,
    nowMs: number,
    callback: DeliveryCallback | undefined,
  ): AppendOutcome {
    const state = this.#partitionState(tp);
    let batch = state.batches.at(-1);
    let newBatchCreated = false;
    if (batch !== undefined && !batch.closed) {
      const size = recordSizeBytes(record, batch.records.length, batch.records[0]!.timestamp);
      if (batch.sizeBytes + size > this.#settings.batchSizeBytes) {
        this.#close(batch);
        batch = undefined;
      }
    } else {
      batch = undefined;
    }
    if (batch === undefined) {
      batch = new ProducerBatch(state.tp, nowMs);
      state.batches.push(batch);
      newBatchCreated = true;
    }
    const base = batch.records.length === 0 ? record.timestamp : batch.records[0]!.timestamp;
    batch.sizeBytes += recordSizeBytes(record, batch.records.length, base);
    batch.records.push(record);
    batch.reservedBytes += reserve;
    let delivery: Promise<RecordMetadata> | undefined;
    if (callback !== undefined) {
      batch.deliveries.push(callback);
    } else {
      delivery = new Promise<RecordMetadata>((resolve, reject) => {
        batch.deliveries.push((error, metadata) => (error === undefined ? resolve(metadata!) : reject(error)));
      });
      // The caller owns the delivery promise; a caller that ignores it must not crash the process.
      delivery.catch(() => {});
    }
    const batchIsFull = batch.sizeBytes >= this.#settings.batchSizeBytes;
    if (batchIsFull) this.#close(batch);
    return { delivery, newBatchCreated, batchIsFull };
  }

  /**
   * Closes the partition's open batch if `record` would not fit in it, and
   * says so. The producer asks before appending a record the sticky
   * partitioner placed: the close moves the sticky partition, and the record
   * is partitioned again, so it opens its batch on the new partition instead
   * of leaving a one-record batch behind (Java's abortOnNewBatch, KIP-480).
   */
  closeIfRecordDoesNotFit(tp: TopicPartition, record: ProducerRecordData): boolean {
    const batch = this.#partitions.get(keyOf(tp))?.batches.at(-1);
    if (batch === undefined || batch.closed) return false;
    const size = recordSizeBytes(record, batch.records.length, batch.records[0]!.timestamp);
    if (batch.sizeBytes + size <= this.#settings.batchSizeBytes) return false;
    this.#close(batch);
    return true;
  }

  #close(batch: ProducerBatch): void {
    if (batch.closed) return;
    batch.closed = true;
    this.#onBatchClosed?.(batch.topic, batch.partition);
  }

  /** Makes every batch queued now sendable at the next ready() (Kafka's flush()). */
  flush(): void {
    this.#flushing = true;
  }

  /**
   * Expires what waited too long, then drains at most one sendable batch per
   * partition: the oldest, if it is full or closed, lingered linger.ms, is
   * due for retry, or memory or a flush is waiting. Idempotent producers get
   * sequences here and keep at most max.in.flight.requests.per.connection
   * batches per partition in flight.
   */
  ready(nowMs: number, canDrain?: (topic: string, partition: number) => boolean): DrainedBatch[] {
    this.expire(nowMs);
    const idempotent = this.#settings.enableIdempotence;
    if (idempotent && this.#identity === undefined) return [];
    const urgent = this.#flushing || this.#waiters.length > 0;
    const drained: DrainedBatch[] = [];
    let pending = false;
    for (const state of this.#partitions.values()) {
      const head = state.batches[0];
      if (head === undefined) continue;
      if (this.#inFlightFull(state, head)) {
        pending = true;
        continue;
      }
      if (head.retryAtMs > nowMs || (idempotent && head.attempts > 0 && this.#earlierInFlight(state, head))) {
        pending = true;
        continue;
      }
      const sendable = head.attempts > 0 || head.closed || urgent || nowMs - head.createdMs >= this.#settings.lingerMs;
      // The sender's say: no known leader, or the leader's connection has all its requests in flight.
      if (!sendable || (canDrain !== undefined && !canDrain(state.tp.topic, state.tp.partition))) {
        pending = true;
        continue;
      }
      state.batches.shift();
      this.#close(head);
      drained.push(this.#drain(state, head));
      if (state.batches.length > 0) pending = true;
    }
    if (!pending) this.#flushing = false;
    return drained;
  }

  #drain(state: PartitionState, batch: ProducerBatch): DrainedBatch {
    if (batch.encoded === undefined) {
      if (this.#settings.enableIdempotence) {
        const identity = this.#identity!;
        batch.producerId = identity.producerId;
        batch.producerEpoch = identity.producerEpoch;
        batch.baseSequence = state.nextSequence;
        state.nextSequence = incrementSequence(state.nextSequence, batch.records.length);
      }
      batch.drainOrder = state.drains++;
      batch.encoded = encodeBatch({
        records: batch.records,
        compression: this.#compression,
        baseOffset: 0,
        partitionLeaderEpoch: -1,
        producerId: batch.producerId,
        producerEpoch: batch.producerEpoch,
        baseSequence: batch.baseSequence,
      });
    }
    batch.attempts++;
    batch.inFlight = true;
    state.inFlight.add(batch);
    return {
      topic: batch.topic,
      partition: batch.partition,
      encoded: batch.encoded,
      recordCount: batch.records.length,
      baseSequence: batch.baseSequence,
      producerId: batch.producerId,
      producerEpoch: batch.producerEpoch,
      attempt: batch.attempts,
      batch,
    };
  }

  /** The earliest time a queued batch lingers out or is due for retry, for the sender's wake-up. */
  nextReadyMs(): number | undefined {
    let next: number | undefined;
    for (const state of this.#partitions.values()) {
      const head = state.batches[0];
      if (head === undefined || this.#inFlightFull(state, head)) continue;
      const at = head.attempts > 0 || head.closed ? head.retryAtMs : head.createdMs + this.#settings.lingerMs;
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  /**
   * The partition leader acknowledged the batch at `baseOffset` (-1 with
   * acks=0). Each record resolves with baseOffset + its index.
   */
  complete(batch: ProducerBatch, result: { baseOffset: number; logAppendTimeMs?: number }): void {
    const state = this.#finish(batch);
    state.acknowledged = true;
    const logAppendTimeMs = result.logAppendTimeMs ?? -1;
    batch.records.forEach((record, i) => {
      settle(batch.deliveries[i]!, undefined, {
        topic: state.tp.topic,
        partition: state.tp.partition,
        offset: result.baseOffset < 0 ? -1 : result.baseOffset + i,
        timestamp: logAppendTimeMs >= 0 ? logAppendTimeMs : record.timestamp,
      });
    });
    batch.markDone();
    this.#release(batch.reservedBytes);
  }

  /**
   * The send failed. A retriable error within retries and delivery.timeout.ms
   * puts the batch back in its partition's queue, in drain order ahead of
   * newer batches, after retry.backoff.ms, with the same sequence and bytes.
   * Anything else fails its records with `error`. Returns whether it will retry.
   */
  fail(batch: ProducerBatch, error: unknown, nowMs: number, forceRetriable = false): boolean {
    const state = this.#finish(batch);
    const retriable = forceRetriable || (isRaftkaError(error) && error.retriable);
    const deadlineMs = batch.createdMs + this.#settings.deliveryTimeoutMs;
    if (retriable && batch.attempts <= this.#settings.retries && nowMs < deadlineMs) {
      batch.retryAtMs = nowMs + this.#settings.retryBackoffMs;
      batch.lastErrorMessage = (error as Error).message;
      let i = 0;
      while (i < state.batches.length) {
        const other = state.batches[i]!;
        if (other.drainOrder < 0 || other.drainOrder > batch.drainOrder) break;
        i++;
      }
      state.batches.splice(i, 0, batch);
      return true;
    }
    const failure =
      retriable && nowMs >= deadlineMs ? this.#expiryError(batch, nowMs, (error as Error).message) : error;
    this.#failRecords(batch, failure);
    return false;
  }

  #finish(batch: ProducerBatch): PartitionState {
    assert(batch.inFlight, `batch of ${batch.topic}-${batch.partition} is not in flight`);
    const state = this.#partitions.get(keyOf(batch))!;
    batch.inFlight = false;
    state.inFlight.delete(batch);
    return state;
  }

  /**
   * Whether `head` must wait for answers. Without idempotence: when
   * max.in.flight batches of the partition are in flight. With it, a new
   * batch also counts every batch drained since the oldest unacknowledged
   * one: the broker dedupes retries against only its last 5 batches per
   * producer and partition, so no more than max.in.flight (<= 5) batches may
   * be sent from the oldest unacknowledged one on, or a retry of it that
   * arrives late (answers out of order across a leader change) would fall out
   * of that window and be rejected as out of order.
   */
  #inFlightFull(state: PartitionState, head: ProducerBatch): boolean {
    const max = this.#settings.maxInFlightRequestsPerConnection;
    if (state.inFlight.size >= max) return true;
    if (!this.#settings.enableIdempotence || head.drainOrder >= 0) return false;
    let oldest = state.drains;
    for (const b of state.inFlight) if (b.drainOrder < oldest) oldest = b.drainOrder;
    for (const b of state.batches) {
      if (b.drainOrder < 0) break;
      if (b.drainOrder < oldest) oldest = b.drainOrder;
    }
    return state.drains - oldest >= max;
  }

  /**
   * An idempotent retry goes out only once every batch drained before it has
   * been answered (Java waits for the first in-flight sequence the same way):
   * sent ahead of an earlier batch that is still in flight and may fail too,
   * it would only be rejected as out of order.
   */
  #earlierInFlight(state: PartitionState, batch: ProducerBatch): boolean {
    for (const other of state.inFlight) if (other.drainOrder < batch.drainOrder) return true;
    return false;
  }

  #failRecords(batch: ProducerBatch, error: unknown): void {
    if (batch.baseSequence >= 0) this.#onSequenceGap?.(batch);
    for (const d of batch.deliveries) settle(d, error, undefined);
    batch.markDone();
    this.#release(batch.reservedBytes);
  }

  #expiryError(batch: ProducerBatch, nowMs: number, cause?: string): DeliveryTimeoutError {
    return new DeliveryTimeoutError(
      `Expiring ${batch.records.length} record(s) for ${batch.topic}-${batch.partition}: ${nowMs - batch.createdMs} ms has passed since batch creation` +
        (cause !== undefined ? ` (last error: ${cause})` : ''),
    );
  }

  /**
   * Fails the queued batches older than delivery.timeout.ms. In-flight batches
   * are the sender's to time out (request.timeout.ms), as Java's are. Returns
   * how many batches expired.
   */
  expire(nowMs: number): number {
    let expired = 0;
    for (const state of this.#partitions.values()) {
      const keep: ProducerBatch[] = [];
      for (const batch of state.batches) {
        if (nowMs - batch.createdMs >= this.#settings.deliveryTimeoutMs) {
          this.#close(batch);
          this.#failRecords(batch, this.#expiryError(batch, nowMs, batch.lastErrorMessage));
          expired++;
        } else {
          keep.push(batch);
        }
      }
      if (keep.length !== state.batches.length) state.batches.splice(0, state.batches.length, ...keep);
    }
    return expired;
  }

  /**
   * Whether a batch drained before `batch` (same partition) is still
   * unacknowledged: then OUT_OF_ORDER_SEQUENCE_NUMBER for `batch` only means
   * the earlier one has not landed yet, and `batch` is retried after it (Java's rule).
   */
  hasEarlierUnacknowledged(batch: ProducerBatch): boolean {
    const state = this.#partitions.get(keyOf(batch));
    if (state === undefined) return false;
    for (const b of state.inFlight) if (b !== batch && b.drainOrder < batch.drainOrder) return true;
    for (const b of state.batches) if (b.drainOrder >= 0 && b.drainOrder < batch.drainOrder) return true;
    return false;
  }

  /**
   * After a sequenced batch failed for good, its sequences leave a gap the
   * broker would refuse forever: with a new producer id or epoch, every queued
   * batch is sequenced again from 0 (and re-encoded) when next drained. Call
   * only with nothing in flight.
   */
  resetProducerIdentity(identity: ProducerIdentity): void {
    for (const p of this.#partitions.values()) {
      assert(p.inFlight.size === 0, 'producer identity reset with batches in flight');
      const keep: ProducerBatch[] = [];
      for (const b of p.batches) {
        if (b.attempts > 0) {
          // Sent before under the old id and waiting for a retry: it may be in
          // the log already. The broker dedupes per producer id, so sending it
          // again under the new one could store it twice. Its outcome is
          // unknown, and the caller is told so (Java fails such batches too).
          this.#close(b);
          for (const d of b.deliveries) {
            settle(
              d,
              new RaftkaError(
                'REQUEST_TIMED_OUT',
                `a batch of ${b.topic}-${b.partition} sent under producer id ${this.#identity?.producerId} may or may not be written: the producer took a new id before it was acknowledged${b.lastErrorMessage ? ` (last error: ${b.lastErrorMessage})` : ''}`,
              ),
              undefined,
            );
          }
          b.markDone();
          this.#release(b.reservedBytes);
          continue;
        }
        b.encoded = undefined;
        b.baseSequence = -1;
        b.drainOrder = -1;
        keep.push(b);
      }
      p.batches.splice(0, p.batches.length, ...keep);
    }
    this.setProducerIdentity(identity);
  }

  /** Every batch queued or in flight now, for flush() to wait on. */
  incompleteBatches(): ProducerBatch[] {
    const out: ProducerBatch[] = [];
    for (const p of this.#partitions.values()) out.push(...p.inFlight, ...p.batches);
    return out;
  }

  /** Fails every queued (not in-flight) batch with `error`: a producer closing without flushing. */
  abortQueued(error: unknown): void {
    for (const state of this.#partitions.values()) {
      for (const batch of state.batches.splice(0)) {
        this.#close(batch);
        this.#failRecords(batch, error);
      }
    }
  }
}

/** A user's callback that throws must not keep the other records of its batch from settling. */
function settle(callback: DeliveryCallback, error: unknown, metadata: RecordMetadata | undefined): void {
  try {
    callback(error, metadata);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

function keyOf(tp: TopicPartition): string {
  return `${tp.topic}\u0000${tp.partition}`;
}
