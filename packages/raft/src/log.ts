// The replicated log as the core sees it: the latest snapshot, the entries
// after it, and an epoch history (the start offset of every leader epoch in
// the log, Kafka's leader-epoch cache) used for log reconciliation.
//
// Everything is in memory. The metadata log stays small because snapshots
// bound it, and keeping it here means serving a fetch never waits on IO.
// What is durable is tracked by the node, not here.

import { assert } from '@raftka/common';
import type { LogEntry, OffsetAndEpoch, Snapshot } from './types.js';

interface EpochStart {
  epoch: number;
  startOffset: number;
}

export class RaftLog {
  #snapshot: Snapshot | undefined;
  #startOffset: number;
  #entries: LogEntry[] = [];
  /** Ascending by epoch and start offset; covers [startOffset, endOffset). */
  #epochs: EpochStart[] = [];

  constructor(snapshot: Snapshot | undefined, entries: readonly LogEntry[]) {
    this.#snapshot = snapshot;
    this.#startOffset = snapshot?.id.endOffset ?? 0;
    for (const entry of entries) this.append(entry);
  }

  get startOffset(): number {
    return this.#startOffset;
  }

  get endOffset(): number {
    return this.#startOffset + this.#entries.length;
  }

  get snapshot(): Snapshot | undefined {
    return this.#snapshot;
  }

  /** Epoch of the last entry, or of the snapshot, or 0 for an empty log. */
  get lastEpoch(): number {
    return this.epochBefore(this.endOffset);
  }

  /** Epoch of the entry at offset - 1: what a fetch from `offset` names as lastFetchedEpoch. */
  epochBefore(offset: number): number {
    assert(offset >= this.#startOffset && offset <= this.endOffset, () => this.#rangeMessage('epochBefore', offset));
    if (offset === this.#startOffset) return this.#snapshot?.id.epoch ?? 0;
    return this.entryAt(offset - 1).epoch;
  }

  entryAt(offset: number): LogEntry {
    const entry = this.#entries[offset - this.#startOffset];
    assert(entry !== undefined, () => this.#rangeMessage('entryAt', offset));
    return entry;
  }

  /** Entries in [from, to), at least one if any, then up to maxBytes of payload. */
  read(from: number, to: number, maxBytes: number): LogEntry[] {
    assert(from >= this.#startOffset && to <= this.endOffset && from <= to, () => this.#rangeMessage('read', from));
    const out: LogEntry[] = [];
    let bytes = 0;
    for (let offset = from; offset < to; offset++) {
      const entry = this.entryAt(offset);
      if (out.length > 0 && bytes + entry.data.length > maxBytes) break;
      bytes += entry.data.length;
      out.push(entry);
    }
    return out;
  }

  append(entry: LogEntry): void {
    assert(entry.offset === this.endOffset, () => `append at ${entry.offset} but the log ends at ${this.endOffset}`);
    const lastEpoch = this.lastEpoch;
    assert(entry.epoch >= lastEpoch, () => `append of epoch ${entry.epoch} after epoch ${lastEpoch}`);
    const top = this.#epochs.at(-1);
    if (top === undefined || top.epoch !== entry.epoch)
      this.#epochs.push({ epoch: entry.epoch, startOffset: entry.offset });
    this.#entries.push(entry);
  }

  /** Drop every entry at or above `offset`. */
  truncateTo(offset: number): void {
    assert(offset >= this.#startOffset && offset <= this.endOffset, () => this.#rangeMessage('truncateTo', offset));
    this.#entries.length = offset - this.#startOffset;
    while (this.#epochs.length > 0 && this.#epochs.at(-1)!.startOffset >= offset) this.#epochs.pop();
  }

  /** A local snapshot covers the log up to its end offset: drop the entries below it. */
  compact(snapshot: Snapshot): void {
    const endOffset = snapshot.id.endOffset;
    assert(endOffset >= this.#startOffset && endOffset <= this.endOffset, () =>
      this.#rangeMessage('compact', endOffset),
    );
    assert(
      snapshot.id.epoch === this.epochBefore(endOffset),
      () => `snapshot epoch ${snapshot.id.epoch} differs from the log's ${this.epochBefore(endOffset)} at ${endOffset}`,
    );
    this.#entries = this.#entries.slice(endOffset - this.#startOffset);
    this.#startOffset = endOffset;
    this.#snapshot = snapshot;
    // Keep the range that straddles the new start, clamped to it.
    let keepFrom = 0;
    while (keepFrom + 1 < this.#epochs.length && this.#epochs[keepFrom + 1]!.startOffset <= endOffset) keepFrom++;
    this.#epochs = this.#epochs.slice(keepFrom);
    if (this.#entries.length === 0) this.#epochs = [];
    else this.#epochs[0] = { epoch: this.#epochs[0]!.epoch, startOffset: endOffset };
  }

  /** A snapshot fetched from the leader replaces the whole log. */
  resetTo(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    this.#startOffset = snapshot.id.endOffset;
    this.#entries = [];
    this.#epochs = [];
  }

  /**
   * The largest epoch <= `epoch` in this log and the offset where it ends
   * (where the next epoch starts, or the log end). When every epoch in the
   * log is larger, the answer is the snapshot's (or 0's) at the log start.
   * This is the leader's side of KIP-595 log reconciliation.
   */
  endOffsetForEpoch(epoch: number): OffsetAndEpoch {
    for (let i = this.#epochs.length - 1; i >= 0; i--) {
      const range = this.#epochs[i]!;
      if (range.epoch <= epoch) {
        const next = this.#epochs[i + 1];
        return { epoch: range.epoch, offset: next === undefined ? this.endOffset : next.startOffset };
      }
    }
    return { epoch: this.#snapshot?.id.epoch ?? 0, offset: this.#startOffset };
  }

  /** The log has an entry at `offset - 1` of `epoch` (or offset is the start and the snapshot matches). */
  matches(offset: number, epoch: number): boolean {
    if (offset < this.#startOffset || offset > this.endOffset) return false;
    return this.epochBefore(offset) === epoch;
  }

  #rangeMessage(what: string, offset: number): string {
    return `${what}(${offset}) outside the log [${this.#startOffset}, ${this.endOffset})`;
  }
}
