// One replica of one partition as the simulated broker keeps it: a list of
// batches with dense offsets, each stamped with the leader epoch it was
// written in, and a *flushed* prefix. Appends go to the page cache at once
// (what the process reads back); a flush makes everything so far durable. A
// process kill keeps the page cache (the OS still has it, as after SIGKILL);
// a power loss keeps only the flushed prefix, in whole batches. The leader
// epoch cache is derived from the batches, so it can never disagree with the
// log after a crash (Kafka truncates its epoch checkpoint to the recovered
// log end for the same reason).
import { assert, type SeededRandom } from '@raftka/common';
import {
  type EpochEndOffset,
  type FollowerLogView,
  type ProducerBatchHeader,
  UNDEFINED_EPOCH,
} from '@raftka/replication';

/** A RecordBatch as far as the simulation needs it. */
export interface SimBatch {
  readonly baseOffset: number;
  /** The partition leader epoch the leader stamped. */
  readonly epoch: number;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  /** One unique value per record (the checker's identity of a write). */
  readonly values: readonly string[];
}

export function batchHeader(b: SimBatch): ProducerBatchHeader {
  return {
    producerId: b.producerId,
    producerEpoch: b.producerEpoch,
    baseSequence: b.baseSequence,
    lastOffsetDelta: b.values.length - 1,
  };
}

export function batchEnd(b: SimBatch): number {
  return b.baseOffset + b.values.length;
}

export class SimPartitionLog {
  private batches: SimBatch[] = [];
  private flushedBatches = 0;
  /** Record value at each offset, for the checkers' lookups. */
  private values: string[] = [];
  private readonly offsets = new Map<string, number>();
  /** The leader epoch cache: each epoch and the offset it starts at. */
  private epochs: { epoch: number; startOffset: number }[] = [];

  get logEndOffset(): number {
    return this.values.length;
  }
  get flushedOffset(): number {
    const last = this.batches[this.flushedBatches - 1];
    return last === undefined ? 0 : batchEnd(last);
  }
  /** The latest epoch in the epoch cache (Kafka's latestEpoch), -1 when empty. */
  get latestEpoch(): number {
    return this.epochs[this.epochs.length - 1]?.epoch ?? UNDEFINED_EPOCH;
  }
  get allBatches(): readonly SimBatch[] {
    return this.batches;
  }
  valueAt(offset: number): string | undefined {
    return this.values[offset];
  }
  /** Where a record value sits in this log, if it does (each value is unique to one write). */
  offsetOfValue(value: string): number | undefined {
    return this.offsets.get(value);
  }

  /** Appends a batch whose base offset must be the log end (dense offsets); returns false when it is not. */
  append(batch: SimBatch): boolean {
    if (batch.baseOffset !== this.logEndOffset || batch.values.length === 0) return false;
    assert(batch.epoch >= this.latestEpoch, () => `batch epoch ${batch.epoch} below ${this.latestEpoch}`);
    this.assignEpoch(batch.epoch);
    this.batches.push(batch);
    for (const v of batch.values) {
      if (!this.offsets.has(v)) this.offsets.set(v, this.values.length);
      this.values.push(v);
    }
    return true;
  }

  /** Drops every batch at or above `offset`; a batch straddling it goes whole (truncation is at batch bounds). */
  truncateTo(offset: number): void {
    while (this.batches.length > 0 && batchEnd(this.batches[this.batches.length - 1]!) > offset) this.batches.pop();
    const end = this.logEndOffset0();
    for (let o = end; o < this.values.length; o++) {
      const v = this.values[o]!;
      if (this.offsets.get(v) === o) this.offsets.delete(v);
    }
    this.values.length = Math.min(this.values.length, end);
    this.flushedBatches = Math.min(this.flushedBatches, this.batches.length);
    // Kafka's truncateFromEnd: epochs starting at or after the new end go.
    while (this.epochs.length > 0 && this.epochs[this.epochs.length - 1]!.startOffset >= this.logEndOffset) {
      this.epochs.pop();
    }
  }

  private logEndOffset0(): number {
    const last = this.batches[this.batches.length - 1];
    return last === undefined ? 0 : batchEnd(last);
  }

  flush(): void {
    this.flushedBatches = this.batches.length;
  }

  /** Power loss: the page cache is gone; with some luck the OS had written back a prefix of it. */
  loseUnflushed(random: SeededRandom): number {
    const keepExtra = random.chance(0.3) ? random.int(0, this.batches.length - this.flushedBatches + 1) : 0;
    const keep = this.flushedBatches + keepExtra;
    const before = this.logEndOffset;
    const kept = this.batches[keep - 1];
    this.truncateTo(kept === undefined ? 0 : batchEnd(kept));
    this.flushedBatches = this.batches.length;
    // The epoch cache is rebuilt from the batches that survived.
    this.epochs = [];
    for (const b of this.batches)
      if (b.epoch > this.latestEpoch) this.epochs.push({ epoch: b.epoch, startOffset: b.baseOffset });
    return before - this.logEndOffset;
  }

  batchesFrom(offset: number, maxOffset: number, maxBatches: number): SimBatch[] {
    const out: SimBatch[] = [];
    let i = this.indexOfOffset(offset);
    while (i >= 0 && i < this.batches.length && out.length < maxBatches) {
      const b = this.batches[i]!;
      if (batchEnd(b) > maxOffset) break;
      out.push(b);
      i += 1;
    }
    return out;
  }

  /** Index of the batch starting at `offset`, or -1. */
  private indexOfOffset(offset: number): number {
    let lo = 0;
    let hi = this.batches.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = this.batches[mid]!;
      if (b.baseOffset === offset) return mid;
      if (b.baseOffset < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** A new leader records its epoch at its LEO before it writes anything (Kafka's epoch cache assign). */
  assignEpoch(epoch: number): void {
    const last = this.epochs[this.epochs.length - 1];
    if (last !== undefined && last.epoch >= epoch) return;
    this.epochs.push({ epoch, startOffset: this.logEndOffset });
  }

  /**
   * Kafka's LeaderEpochFileCache.endOffsetFor: the largest epoch <= `epoch`
   * and where it ends (the start of the next epoch, or the LEO for the latest).
   */
  endOffsetForEpoch(epoch: number): EpochEndOffset {
    const last = this.epochs[this.epochs.length - 1];
    if (epoch === UNDEFINED_EPOCH || last === undefined) return { leaderEpoch: -1, endOffset: -1 };
    if (epoch === last.epoch) return { leaderEpoch: epoch, endOffset: this.logEndOffset };
    const higher = this.epochs.findIndex((e) => e.epoch > epoch);
    if (higher === -1) return { leaderEpoch: -1, endOffset: -1 };
    const floor = this.epochs[higher - 1];
    return { leaderEpoch: floor === undefined ? epoch : floor.epoch, endOffset: this.epochs[higher]!.startOffset };
  }

  view(): FollowerLogView {
    return {
      logStartOffset: 0,
      logEndOffset: this.logEndOffset,
      latestEpoch: this.latestEpoch,
      endOffsetForEpoch: (e) => this.endOffsetForEpoch(e),
    };
  }
}
