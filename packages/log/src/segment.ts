// One segment of a partition log: `<baseOffset>.log` holding RecordBatch v2
// batches back to back, plus its `.index` and `.timeindex`. The segment knows
// its size, its next offset and its max timestamp; sealed segments load their
// indexes lazily (a broker with thousands of partitions touches few of them)
// and rebuild them by scanning when the files fail their sanity check.
import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { computeBatchCrc, LOG_OVERHEAD_BYTES, MAGIC_V2, Offsets } from '@raftka/codec';
import { assert } from '@raftka/common';
import type { FileHandleCache } from './fd-cache.js';
import { ensureFile, OFFSET_INDEX_ENTRY_BYTES, OffsetIndex, TIME_INDEX_ENTRY_BYTES, TimeIndex } from './indexes.js';

export const LOG_FILE_SUFFIX = '.log';
export const INDEX_FILE_SUFFIX = '.index';
export const TIME_INDEX_FILE_SUFFIX = '.timeindex';
/** Bytes of the header fields the log reads: up to and including recordCount. */
export const HEADER_BYTES = 61;
const MAX_RELATIVE_OFFSET = 0xffffffff;
/** How many of the last batches a segment remembers the place of (see recentBatches). */
const RECENT_BATCHES = 32;

/** Kafka's file name: the base offset zero-padded to 20 digits. */
export function segmentFileStem(baseOffset: number): string {
  return baseOffset.toString().padStart(20, '0');
}

/** The header fields a scan needs, read straight from the bytes. */
export interface ScannedBatch {
  position: number;
  sizeBytes: number;
  baseOffset: number;
  lastOffset: number;
  partitionLeaderEpoch: number;
  maxTimestamp: number;
  recordCount: number;
}

export interface ScanOptions {
  /** Check the CRC of each batch (recovery); lookups only walk headers. */
  verifyCrc: boolean;
  /** Lowest legal baseOffset for the first batch. */
  minBaseOffset: number;
  /** Called per valid batch with a view of its bytes (valid only during the call); return false to stop. */
  onBatch?: (batch: ScannedBatch, bytes: Buffer | undefined) => boolean | undefined;
  /** onBatch needs headers only (an offset lookup): a batch's bytes are never read beyond its header. */
  headersOnly?: boolean;
  chunkBytes?: number;
  /** Require each batch to start right after the previous one (a never-compacted delete log). */
  dense?: boolean;
  /** Leader epochs must not decrease; the scan starts from this one. */
  minLeaderEpoch?: number;
}

export interface ScanResult {
  /** Position just after the last valid batch seen. */
  validBytes: number;
  /** Why the scan stopped before the end, if it did because of bad bytes. */
  invalidReason?: string;
  stoppedByCallback: boolean;
  nextOffset: number;
  maxTimestamp: number;
  batches: number;
  lastLeaderEpoch: number;
}

