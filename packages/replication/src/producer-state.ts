// Idempotent producer state for one partition, as Kafka's ProducerStateManager
// keeps it: per producer id the current producer epoch and the last five
// batches (first/last sequence, first/last offset). The leader checks each
// produced batch against it before the append, so a retried batch is answered
// with its original offsets instead of being stored twice (invariant 4), and a
// batch out of order or from a fenced producer epoch is refused with Kafka's
// codes. The state is derived from batch headers only, so a broker that becomes
// leader rebuilds it by replaying its log (`replay`), and a checkpoint can carry
// it (`snapshot`/`restore`). Pure: no IO, no clock; times are passed in.
import { assert, type ErrorName } from '@raftka/common';

/** Kafka keeps this many batches per producer for duplicate detection (max.in.flight=5). */
export const PRODUCER_BATCHES_RETAINED = 5;
export const INT32_MAX = 0x7fffffff;
export const NO_PRODUCER_ID = -1;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;

/** The fields of a RecordBatch v2 header that idempotence needs. */
export interface ProducerBatchHeader {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  /** recordCount - 1; also the last sequence's delta. */
  readonly lastOffsetDelta: number;
}

export interface BatchMetadata {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly timestampMs: number;
}

export interface ProducerEntry {
  readonly producerId: number;
  readonly producerEpoch: number;
  /** Oldest first, at most PRODUCER_BATCHES_RETAINED. */
  readonly batches: readonly BatchMetadata[];
  readonly lastTimestampMs: number;
}

export type ProducerCheck =
  | { readonly kind: 'append' }
  | { readonly kind: 'duplicate'; readonly firstOffset: number; readonly lastOffset: number }
  | { readonly kind: 'error'; readonly error: ErrorName; readonly message: string };

export interface ProducerStateSnapshot {
  readonly version: 1;
  readonly producers: readonly ProducerEntry[];
}

/** Kafka's DefaultRecordBatch.incrementSequence: sequences wrap from INT32_MAX to 0. */
export function incrementSequence(sequence: number, increment: number): number {
  assert(sequence >= 0 && sequence <= INT32_MAX && increment >= 0, 'sequence out of range');
  if (sequence > INT32_MAX - increment) return increment - (INT32_MAX - sequence) - 1;
  return sequence + increment;
}

export function lastSequenceOf(header: ProducerBatchHeader): number {
  return incrementSequence(header.baseSequence, header.lastOffsetDelta);
}

export class ProducerStateManager {
  private readonly producers = new Map<number, ProducerEntry>();
  private readonly maxProducerIds: number;

  constructor(options: { maxProducerIds?: number } = {}) {
    this.maxProducerIds = options.maxProducerIds ?? 100_000;
    assert(this.maxProducerIds > 0, 'maxProducerIds must be positive');
  }

  get size(): number {
    return this.producers.size;
  }

  entry(producerId: number): ProducerEntry | undefined {
    return this.producers.get(producerId);
  }

  /**
   * Validate a produced batch before the leader appends it. Non-idempotent
   * batches (producerId -1) always append.
   */
  check(header: ProducerBatchHeader): ProducerCheck {
    if (header.producerId === NO_PRODUCER_ID) return { kind: 'append' };
    if (header.baseSequence < 0) {
      return { kind: 'error', error: 'INVALID_RECORD', message: 'idempotent batch without a base sequence' };
    }
    const firstSeq = header.baseSequence;
    const lastSeq = lastSequenceOf(header);
    const current = this.producers.get(header.producerId);
    if (current === undefined) return { kind: 'append' }; // unknown producer: any sequence (as Java)
    // A retry of one of the retained batches: answer with its original offsets.
    if (header.producerEpoch === current.producerEpoch) {
      const dup = current.batches.find((b) => b.firstSeq === firstSeq && b.lastSeq === lastSeq);
      if (dup !== undefined) return { kind: 'duplicate', firstOffset: dup.firstOffset, lastOffset: dup.lastOffset };
    }
    if (header.producerEpoch < current.producerEpoch) {
      return {
        kind: 'error',
        error: 'INVALID_PRODUCER_EPOCH',
        message: `producer ${header.producerId} epoch ${header.producerEpoch} is older than ${current.producerEpoch}`,
      };
    }
    if (header.producerEpoch > current.producerEpoch) {
      if (firstSeq !== 0 && current.producerEpoch !== NO_PRODUCER_EPOCH) {
        return {
          kind: 'error',
          error: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
          message: `new epoch ${header.producerEpoch} of producer ${header.producerId} must start at sequence 0, got ${firstSeq}`,
        };
      }
      return { kind: 'append' };
    }
    const last = current.batches[current.batches.length - 1];
    if (last === undefined) return { kind: 'append' };
    const expected = incrementSequence(last.lastSeq, 1);
    if (firstSeq !== expected) {
      return {
        kind: 'error',
        error: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
        message: `producer ${header.producerId} expected sequence ${expected}, got ${firstSeq}`,
      };
    }
    return { kind: 'append' };
  }

