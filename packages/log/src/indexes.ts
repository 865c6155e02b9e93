// The two sparse per-segment indexes, kept in memory and appended to their
// files lazily (on flush, roll and close), as Kafka's memory-mapped indexes
// are. They are derived data: recovery rebuilds them from the segment, and a
// file that fails its sanity check (size, monotonic entries, positions inside
// the segment) is rebuilt instead of trusted.
//
//   .index      8 bytes/entry: relativeOffset u32 (batch baseOffset - segment
//               baseOffset), position u32 (byte position of that batch)
//   .timeindex 12 bytes/entry: timestamp i64, relativeOffset u32, meaning
//               "every record before this offset has timestamp <= this
//               timestamp"; an entry is added only when the timestamp grows,
//               and the last entry carries the segment's max timestamp once
//               the segment is sealed or closed.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { assert } from '@raftka/common';
import type { FileHandleCache } from './fd-cache.js';

export const OFFSET_INDEX_ENTRY_BYTES = 8;
export const TIME_INDEX_ENTRY_BYTES = 12;

function readWholeFile(cache: FileHandleCache, path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = cache.fd(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const size = fstatSync(fd).size;
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = readSync(cache.fd(path), buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Writes `buf` at `position`, creating the file if needed. */
function writeAt(cache: FileHandleCache, path: string, buf: Buffer, position: number): void {
  ensureFile(path);
  let done = 0;
  while (done < buf.length) done += writeSync(cache.fd(path), buf, done, buf.length - done, position + done);
}

export function ensureFile(path: string): void {
  closeSync(openSync(path, 'a'));
}

abstract class SparseIndex {
  protected count = 0;
  /** Entries already written to the file. */
  protected persisted = 0;
  /** Set when the file holds entries beyond `count` (after truncation) or may be garbage. */
  protected fileNeedsTruncate = false;

  constructor(
    readonly path: string,
    protected readonly entryBytes: number,
  ) {}

  get entries(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.count * this.entryBytes;
  }

  protected abstract encodeEntry(i: number, buf: Buffer, at: number): void;

  /** Appends unwritten entries to the file (no fsync). */
  persist(cache: FileHandleCache): void {
    if (this.fileNeedsTruncate) {
      ensureFile(this.path);
      ftruncateSync(cache.fd(this.path), this.persisted * this.entryBytes);
      this.fileNeedsTruncate = false;
    }
    if (this.persisted === this.count) {
      if (this.count === 0) ensureFile(this.path);
      return;
    }
    const buf = Buffer.allocUnsafe((this.count - this.persisted) * this.entryBytes);
    for (let i = this.persisted; i < this.count; i++) this.encodeEntry(i, buf, (i - this.persisted) * this.entryBytes);
    writeAt(cache, this.path, buf, this.persisted * this.entryBytes);
    this.persisted = this.count;
  }

  /** After a rebuild: the file content is unknown, rewrite it from scratch on the next persist. */
  markRebuilt(): void {
    this.persisted = 0;
    this.fileNeedsTruncate = true;
  }

  protected dropFrom(i: number): void {
    if (i >= this.count) return;
    this.count = i;
    if (this.persisted > i) {
      this.persisted = i;
      this.fileNeedsTruncate = true;
    }
  }
}

export class OffsetIndex extends SparseIndex {
  private rel = new Uint32Array(16);
  private pos = new Uint32Array(16);

  constructor(path: string) {
    super(path, OFFSET_INDEX_ENTRY_BYTES);
  }

  protected encodeEntry(i: number, buf: Buffer, at: number): void {
    buf.writeUInt32BE(this.rel[i] as number, at);
    buf.writeUInt32BE(this.pos[i] as number, at + 4);
  }

  append(relativeOffset: number, position: number): void {
    if (this.count > 0) {
      assert(relativeOffset > (this.rel[this.count - 1] as number), 'offset index entries must increase');
      assert(position > (this.pos[this.count - 1] as number), 'offset index positions must increase');
    }
    if (this.count === this.rel.length) {
      const rel = new Uint32Array(this.rel.length * 2);
      const pos = new Uint32Array(this.pos.length * 2);
      rel.set(this.rel);
      pos.set(this.pos);
      this.rel = rel;
      this.pos = pos;
    }
    this.rel[this.count] = relativeOffset;
    this.pos[this.count] = position;
    this.count++;
  }

  /** Position of the last indexed batch starting at or before relativeOffset (0 if none). */
  lookup(relativeOffset: number): { relativeOffset: number; position: number } {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.rel[mid] as number) <= relativeOffset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0
      ? { relativeOffset: 0, position: 0 }
      : { relativeOffset: this.rel[found] as number, position: this.pos[found] as number };
  }

  last(): { relativeOffset: number; position: number } | undefined {
    if (this.count === 0) return undefined;
    return { relativeOffset: this.rel[this.count - 1] as number, position: this.pos[this.count - 1] as number };
  }

  /** Drops entries pointing at or past `position` (the log was truncated there). */
  truncateToPosition(position: number): void {
    let i = this.count;
    while (i > 0 && (this.pos[i - 1] as number) >= position) i--;
    this.dropFrom(i);
  }

  /**
   * Loads and sanity-checks the file. Returns false (and leaves the index
   * empty) if it is missing or fails a check, so the caller rebuilds it.
   */
  load(cache: FileHandleCache, segmentBytes: number): boolean {
    this.count = 0;
    const buf = readWholeFile(cache, this.path);
    if (buf === undefined || buf.length % OFFSET_INDEX_ENTRY_BYTES !== 0) return false;
    const n = buf.length / OFFSET_INDEX_ENTRY_BYTES;
    for (let i = 0; i < n; i++) {
      const rel = buf.readUInt32BE(i * 8);
      const pos = buf.readUInt32BE(i * 8 + 4);
      const prev = this.last();
      if (pos >= segmentBytes || (prev && (rel <= prev.relativeOffset || pos <= prev.position)) || pos === 0) {
        this.count = 0;
        return false;
      }
      this.append(rel, pos);
    }
    this.persisted = this.count;
    return true;
  }

  reset(): void {
    this.count = 0;
    this.markRebuilt();
  }
}

export class TimeIndex extends SparseIndex {
  private ts = new Float64Array(16);
  private rel = new Uint32Array(16);

  constructor(path: string) {
    super(path, TIME_INDEX_ENTRY_BYTES);
  }

  protected encodeEntry(i: number, buf: Buffer, at: number): void {
    buf.writeBigInt64BE(BigInt(this.ts[i] as number), at);
    buf.writeUInt32BE(this.rel[i] as number, at + 8);
  }

  lastTimestamp(): number {
    return this.count === 0 ? -1 : (this.ts[this.count - 1] as number);
  }

  /** Adds (timestamp, relativeOffset) if the timestamp is newer than the last entry's. */
  maybeAppend(timestamp: number, relativeOffset: number): boolean {
    if (timestamp <= this.lastTimestamp()) return false;
    if (this.count > 0 && relativeOffset < (this.rel[this.count - 1] as number)) return false;
    if (this.count === this.ts.length) {
      const ts = new Float64Array(this.ts.length * 2);
      const rel = new Uint32Array(this.rel.length * 2);
      ts.set(this.ts);
      rel.set(this.rel);
      this.ts = ts;
      this.rel = rel;
    }
    this.ts[this.count] = timestamp;
    this.rel[this.count] = relativeOffset;
    this.count++;
    return true;
  }

  /** Relative offset to start scanning from for the first record with timestamp >= t. */
  lookup(timestamp: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ts[mid] as number) < timestamp) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? 0 : (this.rel[found] as number);
  }

  /** Drops entries whose offset bound lies past relativeEnd (log truncated there). */
  truncateToRelativeOffset(relativeEnd: number): void {
    let i = this.count;
    while (i > 0 && (this.rel[i - 1] as number) > relativeEnd) i--;
    this.dropFrom(i);
  }

  load(cache: FileHandleCache, maxRelativeOffset: number): boolean {
    this.count = 0;
    const buf = readWholeFile(cache, this.path);
    if (buf === undefined || buf.length % TIME_INDEX_ENTRY_BYTES !== 0) return false;
    const n = buf.length / TIME_INDEX_ENTRY_BYTES;
    for (let i = 0; i < n; i++) {
      const ts = Number(buf.readBigInt64BE(i * 12));
      const rel = buf.readUInt32BE(i * 12 + 8);
      if (rel > maxRelativeOffset || !this.maybeAppend(ts, rel)) {
        this.count = 0;
        return false;
      }
    }
    this.persisted = this.count;
    return true;
  }

  reset(): void {
    this.count = 0;
    this.markRebuilt();
  }
}