export function readFully(cache: FileHandleCache, path: string, buf: Buffer, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(cache.fd(path), buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

export function parseScannedBatch(buf: Buffer, at: number, position: number): ScannedBatch {
  const baseOffset = Number(buf.readBigInt64BE(at + Offsets.baseOffset));
  return {
    position,
    sizeBytes: buf.readInt32BE(at + Offsets.batchLength) + LOG_OVERHEAD_BYTES,
    baseOffset,
    lastOffset: baseOffset + buf.readInt32BE(at + Offsets.lastOffsetDelta),
    partitionLeaderEpoch: buf.readInt32BE(at + Offsets.partitionLeaderEpoch),
    maxTimestamp: Number(buf.readBigInt64BE(at + Offsets.maxTimestamp)),
    recordCount: buf.readInt32BE(at + Offsets.recordCount),
  };
}

/**
 * Walks the batches of a file from `startPosition` to `endPosition`, checking
 * each one's framing (size, magic, offsets monotonic and inside the segment's
 * range) and optionally its CRC. Stops at the first bad or torn byte.
 */
export function scanBatches(
  cache: FileHandleCache,
  path: string,
  segmentBaseOffset: number,
  startPosition: number,
  endPosition: number,
  options: ScanOptions,
): ScanResult {
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  const result: ScanResult = {
    validBytes: startPosition,
    stoppedByCallback: false,
    nextOffset: options.minBaseOffset,
    maxTimestamp: -1,
    batches: 0,
    lastLeaderEpoch: options.minLeaderEpoch ?? -1,
  };
  let chunk = Buffer.alloc(0);
  let chunkStart = startPosition;
  let pos = startPosition;
  // Bounded: every iteration advances pos by at least HEADER_BYTES or returns.
  while (pos < endPosition) {
    const remaining = endPosition - pos;
    if (remaining < HEADER_BYTES) {
      result.invalidReason = `torn batch header: ${remaining} bytes at position ${pos}`;
      break;
    }
    if (pos + HEADER_BYTES > chunkStart + chunk.length) {
      chunk = Buffer.allocUnsafe(Math.min(Math.max(chunkBytes, HEADER_BYTES), remaining));
      chunk = chunk.subarray(0, readFully(cache, path, chunk, pos));
      chunkStart = pos;
      if (chunk.length < HEADER_BYTES) {
        result.invalidReason = `short read at position ${pos}`;
        break;
      }
    }
    const at = pos - chunkStart;
    const batch = parseScannedBatch(chunk, at, pos);
    const magic = chunk.readInt8(at + Offsets.magic);
    const lastOffsetDelta = batch.lastOffset - batch.baseOffset;
    if (batch.sizeBytes < HEADER_BYTES) {
      result.invalidReason = `batch size ${batch.sizeBytes} below the header size at position ${pos}`;
      break;
    }
    if (batch.sizeBytes > remaining) {
      result.invalidReason = `torn batch at position ${pos}: ${batch.sizeBytes} bytes claimed, ${remaining} present`;
      break;
    }
    if (magic !== MAGIC_V2) {
      result.invalidReason = `magic ${magic} at position ${pos}`;
      break;
    }
    if (
      lastOffsetDelta < 0 ||
      batch.recordCount < 0 ||
      batch.baseOffset < result.nextOffset ||
      (options.dense === true && batch.baseOffset !== result.nextOffset) ||
      batch.lastOffset - segmentBaseOffset > MAX_RELATIVE_OFFSET
    ) {
      result.invalidReason = `offsets [${batch.baseOffset}, ${batch.lastOffset}] out of order at position ${pos} (expected >= ${result.nextOffset})`;
      break;
    }
    if (options.minLeaderEpoch !== undefined && batch.partitionLeaderEpoch < result.lastLeaderEpoch) {
      result.invalidReason = `leader epoch ${batch.partitionLeaderEpoch} below ${result.lastLeaderEpoch} at position ${pos}`;
      break;
    }
    let bytes: Buffer | undefined;
    if (options.verifyCrc || (options.onBatch !== undefined && options.headersOnly !== true)) {
      if (pos + batch.sizeBytes > chunkStart + chunk.length) {
        chunk = Buffer.allocUnsafe(Math.min(Math.max(chunkBytes, batch.sizeBytes), remaining));
        chunk = chunk.subarray(0, readFully(cache, path, chunk, pos));
        chunkStart = pos;
        if (chunk.length < batch.sizeBytes) {
          result.invalidReason = `short read at position ${pos}`;
          break;
        }
      }
      bytes = chunk.subarray(pos - chunkStart, pos - chunkStart + batch.sizeBytes);
      if (options.verifyCrc) {
        const stored = bytes.readUInt32BE(Offsets.crc);
        if (computeBatchCrc(bytes) !== stored) {
          result.invalidReason = `CRC mismatch at position ${pos} (offset ${batch.baseOffset})`;
          break;
        }
      }
    }
    if (options.onBatch && options.onBatch(batch, bytes) === false) {
      result.stoppedByCallback = true;
      return result;
    }
    result.batches++;
    result.lastLeaderEpoch = Math.max(result.lastLeaderEpoch, batch.partitionLeaderEpoch);
    result.nextOffset = batch.lastOffset + 1;
    result.maxTimestamp = Math.max(result.maxTimestamp, batch.maxTimestamp);
    pos += batch.sizeBytes;
    result.validBytes = pos;
  }
  return result;
}

export interface SegmentIndexConfig {
  indexIntervalBytes: number;
  segmentIndexBytes: number;
}

export class Segment {
  readonly baseOffset: number;
  readonly logPath: string;
  readonly offsetIndex: OffsetIndex;
  readonly timeIndex: TimeIndex;
  sizeBytes: number;
  /** Offset after the last batch; exact for the active segment and for every loaded segment. */
  nextOffset: number;
  /** Largest batch maxTimestamp, -1 when empty; valid once `indexesLoaded`. */
  maxTimestamp = -1;
  /** maxTimestamp of the first batch (segment.ms rolls on it), -1 when empty or unknown. */
  firstBatchTimestamp = -1;
  createdMs: number;
  indexesLoaded = false;
  /** Bytes written since the last fsync. */
  dirty = false;
  private bytesSinceLastIndexEntry = 0;
  /**
   * The last batches indexed, oldest first (at most 2 x RECENT_BATCHES). A
   * follower or a consumer at the tail fetches from a batch appended moments
   * ago: finding it here costs no index lookup and no read of headers, which
   * was most of a leader's read syscalls under steady replication.
   */
  private recentBatches: ScannedBatch[] = [];

  constructor(dir: string, baseOffset: number, sizeBytes: number, createdMs: number) {
    const stem = join(dir, segmentFileStem(baseOffset));
    this.baseOffset = baseOffset;
    this.logPath = `${stem}${LOG_FILE_SUFFIX}`;
    this.offsetIndex = new OffsetIndex(`${stem}${INDEX_FILE_SUFFIX}`);
    this.timeIndex = new TimeIndex(`${stem}${TIME_INDEX_FILE_SUFFIX}`);
    this.sizeBytes = sizeBytes;
    this.nextOffset = baseOffset;
    this.createdMs = createdMs;
  }

  /** Creates the empty files of a new segment. */
  static create(dir: string, baseOffset: number, nowMs: number): Segment {
    const seg = new Segment(dir, baseOffset, 0, nowMs);
    const fd = openSync(seg.logPath, 'w');
    closeSync(fd);
    ensureFile(seg.offsetIndex.path);
    ensureFile(seg.timeIndex.path);
    seg.indexesLoaded = true;
    return seg;
  }

  indexFull(config: SegmentIndexConfig): boolean {
    return (
      (this.offsetIndex.entries + 1) * OFFSET_INDEX_ENTRY_BYTES > config.segmentIndexBytes ||
      (this.timeIndex.entries + 2) * TIME_INDEX_ENTRY_BYTES > config.segmentIndexBytes
    );
  }

  /** Relative offsets are u32 in the index: a batch past that must go to a new segment. */
  canHoldOffset(lastOffset: number): boolean {
    return lastOffset - this.baseOffset <= MAX_RELATIVE_OFFSET;
  }

  /** Records the index entries for a batch about to be written at `position`. */
  private indexBatch(batch: ScannedBatch, config: SegmentIndexConfig): void {
    if (this.bytesSinceLastIndexEntry > config.indexIntervalBytes) {
      this.offsetIndex.append(batch.baseOffset - this.baseOffset, batch.position);
      this.timeIndex.maybeAppend(this.maxTimestamp, batch.baseOffset - this.baseOffset);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += batch.sizeBytes;
    this.recentBatches.push(batch);
    if (this.recentBatches.length >= 2 * RECENT_BATCHES) this.recentBatches = this.recentBatches.slice(RECENT_BATCHES);
    if (this.firstBatchTimestamp < 0 && batch.position === 0) this.firstBatchTimestamp = batch.maxTimestamp;
    this.maxTimestamp = Math.max(this.maxTimestamp, batch.maxTimestamp);
    this.nextOffset = batch.lastOffset + 1;
  }

  /** Writes already-stamped batches at the end of the segment and indexes them. */
  append(cache: FileHandleCache, buf: Buffer, batches: ScannedBatch[], config: SegmentIndexConfig): void {
    assert(this.indexesLoaded, 'append to a segment whose indexes are not loaded');
    let done = 0;
    while (done < buf.length) {
      done += writeSync(cache.fd(this.logPath), buf, done, buf.length - done, this.sizeBytes + done);
    }
    for (const b of batches) this.indexBatch({ ...b, position: this.sizeBytes + b.position }, config);
    this.sizeBytes += buf.length;
    this.dirty = true;
  }

  /**
   * Scans the whole segment to rebuild its indexes and summary fields. Used by
   * recovery (with CRC checks) and when an index file fails its sanity check.
   */
  rebuild(
    cache: FileHandleCache,
    config: SegmentIndexConfig,
    verifyCrc: boolean,
    minBaseOffset: number,
    onBatch?: (batch: ScannedBatch) => void,
    checks: { dense?: boolean; minLeaderEpoch?: number } = {},
  ): ScanResult {
    this.offsetIndex.reset();
    this.timeIndex.reset();
    this.recentBatches = [];
    this.maxTimestamp = -1;
    this.firstBatchTimestamp = -1;
    this.bytesSinceLastIndexEntry = 0;
    this.nextOffset = this.baseOffset;
    const result = scanBatches(cache, this.logPath, this.baseOffset, 0, this.sizeBytes, {
      verifyCrc,
      ...checks,
      minBaseOffset: Math.max(minBaseOffset, this.baseOffset),
      onBatch: (b) => {
        this.indexBatch(b, config);
        onBatch?.(b);
        return true;
      },
    });
    this.indexesLoaded = true;
    return result;
  }

  /**
   * Loads the index files of a segment trusted by the last flush, checking
   * them; returns false when they had to be rebuilt from the log.
   */
  loadIndexes(cache: FileHandleCache, config: SegmentIndexConfig): boolean {
    if (this.indexesLoaded) return true;
    let ok = this.offsetIndex.load(cache, this.sizeBytes);
    const last = this.offsetIndex.last();
    if (ok && last) {
      // The last entry must point at a batch starting with that offset.
      const head = Buffer.allocUnsafe(HEADER_BYTES);
      if (readFully(cache, this.logPath, head, last.position) < HEADER_BYTES) ok = false;
      else if (Number(head.readBigInt64BE(0)) !== this.baseOffset + last.relativeOffset) ok = false;
    }
    // Walk the tail after the last index entry to learn nextOffset and size.
    if (ok) {
      const from = last ?? { relativeOffset: 0, position: 0 };
      let maxTs = -1;
      let first = -1;
      const tail = scanBatches(cache, this.logPath, this.baseOffset, from.position, this.sizeBytes, {
        verifyCrc: false,
        minBaseOffset: this.baseOffset + from.relativeOffset,
        onBatch: (b) => {
          if (b.position === 0) first = b.maxTimestamp;
          maxTs = Math.max(maxTs, b.maxTimestamp);
          return true;
        },
      });
      if (tail.invalidReason !== undefined) ok = false;
      else {
        ok = this.timeIndex.load(cache, Math.max(0, tail.nextOffset - this.baseOffset));
        this.nextOffset = tail.nextOffset;
        this.maxTimestamp = Math.max(this.timeIndex.lastTimestamp(), maxTs);
        this.bytesSinceLastIndexEntry = this.sizeBytes - from.position;
        if (first >= 0) this.firstBatchTimestamp = first;
        else if (this.sizeBytes > 0) {
          const head = Buffer.allocUnsafe(HEADER_BYTES);
          if (readFully(cache, this.logPath, head, 0) === HEADER_BYTES) {
            this.firstBatchTimestamp = Number(head.readBigInt64BE(Offsets.maxTimestamp));
          }
        }
      }
    }
    this.indexesLoaded = true;
    if (ok) return true;
    const scan = this.rebuild(cache, config, false, this.baseOffset);
    // A sealed segment below the recovery point with bad framing: index the valid prefix only.
    if (scan.validBytes !== this.sizeBytes) this.sizeBytes = scan.validBytes;
    this.persistIndexes(cache);
    return false;
  }

  /** Marks the segment as no longer active: its time index records the segment's max timestamp. */
  seal(cache: FileHandleCache): void {
    // No more appends: readers at the tail move on to the next segment, and thousands of sealed
    // segments should not each keep their last batches in memory.
    this.recentBatches = [];
    if (this.maxTimestamp >= 0) this.timeIndex.maybeAppend(this.maxTimestamp, this.nextOffset - this.baseOffset);
    this.persistIndexes(cache);
  }

  persistIndexes(cache: FileHandleCache): void {
    if (!this.indexesLoaded) return;
    this.offsetIndex.persist(cache);
    this.timeIndex.persist(cache);
  }

  /** fsync the log and index files. */
  fsync(cache: FileHandleCache): void {
    this.persistIndexes(cache);
    fsyncSync(cache.fd(this.logPath));
    if (this.indexesLoaded) {
      fsyncSync(cache.fd(this.offsetIndex.path));
      fsyncSync(cache.fd(this.timeIndex.path));
    }
    this.dirty = false;
  }

  /** Position of the first batch whose lastOffset >= offset, or undefined if none in this segment. */
  findBatch(cache: FileHandleCache, config: SegmentIndexConfig, offset: number): ScannedBatch | undefined {
    this.loadIndexes(cache, config);
    const recent = this.recentBatches;
    if (recent.length > 0 && offset >= (recent[0] as ScannedBatch).baseOffset) {
      // Every batch before recent[0] ends below it, so the answer is among the recent ones or none.
      let lo = 0;
      let hi = recent.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((recent[mid] as ScannedBatch).lastOffset >= offset) hi = mid;
        else lo = mid + 1;
      }
      return recent[lo];
    }
    const start = this.offsetIndex.lookup(Math.max(0, offset - this.baseOffset));
    let found: ScannedBatch | undefined;
    scanBatches(cache, this.logPath, this.baseOffset, start.position, this.sizeBytes, {
      verifyCrc: false,
      minBaseOffset: this.baseOffset + start.relativeOffset,
      // The index points at most index.interval.bytes before the batch wanted, and only
      // headers are read: a fetch of large batches no longer reads each one twice.
      chunkBytes: 8 * 1024,
      headersOnly: true,
      onBatch: (b) => {
        if (b.lastOffset >= offset) {
          found = b;
          return false;
        }
        return true;
      },
    });
    return found;
  }

  /** Truncates the segment at `position` (a batch boundary) whose first dropped batch starts at `offset`. */
  truncateAt(cache: FileHandleCache, position: number, newNextOffset: number): void {
    ftruncateSync(cache.fd(this.logPath), position);
    this.recentBatches = [];
    this.sizeBytes = position;
    this.offsetIndex.truncateToPosition(position);
    this.timeIndex.truncateToRelativeOffset(newNextOffset - this.baseOffset);
    this.nextOffset = newNextOffset;
    this.dirty = true;
  }

  read(cache: FileHandleCache, position: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    const got = readFully(cache, this.logPath, buf, position);
    return buf.subarray(0, got);
  }

  deleteFiles(cache: FileHandleCache): void {
    for (const path of [this.logPath, this.offsetIndex.path, this.timeIndex.path]) {
      cache.close(path);
      try {
        unlinkSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  closeFiles(cache: FileHandleCache): void {
    cache.close(this.logPath);
    cache.close(this.offsetIndex.path);
    cache.close(this.timeIndex.path);
  }
}
