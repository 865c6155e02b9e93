// The produce purgatory of one partition: acks=all requests that are in the
// leader's log and wait for the high watermark to pass them (Kafka's
// DelayedProduce). An entry completes with NONE when the HW reaches its
// required offset and the maximal ISR still has min.insync.replicas members,
// with NOT_ENOUGH_REPLICAS_AFTER_APPEND when it has fewer, with
// REQUEST_TIMED_OUT at its deadline, and with NOT_LEADER_OR_FOLLOWER when the
// leader loses the partition. The queue is bounded: a request that finds it
// full is answered REQUEST_TIMED_OUT at once (its data is in the log, exactly
// as after a timeout, and the producer retries).
import { assert, type ErrorName } from '@raftka/common';

export interface DelayedProduce {
  /** The caller's handle for the waiting request. */
  readonly id: number;
  /** Last offset of the batch + 1: the HW must reach it. */
  readonly requiredOffset: number;
  readonly deadlineMs: number;
}

export interface ProduceCompletion {
  readonly id: number;
  readonly error: ErrorName;
}

export class ProducePurgatory {
  // Sorted by requiredOffset. New appends come in offset order, but an
  // idempotent producer's retry of a batch that is still waiting parks with
  // the original (older) offset, so entries are inserted in place.
  private entries: DelayedProduce[] = [];

  constructor(private readonly maxEntries: number) {
    assert(maxEntries > 0, 'purgatory needs room for one entry');
  }

  get size(): number {
    return this.entries.length;
  }

  /** Park an entry; returns a completion if it cannot be parked (full). */
  add(entry: DelayedProduce): ProduceCompletion | undefined {
    if (this.entries.length >= this.maxEntries) return { id: entry.id, error: 'REQUEST_TIMED_OUT' };
    let at = this.entries.length;
    while (at > 0 && this.entries[at - 1]!.requiredOffset > entry.requiredOffset) at -= 1;
    this.entries.splice(at, 0, entry);
    return undefined;
  }

  /** Complete every entry the HW has passed (Kafka's checkEnoughReplicasReachOffset). */
  tryComplete(highWatermark: number, enoughReplicas: boolean): ProduceCompletion[] {
    let n = 0;
    while (n < this.entries.length && this.entries[n]!.requiredOffset <= highWatermark) n += 1;
    if (n === 0) return [];
    const done = this.entries.splice(0, n);
    const error: ErrorName = enoughReplicas ? 'NONE' : 'NOT_ENOUGH_REPLICAS_AFTER_APPEND';
    return done.map((e) => ({ id: e.id, error }));
  }

  expire(nowMs: number): ProduceCompletion[] {
    const expired = this.entries.filter((e) => e.deadlineMs <= nowMs);
    if (expired.length === 0) return [];
    this.entries = this.entries.filter((e) => e.deadlineMs > nowMs);
    return expired.map((e) => ({ id: e.id, error: 'REQUEST_TIMED_OUT' }));
  }

  failAll(error: ErrorName): ProduceCompletion[] {
    const all = this.entries;
    this.entries = [];
    return all.map((e) => ({ id: e.id, error }));
  }
}