  /**
   * Record a batch that is now in the log: after a leader's append, on a
   * follower's append, or while replaying the log to rebuild the state.
   */
  replay(header: ProducerBatchHeader, firstOffset: number, timestampMs: number): void {
    if (header.producerId === NO_PRODUCER_ID) return;
    const batch: BatchMetadata = {
      firstSeq: header.baseSequence,
      lastSeq: lastSequenceOf(header),
      firstOffset,
      lastOffset: firstOffset + header.lastOffsetDelta,
      timestampMs,
    };
    const current = this.producers.get(header.producerId);
    const sameEpoch = current !== undefined && current.producerEpoch === header.producerEpoch;
    const batches = sameEpoch ? [...current.batches, batch] : [batch];
    if (batches.length > PRODUCER_BATCHES_RETAINED) batches.splice(0, batches.length - PRODUCER_BATCHES_RETAINED);
    // Delete then set keeps the Map in least-recently-written order for eviction.
    this.producers.delete(header.producerId);
    this.producers.set(header.producerId, {
      producerId: header.producerId,
      producerEpoch: Math.max(header.producerEpoch, current?.producerEpoch ?? NO_PRODUCER_EPOCH),
      batches,
      lastTimestampMs: Math.max(timestampMs, current?.lastTimestampMs ?? timestampMs),
    });
    while (this.producers.size > this.maxProducerIds) {
      const oldest = this.producers.keys().next().value;
      assert(oldest !== undefined, 'non-empty map has a first key');
      this.producers.delete(oldest);
    }
  }

  /**
   * Forget batches at or above `offset` after a log truncation. A producer
   * left with no batch is dropped: it becomes unknown and may continue with
   * any sequence, which is what Java does for a producer whose state expired.
   */
  truncateTo(offset: number): void {
    for (const [id, entry] of [...this.producers]) {
      const batches = entry.batches.filter((b) => b.lastOffset < offset);
      if (batches.length === entry.batches.length) continue;
      if (batches.length === 0) this.producers.delete(id);
      else this.producers.set(id, { ...entry, batches });
    }
  }

  /** Drop producers idle for longer than producer.id.expiration.ms. */
  expire(nowMs: number, expirationMs: number): number {
    let removed = 0;
    for (const [id, entry] of [...this.producers]) {
      if (nowMs - entry.lastTimestampMs > expirationMs) {
        this.producers.delete(id);
        removed += 1;
      }
    }
    return removed;
  }

  snapshot(): ProducerStateSnapshot {
    return { version: 1, producers: [...this.producers.values()].map((e) => ({ ...e, batches: [...e.batches] })) };
  }

  static restore(snapshot: ProducerStateSnapshot, options: { maxProducerIds?: number } = {}): ProducerStateManager {
    assert(snapshot.version === 1, () => `unknown producer state snapshot version ${snapshot.version}`);
    const manager = new ProducerStateManager(options);
    for (const e of snapshot.producers) manager.producers.set(e.producerId, { ...e, batches: [...e.batches] });
    return manager;
  }
}
