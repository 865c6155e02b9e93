// The leader-epoch cache (KIP-101): for each leader epoch that wrote to this
// partition, the first offset it wrote. A follower that reconnects asks the
// leader "where does your log end for my last epoch E" and truncates there,
// which keeps replicas from diverging after fast failovers (KIP-279). The
// entries live in memory and in `leader-epoch-checkpoint` (versioned, CRC'd,
// written atomically on every change); recovery rebuilds them from the
// partitionLeaderEpoch stamped into each batch.
import { join } from 'node:path';
import { assert, RaftkaError } from '@raftka/common';
import { encodeCheckpoint, readCheckpoint, writeFileAtomic } from './checkpoint.js';

export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;
export const LEADER_EPOCH_CHECKPOINT = 'leader-epoch-checkpoint';
const KIND = 'raftka-leader-epoch-checkpoint';
const VERSION = 1;

export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

export interface EpochEndOffset {
  /** The largest epoch <= the requested one, or UNDEFINED_EPOCH (-1). */
  leaderEpoch: number;
  /** Where that epoch's records end (exclusive), or UNDEFINED_EPOCH_OFFSET (-1). */
  endOffset: number;
}

export class LeaderEpochCache {
  private entries: EpochEntry[] = [];
  readonly path: string;
  private readonly persist: boolean;

  constructor(dir: string, persist = true) {
    this.path = join(dir, LEADER_EPOCH_CHECKPOINT);
    this.persist = persist;
  }

  /** Loads the checkpoint; throws CORRUPT_STATE if it is corrupt, returns false if absent. */
  load(): boolean {
    const lines = readCheckpoint(this.path, KIND, VERSION);
    if (lines === undefined) return false;
    const [countLine, ...rest] = lines;
    const count = Number(countLine?.split(' ')[1]);
    if (!countLine?.startsWith('entries ') || !Number.isInteger(count) || count !== rest.length) {
      throw new RaftkaError('CORRUPT_STATE', `${LEADER_EPOCH_CHECKPOINT}: bad entry count`);
    }
    const entries: EpochEntry[] = [];
    for (const line of rest) {
      const m = /^(\d+) (\d+)$/.exec(line);
      const prev = entries[entries.length - 1];
      if (!m) throw new RaftkaError('CORRUPT_STATE', `${LEADER_EPOCH_CHECKPOINT}: malformed line "${line}"`);
      const e = { epoch: Number(m[1]), startOffset: Number(m[2]) };
      if (prev && (e.epoch <= prev.epoch || e.startOffset < prev.startOffset)) {
        throw new RaftkaError('CORRUPT_STATE', `${LEADER_EPOCH_CHECKPOINT}: entries not monotonic`);
      }
      entries.push(e);
    }
    this.entries = entries;
    return true;
  }

  /** Writes the entries durably (write-temp, fsync, rename). */
  flush(): void {
    if (!this.persist) return;
    const lines = [`entries ${this.entries.length}`, ...this.entries.map((e) => `${e.epoch} ${e.startOffset}`)];
    writeFileAtomic(this.path, encodeCheckpoint(KIND, VERSION, lines));
  }

  all(): EpochEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  latestEpoch(): number {
    return this.entries[this.entries.length - 1]?.epoch ?? UNDEFINED_EPOCH;
  }

  earliestEntry(): EpochEntry | undefined {
    return this.entries[0];
  }

  /**
   * Records that `epoch` starts at `startOffset`. Ignores epochs not newer than
   * the latest (every batch of the current leader passes through here). An
   * older entry that starts at or after startOffset conflicts (its records were
   * truncated) and is removed, as Kafka does.
   */
  assign(epoch: number, startOffset: number, flush = true): boolean {
    assert(epoch >= 0 && startOffset >= 0, `bad epoch entry ${epoch}@${startOffset}`);
    if (epoch <= this.latestEpoch()) return false;
    while (
      this.entries.length > 0 &&
      (this.entries[this.entries.length - 1] as EpochEntry).startOffset >= startOffset
    ) {
      this.entries.pop();
    }
    this.entries.push({ epoch, startOffset });
    if (flush) this.flush();
    return true;
  }

  /** After truncateTo(endOffset): drop entries whose first offset is gone. */
  truncateFromEnd(endOffset: number, flush = true): void {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.startOffset < endOffset);
    if (flush && this.entries.length !== before) this.flush();
  }

  /** After the log start moved: drop entries wholly below it, clamp the one that straddles it. */
  truncateFromStart(startOffset: number, flush = true): void {
    let idx = -1;
    for (let i = 0; i < this.entries.length; i++) {
      if ((this.entries[i] as EpochEntry).startOffset <= startOffset) idx = i;
    }
    if (idx < 0) return;
    const kept = this.entries[idx] as EpochEntry;
    if (idx === 0 && kept.startOffset === startOffset) return;
    this.entries = [{ epoch: kept.epoch, startOffset }, ...this.entries.slice(idx + 1)];
    if (flush) this.flush();
  }

  clear(flush = true): void {
    this.entries = [];
    if (flush) this.flush();
  }

  /** Replaces all entries (recovery rebuild) and persists them. */
  replace(entries: EpochEntry[]): void {
    this.entries = entries.map((e) => ({ ...e }));
    this.flush();
  }

  /**
   * OffsetsForLeaderEpoch on the leader (Kafka's LeaderEpochFileCache.endOffsetFor):
   * - requested == UNDEFINED, or requested > latest epoch: UNDEFINED/UNDEFINED;
   * - requested == latest epoch: (latest, LEO);
   * - otherwise the largest epoch <= requested and the start offset of the next
   *   higher epoch; when requested is below the earliest cached epoch there is
   *   no such epoch and Kafka answers (requested, earliest start offset) so the
   *   follower truncates to where the leader's known history begins.
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: number): EpochEndOffset {
    const undefinedResult = { leaderEpoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (requestedEpoch === UNDEFINED_EPOCH || this.entries.length === 0) return undefinedResult;
    if (requestedEpoch === this.latestEpoch()) return { leaderEpoch: requestedEpoch, endOffset: logEndOffset };
    const higher = this.entries.find((e) => e.epoch > requestedEpoch);
    if (higher === undefined) return undefinedResult;
    let floor: EpochEntry | undefined;
    for (const e of this.entries) if (e.epoch <= requestedEpoch) floor = e;
    if (floor === undefined) return { leaderEpoch: requestedEpoch, endOffset: higher.startOffset };
    return { leaderEpoch: floor.epoch, endOffset: higher.startOffset };
  }
}
