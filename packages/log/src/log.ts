// A partition's log on local disk: the segments of one `<topic>-<partition>`
// directory plus its leader-epoch cache and offset checkpoints. This is what
// the broker's produce, fetch, replica-fetch, ListOffsets, DeleteRecords and
// OffsetsForLeaderEpoch handlers call; it knows nothing of replication beyond
// the offsets and leader epochs it stores.
//
// The API is synchronous (promise-free). Appends are small positional writes
// into the page cache and reads are positional reads of at most a fetch's
// bytes, so the sync calls cost less than a promise round trip through libuv's
// 4-thread pool, and a synchronous store has no interleavings to reason about:
// each call sees and leaves a consistent log. Only fsync can be slow: it runs
// on flush(), close(), truncation and checkpoints; the flush of a segment
// sealed by a roll goes to the thread pool (fs.fsync) instead.
import {
  closeSync,
  existsSync,
  fsync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { AttributeMasks, LOG_OVERHEAD_BYTES, MAGIC_V2, Offsets, stampBatch } from '@raftka/codec';
import { assert, isRaftkaError, RaftkaError } from '@raftka/common';
import { encodeCheckpoint, fsyncDir, parseIntegerFields, readCheckpoint, writeFileAtomic } from './checkpoint.js';
import {
  CLEANED_SUFFIX,
  type InterruptedCompaction,
  installSwap,
  recoverInterruptedCompaction,
  SWAP_SUFFIX,
  unlinkIfExists,
} from './compaction-files.js';
import { hasCompact, hasDelete, type LogConfig, parseLogConfig } from './config.js';
import { type EpochEndOffset, type EpochEntry, LeaderEpochCache } from './epoch-cache.js';
import { UnexpectedAppendOffsetError } from './errors.js';
import { type FileHandleCache, sharedFileHandleCache } from './fd-cache.js';
import { firstOffsetAtOrAfterTimestamp, rawRecords, rebuildBatch } from './records.js';
import {
  HEADER_BYTES,
  LOG_FILE_SUFFIX,
  parseScannedBatch,
  type ScannedBatch,
  Segment,
  scanBatches,
  segmentFileStem,
} from './segment.js';

export const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
export const PARTITION_STATE_CHECKPOINT = 'partition-state-checkpoint';
const STATE_KIND = 'raftka-partition-state';
const STATE_VERSION = 1;
const STATE_FIELDS = ['high-watermark', 'recovery-point', 'log-start-offset', 'cleaner-offset'] as const;

/** Compaction keeps transactional and control batches whole (see docs/log-storage.md). */
const KEPT_WHOLE_MASK = AttributeMasks.transactional | AttributeMasks.control;

/** ListOffsets' special timestamps. */
export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;

export interface LogOptions {
  /** Kafka-named topic properties (segment.bytes, retention.ms, ...); defaults for the rest. */
  config?: Record<string, unknown>;
  /** The process-wide descriptor cache (default: sharedFileHandleCache()). */
  fileCache?: FileHandleCache;
  /** Wall clock in ms, for segment.ms, retention.ms, flush.ms and tombstone expiry. */
  now?: () => number;
  /** Recover every segment (CRC-check the whole log) even after a clean shutdown. */
  fullRecovery?: boolean;
  /**
   * The HW from the broker's replication-offset-checkpoint, newer than the
   * one this log last wrote durably: open raises its HW to it (never past the
   * LEO) without writing anything.
   */
  highWatermark?: number;
  /** Test hook: called at each compaction step; throwing from it simulates a crash there. */
  onCompactionStep?: (step: string) => void;
}

export interface AppendInfo {
  firstOffset: number;
  lastOffset: number;
  batches: number;
  records: number;
  sizeBytes: number;
  maxTimestamp: number;
}

export interface ReadOptions {
  /** Exclusive upper bound: only batches that end below it (the broker passes the HW). */
  maxOffset?: number;
  /** Return the first batch even if it is larger than maxBytes (Kafka's minOneMessage; default true). */
  minOneBatch?: boolean;
}

export interface LogReadResult {
  /** Whole batches back to back; `batches` are views into it. */
  records: Buffer;
  batches: Buffer[];
  /** Base offset of the first batch returned (-1 when none). */
  firstOffset: number;
  /** Offset after the last batch returned: where the next fetch starts (the fetch offset when none). */
  nextOffset: number;
  logStartOffset: number;
  logEndOffset: number;
  highWatermark: number;
}

export interface RecoveryReport {
  cleanShutdown: boolean;
  /** The offset recovery started scanning from (undefined when no scan was needed). */
  recoveredFrom: number | undefined;
  segmentsScanned: number;
  batchesScanned: number;
  /** What recovery cut off: the torn or invalid tail and every later segment. */
  droppedBytes: number;
  /** Batches whose headers were still readable in the dropped bytes (best effort; a torn batch counts). */
  droppedBatches: number;
  droppedSegments: number;
  /** Why recovery truncated, if it did. */
  truncationReason: string | undefined;
  /** Log end offset after recovery. */
  logEndOffset: number;
  /** Checkpoint files that were corrupt (and ignored: recovery started from 0). */
  corruptCheckpoints: string[];
  /** Index files rebuilt because they were missing or failed their sanity check (known at open). */
  indexesRebuilt: number;
  interruptedCompaction: InterruptedCompaction;
}

export interface SegmentInfo {
  baseOffset: number;
  sizeBytes: number;
  /** Exact for the active segment; the next segment's base offset for sealed ones. */
  endOffset: number;
}

export interface DeletionResult {
  deletedSegments: number;
  deletedBytes: number;
  logStartOffset: number;
}

export interface CompactionResult {
  /** Segments rewritten (0 when nothing was cleanable). */
  segmentsCleaned: number;
  bytesBefore: number;
  bytesAfter: number;
  recordsRemoved: number;
  tombstonesRemoved: number;
  batchesRemoved: number;
  /** First offset not cleaned: the next clean starts its dirty section here. */
  cleanedUpTo: number;
}

export interface TimestampOffset {
  offset: number;
  timestamp: number;
}

interface PartitionState {
  highWatermark: number;
  recoveryPoint: number;
  logStartOffset: number;
  cleanerOffset: number;
}

function emptyReport(): RecoveryReport {
  return {
    cleanShutdown: false,
    recoveredFrom: undefined,
    segmentsScanned: 0,
    batchesScanned: 0,
    droppedBytes: 0,
    droppedBatches: 0,
    droppedSegments: 0,
    truncationReason: undefined,
    logEndOffset: 0,
    corruptCheckpoints: [],
    indexesRebuilt: 0,
    interruptedCompaction: 'none',
  };
}

/** Counts batches whose framing is still readable after `position` (a torn one counts). */
function countDroppedBatches(cache: FileHandleCache, seg: Segment, position: number): number {
  let count = 0;
  const head = Buffer.allocUnsafe(HEADER_BYTES);
  let pos = position;
  // Bounded by the segment size: each step advances at least HEADER_BYTES.
  while (pos < seg.sizeBytes) {
    count++;
    const got = seg.read(cache, pos, HEADER_BYTES);
    if (got.length < HEADER_BYTES) break;
    got.copy(head);
    const size = head.readInt32BE(Offsets.batchLength) + LOG_OVERHEAD_BYTES;
    if (size < HEADER_BYTES || head.readInt8(Offsets.magic) !== MAGIC_V2) break;
    pos += size;
  }
  return count;
}

export class PartitionLog {
  readonly dir: string;
  readonly recovery: RecoveryReport;
  private config: LogConfig;
  private readonly cache: FileHandleCache;
  private readonly now: () => number;
  private readonly onCompactionStep: (step: string) => void;
  private readonly epochCache: LeaderEpochCache;
  private segments: Segment[] = [];
  private state: PartitionState = { highWatermark: 0, recoveryPoint: 0, logStartOffset: 0, cleanerOffset: 0 };
  private unflushedRecords = 0;
  private lastFlushMs: number;
  private closed = false;
  private offlineReason: string | undefined;
  /** Bumped by every truncation: an async flush started before it proves nothing after it. */
  private generation = 0;
  private pendingFlushes: { endOffset: number; done: boolean; generation: number }[] = [];
  /**
   * Epoch entries changed without an fsync (a new leader's epoch, a new epoch
   * in appended batches, a truncation). They are written before the recovery
   * point can move past them: recovery rebuilds epochs from batch headers
   * above the recovery point, so the checkpoint must be right only below it.
   */
  private epochsDirty = false;

  private constructor(dir: string, options: LogOptions) {
    this.dir = dir;
    this.config = parseLogConfig(options.config ?? {});
    this.cache = options.fileCache ?? sharedFileHandleCache();
    this.now = options.now ?? Date.now;
    this.onCompactionStep = options.onCompactionStep ?? (() => {});
    this.epochCache = new LeaderEpochCache(dir);
    this.lastFlushMs = this.now();
    this.recovery = emptyReport();
  }

  /**
   * Opens (creating if needed) the log in `dir`. Without the clean-shutdown
   * marker it recovers: every segment at or after the recovery point is
   * CRC-checked batch by batch and the log is cut at the first bad byte.
   */
  static open(dir: string, options: LogOptions = {}): PartitionLog {
    mkdirSync(dir, { recursive: true });
    const log = new PartitionLog(dir, options);
    log.load(options.fullRecovery ?? false, options.highWatermark);
    return log;
  }

  // ---------------------------------------------------------------- opening

  private load(forceFullRecovery: boolean, checkpointedHighWatermark: number | undefined): void {
    const report = this.recovery;
    report.interruptedCompaction = recoverInterruptedCompaction(this.dir).outcome;
    const names = readdirSync(this.dir);
    const bases: number[] = [];
    const logs = new Set<string>();
    for (const name of names) {
      const m = /^(\d{20})\.log$/.exec(name);
      if (m) {
        bases.push(Number(m[1]));
        logs.add(m[1] as string);
      }
    }
    // Leftovers of interrupted writes: temp checkpoints, indexes without a segment.
    for (const name of names) {
      const m = /^(\d{20})\.(index|timeindex)$/.exec(name);
      if ((m && !logs.has(m[1] as string)) || name.endsWith('.tmp') || name.endsWith('.deleted')) {
        unlinkIfExists(join(this.dir, name));
      }
    }
    bases.sort((a, b) => a - b);
    for (const base of bases) {
      const st = statSync(join(this.dir, `${segmentFileStem(base)}${LOG_FILE_SUFFIX}`));
      this.segments.push(new Segment(this.dir, base, st.size, st.mtimeMs));
    }

    const markerPath = join(this.dir, CLEAN_SHUTDOWN_FILE);
    let clean = false;
    try {
      statSync(markerPath);
      clean = true;
    } catch {
      clean = false;
    }
    report.cleanShutdown = clean;

    let fullRecovery = forceFullRecovery;
    let checkpointed: PartitionState | undefined;
    try {
      checkpointed = this.readState();
    } catch (err) {
      if (!isRaftkaError(err)) throw err;
      report.corruptCheckpoints.push(PARTITION_STATE_CHECKPOINT);
      fullRecovery = true;
    }
    let epochsLoaded = false;
    try {
      epochsLoaded = this.epochCache.load();
    } catch (err) {
      if (!isRaftkaError(err)) throw err;
      report.corruptCheckpoints.push(this.epochCache.path.slice(this.dir.length + 1));
      fullRecovery = true;
    }
    if (this.segments.length > 0 && !epochsLoaded) fullRecovery = true;

    const brandNew = this.segments.length === 0 && checkpointed === undefined && !epochsLoaded;
    // A brand-new log has nothing to write yet: its first flush writes the state.
    let skipStateWrite = brandNew;
    if (this.segments.length === 0) {
      const start = checkpointed?.logStartOffset ?? 0;
      this.segments.push(Segment.create(this.dir, start, this.now()));
      // A brand-new log holds nothing to lose: a crash before its first flush
      // leaves an empty directory or segment, which opens the same way. Creating
      // a topic of thousands of partitions then costs no fsync per partition.
      if (!brandNew) fsyncDir(this.dir);
      this.epochCache.clear(false);
      this.state = { highWatermark: start, recoveryPoint: start, logStartOffset: start, cleanerOffset: start };
    } else {
      const active = this.activeSegment;
      let needRecovery = !clean || fullRecovery || checkpointed === undefined;
      if (!needRecovery && !active.loadIndexes(this.cache, this.config)) {
        // Even after a clean shutdown the active segment's tail must frame correctly.
        report.indexesRebuilt++;
        needRecovery = true;
        fullRecovery = true;
      }
      // After a process crash the scan usually finds every byte intact (the
      // page cache outlived the process). Such a recovery changes nothing on
      // disk, so it writes nothing: the scanned bytes count as unflushed, the
      // recovery point stays (0 for a log never flushed), and the next flush
      // makes both durable. A restarted broker with a thousand logs saves
      // three fsyncs per log. A cut, a corrupt checkpoint, or a clean
      // shutdown whose tail did not frame are made durable at once.
      let durableRecovery = false;
      if (needRecovery) {
        const recoveryPoint = fullRecovery || checkpointed === undefined ? 0 : checkpointed.recoveryPoint;
        if (fullRecovery) this.epochCache.clear(false);
        // A never-compacted delete-policy log promises dense offsets from the cleaner offset on.
        const denseFrom =
          checkpointed !== undefined && this.config.cleanupPolicy === 'delete' ? checkpointed.cleanerOffset : undefined;
        const epochsBefore = JSON.stringify(this.epochCache.all());
        const cut = this.recoverFrom(recoveryPoint, denseFrom);
        durableRecovery = cut || clean || report.corruptCheckpoints.length > 0;
        if (durableRecovery) this.flushSegmentsAndDir();
        else if (JSON.stringify(this.epochCache.all()) !== epochsBefore) this.epochsDirty = true;
        // A log never flushed has no state file, and an intact scan is no reason to write one.
        if (!durableRecovery && checkpointed === undefined) skipStateWrite = true;
      }
      const first = (this.segments[0] as Segment).baseOffset;
      const leo = this.logEndOffset;
      const lso = Math.min(Math.max(checkpointed?.logStartOffset ?? first, first), leo);
      this.state = {
        logStartOffset: lso,
        highWatermark: Math.min(Math.max(checkpointed?.highWatermark ?? lso, lso), leo),
        recoveryPoint: durableRecovery ? leo : Math.min(checkpointed?.recoveryPoint ?? 0, leo),
        cleanerOffset: Math.min(Math.max(checkpointed?.cleanerOffset ?? first, first), leo),
      };
      this.unflushedRecords = leo - this.state.recoveryPoint;
      this.epochCache.truncateFromEnd(leo, false);
      this.epochCache.truncateFromStart(lso, false);
      if (durableRecovery) this.epochCache.replace(this.epochCache.all());
    }
    report.logEndOffset = this.logEndOffset;
    const s = this.state;
    const unchanged =
      checkpointed !== undefined &&
      checkpointed.highWatermark === s.highWatermark &&
      checkpointed.recoveryPoint === s.recoveryPoint &&
      checkpointed.logStartOffset === s.logStartOffset &&
      checkpointed.cleanerOffset === s.cleanerOffset;
    if (!skipStateWrite && !unchanged) this.writeState();
    if (checkpointedHighWatermark !== undefined && checkpointedHighWatermark > s.highWatermark) {
      // Left unwritten on purpose: the broker's file is the newer record of
      // it, and the next durable write of this log's state carries it along.
      s.highWatermark = Math.min(checkpointedHighWatermark, this.logEndOffset);
    }
    if (clean) {
      unlinkSync(markerPath);
      fsyncDir(this.dir);
    }
  }

  /**
   * Scans every segment that may hold offsets >= recoveryPoint with CRC
   * checks, rebuilding its indexes and the epoch cache; cuts the log at the
   * first invalid byte and deletes every later segment. Returns whether it
   * cut anything.
   */
  private recoverFrom(recoveryPoint: number, denseFrom: number | undefined): boolean {
    const report = this.recovery;
    let startIdx = this.segments.length - 1;
    while (startIdx > 0 && (this.segments[startIdx] as Segment).baseOffset > recoveryPoint) startIdx--;
    const startOffset = (this.segments[startIdx] as Segment).baseOffset;
    report.recoveredFrom = startOffset;
    this.epochCache.truncateFromEnd(startOffset, false);
    let minBase = startOffset;
    let minEpoch = this.epochCache.latestEpoch();
    for (let i = startIdx; i < this.segments.length; i++) {
      const seg = this.segments[i] as Segment;
      if (seg.baseOffset < minBase) {
        report.truncationReason = `segment ${seg.baseOffset} overlaps offsets below ${minBase}`;
        this.dropSegmentsFrom(i);
        break;
      }
      // Offsets must be dense unless the segment may have been compacted (or we cannot tell).
      const dense = denseFrom !== undefined && seg.baseOffset >= denseFrom;
      if (dense && i > startIdx && seg.baseOffset !== minBase) {
        report.truncationReason = `segment ${seg.baseOffset} does not start at the previous segment's end ${minBase}`;
        this.dropSegmentsFrom(i);
        break;
      }
      report.segmentsScanned++;
      const scan = seg.rebuild(
        this.cache,
        this.config,
        true,
        dense ? seg.baseOffset : minBase,
        (b) => {
          if (b.partitionLeaderEpoch >= 0) this.epochCache.assign(b.partitionLeaderEpoch, b.baseOffset, false);
        },
        { dense, minLeaderEpoch: minEpoch },
      );
      minEpoch = scan.lastLeaderEpoch;
      report.indexesRebuilt++;
      report.batchesScanned += scan.batches;
      seg.dirty = true;
      if (scan.validBytes < seg.sizeBytes) {
        report.truncationReason = scan.invalidReason ?? 'invalid bytes';
        report.droppedBytes += seg.sizeBytes - scan.validBytes;
        report.droppedBatches += countDroppedBatches(this.cache, seg, scan.validBytes);
        seg.truncateAt(this.cache, scan.validBytes, scan.nextOffset);
        seg.nextOffset = scan.nextOffset;
        this.dropSegmentsFrom(i + 1);
        break;
      }
      minBase = seg.nextOffset;
    }
    this.activeSegment.loadIndexes(this.cache, this.config);
    return report.truncationReason !== undefined;
  }

  private flushSegmentsAndDir(): void {
    for (const seg of this.segments) if (seg.dirty) seg.fsync(this.cache);
    fsyncDir(this.dir);
  }

  private dropSegmentsFrom(index: number): void {
    const report = this.recovery;
    for (const seg of this.segments.slice(index)) {
      report.droppedSegments++;
      report.droppedBytes += seg.sizeBytes;
      report.droppedBatches += countDroppedBatches(this.cache, seg, 0);
      seg.deleteFiles(this.cache);
    }
    this.segments = this.segments.slice(0, index);
    if (this.segments.length === 0) {
      // Impossible by construction (index >= 1 or the first segment is kept), but never leave no segment.
      this.segments.push(Segment.create(this.dir, 0, this.now()));
    }
  }

  // ------------------------------------------------------------- checkpoints

  private readState(): PartitionState | undefined {
    const path = join(this.dir, PARTITION_STATE_CHECKPOINT);
    const lines = readCheckpoint(path, STATE_KIND, STATE_VERSION);
    if (lines === undefined) return undefined;
    const f = parseIntegerFields(path, lines, STATE_FIELDS);
    return {
      highWatermark: f['high-watermark'] as number,
      recoveryPoint: f['recovery-point'] as number,
      logStartOffset: f['log-start-offset'] as number,
      cleanerOffset: f['cleaner-offset'] as number,
    };
  }

  private writeState(): void {
    const s = this.state;
    writeFileAtomic(
      join(this.dir, PARTITION_STATE_CHECKPOINT),
      encodeCheckpoint(STATE_KIND, STATE_VERSION, [
        `high-watermark ${s.highWatermark}`,
        `recovery-point ${s.recoveryPoint}`,
        `log-start-offset ${s.logStartOffset}`,
        `cleaner-offset ${s.cleanerOffset}`,
      ]),
    );
  }

  // ----------------------------------------------------------------- getters

  private get activeSegment(): Segment {
    return this.segments[this.segments.length - 1] as Segment;
  }

  get logEndOffset(): number {
    return this.activeSegment.nextOffset;
  }

  get logStartOffset(): number {
    return this.state.logStartOffset;
  }

  get highWatermark(): number {
    return this.state.highWatermark;
  }

  get recoveryPoint(): number {
    return this.state.recoveryPoint;
  }

  get logConfig(): Readonly<LogConfig> {
    return this.config;
  }

  /** Total bytes of all segments. */
  get sizeBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.sizeBytes;
    return total;
  }

  segmentInfos(): SegmentInfo[] {
    return this.segments.map((s, i) => ({
      baseOffset: s.baseOffset,
      sizeBytes: s.sizeBytes,
      endOffset: i === this.segments.length - 1 ? s.nextOffset : (this.segments[i + 1] as Segment).baseOffset,
    }));
  }

  leaderEpochEntries(): EpochEntry[] {
    return this.epochCache.all();
  }

  latestEpoch(): number {
    return this.epochCache.latestEpoch();
  }

  /**
   * A new leader records its epoch as starting at its LEO before it appends
   * anything (Kafka's maybeAssignEpochStartOffset), so a follower that fetched
   * in an epoch this log never had learns where the logs part.
   */
  assignEpochStartOffset(leaderEpoch: number): void {
    this.storage(() => {
      this.ensureOpen();
      // No fsync here: a broker taking leadership of thousands of partitions at
      // once would spend seconds in fsync. The entry covers no batch yet; it is
      // made durable before the recovery point passes it (persistEpochs).
      if (this.epochCache.assign(leaderEpoch, this.logEndOffset, false)) this.epochsDirty = true;
    });
  }

  private persistEpochs(): void {
    if (!this.epochsDirty) return;
    this.epochCache.flush();
    this.epochsDirty = false;
  }

  /** OffsetsForLeaderEpoch: see LeaderEpochCache.endOffsetFor. */
  endOffsetForEpoch(requestedEpoch: number): EpochEndOffset {
    return this.epochCache.endOffsetFor(requestedEpoch, this.logEndOffset);
  }

  /** Sets the HW (clamped to [log start, LEO]); persisted by the next checkpoint. */
  updateHighWatermark(highWatermark: number): number {
    this.state.highWatermark = Math.min(Math.max(highWatermark, this.state.logStartOffset), this.logEndOffset);
    return this.state.highWatermark;
  }

  updateConfig(properties: Record<string, unknown>): void {
    this.config = parseLogConfig(properties);
  }

  private ensureOpen(): void {
    if (this.closed) throw new RaftkaError('KAFKA_STORAGE_ERROR', `log ${this.dir} is closed`);
    if (this.offlineReason !== undefined) {
      throw new RaftkaError('KAFKA_STORAGE_ERROR', `log ${this.dir} is offline: ${this.offlineReason}`);
    }
  }

  /**
   * Runs a public operation; an I/O error (EIO, ENOSPC, ...) takes the log
   * offline, as Kafka takes a log directory offline, and surfaces as
   * KAFKA_STORAGE_ERROR. The broker should stop leading or following the
   * partition; reopening the log runs recovery.
   */
  private storage<T>(fn: () => T): T {
    this.ensureOpen();
    try {
      return fn();
    } catch (err) {
      const io = err as NodeJS.ErrnoException;
      if (isRaftkaError(err) || typeof io?.code !== 'string' || typeof io.syscall !== 'string') throw err;
      this.offlineReason = `${io.code} in ${io.syscall}${io.path ? ` (${io.path})` : ''}`;
      throw new RaftkaError('KAFKA_STORAGE_ERROR', `log ${this.dir} went offline: ${this.offlineReason}`, {
        cause: err,
      });
    }
  }

  /** Why the log went offline after an I/O error, if it did. */
  get offline(): string | undefined {
    return this.offlineReason;
  }

  // ------------------------------------------------------------------ append

  private parseBatches(buf: Buffer): ScannedBatch[] {
    const out: ScannedBatch[] = [];
    let pos = 0;
    // Bounded: each step advances by a batch of at least HEADER_BYTES.
    while (pos < buf.length) {
      if (buf.length - pos < HEADER_BYTES) {
        throw new RaftkaError('CORRUPT_MESSAGE', `${buf.length - pos} trailing bytes are not a batch`);
      }
      const b = parseScannedBatch(buf, pos, pos);
      if (b.sizeBytes < HEADER_BYTES || pos + b.sizeBytes > buf.length) {
        throw new RaftkaError('CORRUPT_MESSAGE', `batch at ${pos} claims ${b.sizeBytes} bytes`);
      }
      if (buf.readInt8(pos + Offsets.magic) !== MAGIC_V2)
        throw new RaftkaError('CORRUPT_MESSAGE', `batch at ${pos} is not magic 2`);
      if (b.lastOffset < b.baseOffset)
        throw new RaftkaError('CORRUPT_MESSAGE', `batch at ${pos} has a negative lastOffsetDelta`);
      out.push(b);
      pos += b.sizeBytes;
    }
    if (out.length === 0) throw new RaftkaError('INVALID_RECORD', 'empty append');
    return out;
  }

  /**
   * Appends producer batches (already validated by the broker) at the log
   * end: assigns offsets from the LEO and stamps the leader epoch, in place in
   * `batches` (both fields sit outside the CRC), then writes the bytes as they
   * are.
   */
  appendAsLeader(batches: Buffer, leaderEpoch: number): AppendInfo {
    return this.storage(() => {
      this.ensureOpen();
      assert(Number.isInteger(leaderEpoch) && leaderEpoch >= 0, `bad leader epoch ${leaderEpoch}`);
      const parsed = this.parseBatches(batches);
      let next = this.logEndOffset;
      for (const b of parsed) {
        const delta = b.lastOffset - b.baseOffset;
        stampBatch(batches.subarray(b.position, b.position + b.sizeBytes), next, leaderEpoch);
        b.baseOffset = next;
        b.lastOffset = next + delta;
        b.partitionLeaderEpoch = leaderEpoch;
        next += delta + 1;
      }
      // Not fsynced here: see persistEpochs. The batches are not either.
      if (this.epochCache.assign(leaderEpoch, (parsed[0] as ScannedBatch).baseOffset, false)) this.epochsDirty = true;
      return this.appendBatches(batches, parsed);
    });
  }

  /**
   * Appends batches copied from the leader, offsets and epochs included. The
   * first must start at the LEO and the batches must be contiguous; on a
   * compacted topic a batch may start past the previous one's end (cleaned
   * offsets are gone from the leader too), never before it.
   */
  appendAsFollower(batches: Buffer): AppendInfo {
    return this.storage(() => {
      this.ensureOpen();
      const parsed = this.parseBatches(batches);
      const gapsAllowed = hasCompact(this.config.cleanupPolicy);
      let expected = this.logEndOffset;
      for (const b of parsed) {
        if (b.baseOffset < expected || (b.baseOffset > expected && !gapsAllowed)) {
          throw new UnexpectedAppendOffsetError(
            `follower append at offset ${b.baseOffset} but the log expects ${expected} (log end offset ${this.logEndOffset})`,
            expected,
            b.baseOffset,
          );
        }
        expected = b.lastOffset + 1;
      }
      for (const b of parsed) {
        // A follower taking a new epoch on a thousand partitions must not fsync a thousand files in one
        // fetch answer: the entry is written before the recovery point passes it (persistEpochs).
        if (b.partitionLeaderEpoch >= 0 && this.epochCache.assign(b.partitionLeaderEpoch, b.baseOffset, false)) {
          this.epochsDirty = true;
        }
      }
      return this.appendBatches(batches, parsed);
    });
  }

  private appendBatches(buf: Buffer, parsed: ScannedBatch[]): AppendInfo {
    const first = parsed[0] as ScannedBatch;
    const last = parsed[parsed.length - 1] as ScannedBatch;
    let records = 0;
    let maxTimestamp = -1;
    for (const b of parsed) {
      records += b.recordCount;
      maxTimestamp = Math.max(maxTimestamp, b.maxTimestamp);
    }
    this.maybeRoll(buf.length, first.baseOffset, last.lastOffset, maxTimestamp);
    this.activeSegment.append(this.cache, buf, parsed, this.config);
    this.activeSegment.nextOffset = last.lastOffset + 1;
    this.unflushedRecords += records;
    if (this.unflushedRecords >= this.config.flushMessages) this.flush();
    else this.maybeFlush();
    return {
      firstOffset: first.baseOffset,
      lastOffset: last.lastOffset,
      batches: parsed.length,
      records,
      sizeBytes: buf.length,
      maxTimestamp,
    };
  }

  private maybeRoll(appendBytes: number, firstOffset: number, lastOffset: number, maxTimestamp: number): void {
    const seg = this.activeSegment;
    const config = this.config;
    if (seg.sizeBytes === 0 && seg.baseOffset === firstOffset) return;
    // Kafka's timeWaitedForRoll: the incoming batch's timestamp against the segment's first
    // batch, or the wall clock against the segment's creation when timestamps are unknown.
    const ageMs =
      seg.firstBatchTimestamp >= 0 && maxTimestamp >= 0
        ? maxTimestamp - seg.firstBatchTimestamp
        : this.now() - seg.createdMs;
    const roll =
      seg.sizeBytes + appendBytes > config.segmentBytes ||
      (seg.sizeBytes > 0 && ageMs > config.segmentMs) ||
      seg.indexFull(config) ||
      !seg.canHoldOffset(lastOffset) ||
      (seg.sizeBytes === 0 && seg.baseOffset !== firstOffset);
    if (roll) this.roll(firstOffset);
  }

  /**
   * Seals the active segment and starts a new one at `baseOffset` (the LEO
   * unless a follower's next batch starts past a compacted gap). The sealed
   * segment is flushed right away, as Kafka schedules on roll, so the
   * recovery point never lags more than one segment.
   */
  roll(baseOffset = this.logEndOffset): void {
    this.storage(() => {
      this.ensureOpen();
      const old = this.activeSegment;
      assert(baseOffset >= this.logEndOffset, `roll to ${baseOffset} below the LEO ${this.logEndOffset}`);
      if (old.sizeBytes === 0 && old.baseOffset === baseOffset) return;
      if (old.sizeBytes === 0 && this.segments.length > 1) {
        // Nothing to seal: replace the empty segment (a follower skipping a compacted gap).
        old.deleteFiles(this.cache);
        this.segments.pop();
      } else {
        // An empty first segment stays: its base offset is what bounds the log start offset on open.
        old.seal(this.cache);
      }
      this.segments.push(Segment.create(this.dir, baseOffset, this.now()));
      fsyncDir(this.dir);
      this.persistEpochs();
      if (old.sizeBytes > 0) this.flushSealedSegmentAsync(old);
    });
  }

  /**
   * Kafka flushes a sealed segment on its scheduler thread; we hand the fsync
   * to libuv's thread pool so a 1 GiB fsync never blocks the event loop. The
   * recovery point moves once every earlier pending flush has completed too,
   * and not at all if the log was truncated meanwhile.
   */
  private flushSealedSegmentAsync(seg: Segment): void {
    const entry = { endOffset: seg.nextOffset, done: false, generation: this.generation };
    this.pendingFlushes.push(entry);
    let fd: number;
    try {
      fd = openSync(seg.logPath, 'r');
    } catch {
      return; // deleted already; a later flush() covers it
    }
    fsync(fd, (err) => {
      closeSync(fd);
      if (err || this.closed || entry.generation !== this.generation || !this.pendingFlushes.includes(entry)) return;
      try {
        for (const path of [seg.offsetIndex.path, seg.timeIndex.path]) fsyncSync(this.cache.fd(path));
      } catch {
        return;
      }
      entry.done = true;
      let advanced = false;
      // Bounded by the queue length.
      while (this.pendingFlushes[0]?.done) {
        const first = this.pendingFlushes.shift() as typeof entry;
        if (first.endOffset > this.state.recoveryPoint && first.endOffset <= this.logEndOffset) {
          this.state.recoveryPoint = first.endOffset;
          advanced = true;
        }
      }
      if (advanced) this.writeState();
    });
  }

  // ------------------------------------------------------------------- flush

  /** fsyncs every segment with unflushed bytes, then moves the recovery point to the LEO. */
  flush(): void {
    this.storage(() => {
      this.ensureOpen();
      this.persistEpochs();
      for (const seg of this.segments) if (seg.dirty) seg.fsync(this.cache);
      this.pendingFlushes = [];
      this.unflushedRecords = 0;
      this.lastFlushMs = this.now();
      if (this.state.recoveryPoint !== this.logEndOffset) {
        this.state.recoveryPoint = this.logEndOffset;
        this.writeState();
      }
    });
  }

  /** flush.ms: the broker's scheduler calls this; appends call it too. */
  maybeFlush(): boolean {
    if (this.unflushedRecords > 0 && this.now() - this.lastFlushMs >= this.config.flushMs) {
      this.flush();
      return true;
    }
    return false;
  }

  /** Flushes, checkpoints and writes the clean-shutdown marker so the next open skips recovery. */
  close(): void {
    if (this.closed) return;
    this.storage(() => {
      const active = this.activeSegment;
      active.seal(this.cache);
      for (const seg of this.segments) if (seg.dirty) seg.fsync(this.cache);
      this.state.recoveryPoint = this.logEndOffset;
      this.writeState();
      // A log that never saw an epoch has no epoch checkpoint yet; without one the next open recovers.
      if (this.epochsDirty || !existsSync(this.epochCache.path)) this.epochCache.flush();
      this.epochsDirty = false;
      const marker = join(this.dir, CLEAN_SHUTDOWN_FILE);
      const fd = openSync(marker, 'w');
      fsyncSync(fd);
      closeSync(fd);
      fsyncDir(this.dir);
      for (const seg of this.segments) seg.closeFiles(this.cache);
      this.closed = true;
    });
  }

  /** Drops the log's descriptors without flushing or marking a clean shutdown (tests: simulated crash). */
  abandon(): void {
    for (const seg of this.segments) seg.closeFiles(this.cache);
    this.closed = true;
  }

  // -------------------------------------------------------------------- read

  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.segments[mid] as Segment).baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The first batch holding an offset >= `offset`, and its segment. */
  private locate(offset: number): { seg: Segment; batch: ScannedBatch } | undefined {
    for (let i = this.segmentIndexFor(offset); i < this.segments.length; i++) {
      const seg = this.segments[i] as Segment;
      const batch = seg.findBatch(this.cache, this.config, Math.max(offset, seg.baseOffset));
      if (batch) return { seg, batch };
    }
    return undefined;
  }

  /**
   * Reads whole batches from `fetchOffset` up to `maxBytes` (at least one
   * batch unless minOneBatch is false). The batch holding fetchOffset is
   * returned whole even if it starts before it, as Kafka does; consumers skip
   * the records below their position. Reads stay inside one segment.
   */
  read(fetchOffset: number, maxBytes: number, options: ReadOptions = {}): LogReadResult {
    return this.storage(() => {
      this.ensureOpen();
      const leo = this.logEndOffset;
      if (fetchOffset < this.state.logStartOffset || fetchOffset > leo) {
        throw new RaftkaError(
          'OFFSET_OUT_OF_RANGE',
          `fetch offset ${fetchOffset} is outside [${this.state.logStartOffset}, ${leo}]`,
        );
      }
      const upper = Math.min(options.maxOffset ?? leo, leo);
      const result: LogReadResult = {
        records: Buffer.alloc(0),
        batches: [],
        firstOffset: -1,
        nextOffset: fetchOffset,
        logStartOffset: this.state.logStartOffset,
        logEndOffset: leo,
        highWatermark: this.state.highWatermark,
      };
      if (fetchOffset >= upper) return result;
      const found = this.locate(fetchOffset);
      if (!found || found.batch.lastOffset >= upper) return result;
      const { seg, batch } = found;
      const minOne = options.minOneBatch ?? true;
      if (!minOne && batch.sizeBytes > maxBytes) return result;
      const readBytes = Math.min(seg.sizeBytes - batch.position, Math.max(batch.sizeBytes, maxBytes));
      const buf = seg.read(this.cache, batch.position, readBytes);
      let pos = 0;
      // Bounded by buf.length: each step consumes one whole batch.
      while (buf.length - pos >= HEADER_BYTES) {
        const b = parseScannedBatch(buf, pos, pos);
        if (b.sizeBytes < HEADER_BYTES || pos + b.sizeBytes > buf.length || b.lastOffset >= upper) break;
        if (pos > 0 && pos + b.sizeBytes > maxBytes) break;
        result.batches.push(buf.subarray(pos, pos + b.sizeBytes));
        if (result.firstOffset < 0) result.firstOffset = b.baseOffset;
        result.nextOffset = b.lastOffset + 1;
        pos += b.sizeBytes;
      }
      result.records = buf.subarray(0, pos);
      return result;
    });
  }

  /**
   * ListOffsets: the first offset whose record timestamp is >= `timestamp`
   * (undefined when none), or the log start / end offset for the special
   * EARLIEST (-2) / LATEST (-1) timestamps.
   */
  offsetForTimestamp(timestamp: number): TimestampOffset | undefined {
    return this.storage(() => {
      this.ensureOpen();
      if (timestamp === EARLIEST_TIMESTAMP) return { offset: this.state.logStartOffset, timestamp: -1 };
      if (timestamp === LATEST_TIMESTAMP) return { offset: this.logEndOffset, timestamp: -1 };
      const lso = this.state.logStartOffset;
      for (const seg of this.segments) {
        seg.loadIndexes(this.cache, this.config);
        if (seg.maxTimestamp < timestamp || seg.nextOffset <= lso) continue;
        const startRel = seg.timeIndex.lookup(timestamp);
        const startPos = seg.offsetIndex.lookup(startRel);
        let answer: TimestampOffset | undefined;
        scanBatches(this.cache, seg.logPath, seg.baseOffset, startPos.position, seg.sizeBytes, {
          verifyCrc: false,
          minBaseOffset: seg.baseOffset + startPos.relativeOffset,
          onBatch: (b, bytes) => {
            if (b.maxTimestamp < timestamp || b.lastOffset < lso || bytes === undefined) return true;
            const offset = firstOffsetAtOrAfterTimestamp(bytes, timestamp, lso);
            if (offset === undefined) return true;
            answer = { offset, timestamp: b.maxTimestamp };
            return false;
          },
        });
        if (answer) return answer;
      }
      return undefined;
    });
  }

  // --------------------------------------------------------------- truncation

  /**
   * Follower truncation (KIP-101): removes every batch holding an offset >=
   * `offset`. A batch that straddles `offset` goes whole, so the LEO may end
   * below `offset`. Returns true if anything was removed.
   */
  truncateTo(offset: number): boolean {
    return this.storage(() => {
      this.ensureOpen();
      assert(offset >= 0, `truncateTo(${offset})`);
      if (offset >= this.logEndOffset) return false;
      this.generation++;
      this.pendingFlushes = [];
      if (offset < this.state.logStartOffset) {
        this.truncateFullyAndStartAt(offset);
        return true;
      }
      while (this.segments.length > 1 && this.activeSegment.baseOffset > offset) {
        (this.segments.pop() as Segment).deleteFiles(this.cache);
      }
      const seg = this.activeSegment;
      const batch = seg.findBatch(this.cache, this.config, offset);
      const newEnd = batch ? Math.min(batch.baseOffset, offset) : offset;
      if (batch) seg.truncateAt(this.cache, batch.position, newEnd);
      seg.rebuild(this.cache, this.config, false, seg.baseOffset);
      seg.nextOffset = Math.max(newEnd, seg.baseOffset);
      seg.fsync(this.cache);
      fsyncDir(this.dir);
      const leo = this.logEndOffset;
      // The removed entries all start at or above the new recovery point, which
      // is written durably below; a reopen drops or rebuilds them from there.
      this.epochCache.truncateFromEnd(leo, false);
      this.epochsDirty = true;
      this.state.recoveryPoint = Math.min(this.state.recoveryPoint, leo);
      this.state.highWatermark = Math.min(this.state.highWatermark, leo);
      this.state.cleanerOffset = Math.min(this.state.cleanerOffset, leo);
      this.writeState();
      return true;
    });
  }

  /** Drops the whole log and restarts it empty at `offset` (a follower far behind the leader's log start). */
  truncateFullyAndStartAt(offset: number): void {
    this.storage(() => {
      this.ensureOpen();
      assert(offset >= 0, `truncateFullyAndStartAt(${offset})`);
      this.generation++;
      this.pendingFlushes = [];
      for (const seg of this.segments) seg.deleteFiles(this.cache);
      this.segments = [Segment.create(this.dir, offset, this.now())];
      fsyncDir(this.dir);
      this.epochCache.clear();
      this.state = { highWatermark: offset, recoveryPoint: offset, logStartOffset: offset, cleanerOffset: offset };
      this.unflushedRecords = 0;
      this.writeState();
    });
  }

  // ---------------------------------------------------------------- retention

  /**
   * DeleteRecords: moves the log start offset up to `offset` (at most the
   * HW) and deletes segments that lie wholly below it. Records below the new
   * start stay on disk until their segment goes but are never read.
   */
  deleteRecordsBefore(offset: number): DeletionResult {
    return this.storage(() => {
      this.ensureOpen();
      if (offset > this.state.highWatermark) {
        throw new RaftkaError(
          'OFFSET_OUT_OF_RANGE',
          `cannot delete records before ${offset}: above the high watermark ${this.state.highWatermark}`,
        );
      }
      if (offset > this.state.logStartOffset) {
        this.state.logStartOffset = offset;
        this.state.cleanerOffset = Math.max(this.state.cleanerOffset, offset);
        this.epochCache.truncateFromStart(offset);
        this.writeState();
      }
      return this.deleteSegmentsWhile((_seg, end) => end <= this.state.logStartOffset);
    });
  }

  /**
   * Retention: deletes sealed segments that lie below the log start offset,
   * then (cleanup.policy with delete) those whose newest record is older
   * than retention.ms and, oldest first, those that put the log over
   * retention.bytes. Only whole segments below the HW go; never the active one.
   */
  deleteOldSegments(): DeletionResult {
    return this.storage(() => {
      this.ensureOpen();
      const now = this.now();
      const config = this.config;
      const total = this.deleteSegmentsWhile((_seg, end) => end <= this.state.logStartOffset);
      if (!hasDelete(config.cleanupPolicy)) return total;
      const byTime =
        config.retentionMs < 0
          ? { deletedSegments: 0, deletedBytes: 0 }
          : this.deleteSegmentsWhile((seg, end) => {
              seg.loadIndexes(this.cache, this.config);
              return end <= this.state.highWatermark && now - seg.maxTimestamp > config.retentionMs;
            });
      let size = config.retentionBytes < 0 ? 0 : this.sizeBytes;
      const bySize =
        config.retentionBytes < 0
          ? { deletedSegments: 0, deletedBytes: 0 }
          : this.deleteSegmentsWhile((seg, end) => {
              if (end > this.state.highWatermark || size - seg.sizeBytes < config.retentionBytes) return false;
              size -= seg.sizeBytes;
              return true;
            });
      return {
        deletedSegments: total.deletedSegments + byTime.deletedSegments + bySize.deletedSegments,
        deletedBytes: total.deletedBytes + byTime.deletedBytes + bySize.deletedBytes,
        logStartOffset: this.state.logStartOffset,
      };
    });
  }

  private deleteSegmentsWhile(pred: (seg: Segment, endOffset: number) => boolean): DeletionResult {
    let deletedSegments = 0;
    let deletedBytes = 0;
    // Bounded by the segment count; the active segment is never deleted.
    while (this.segments.length > 1) {
      const seg = this.segments[0] as Segment;
      const end = (this.segments[1] as Segment).baseOffset;
      if (!pred(seg, end)) break;
      seg.deleteFiles(this.cache);
      this.segments.shift();
      deletedSegments++;
      deletedBytes += seg.sizeBytes;
    }
    if (deletedSegments > 0) {
      fsyncDir(this.dir);
      const first = (this.segments[0] as Segment).baseOffset;
      if (first > this.state.logStartOffset) {
        this.state.logStartOffset = first;
        this.state.highWatermark = Math.max(this.state.highWatermark, first);
        this.state.cleanerOffset = Math.max(this.state.cleanerOffset, first);
        this.epochCache.truncateFromStart(first);
      }
      this.writeState();
    }
    return { deletedSegments, deletedBytes, logStartOffset: this.state.logStartOffset };
  }

  // --------------------------------------------------------------- compaction

  /** Dirty bytes / cleanable bytes over the sealed segments (min.cleanable.dirty.ratio compares to it). */
  cleanableDirtyRatio(): number {
    let clean = 0;
    let dirty = 0;
    for (let i = 0; i < this.segments.length - 1; i++) {
      const seg = this.segments[i] as Segment;
      if (seg.baseOffset >= this.state.cleanerOffset) dirty += seg.sizeBytes;
      else clean += seg.sizeBytes;
    }
    return clean + dirty === 0 ? 0 : dirty / (clean + dirty);
  }

  /** True when cleanup.policy has compact and the dirty ratio reached min.cleanable.dirty.ratio. */
  needsCompaction(): boolean {
    const ratio = this.cleanableDirtyRatio();
    return hasCompact(this.config.cleanupPolicy) && ratio > 0 && ratio >= this.config.minCleanableDirtyRatio;
  }

  /**
   * Log compaction: keeps the latest record per key in the sealed segments
   * that lie wholly below `upperBoundOffset` (default: the HW), drops
   * tombstones whose timestamp is older than delete.retention.ms, and keeps
   * every kept record's offset. Never touches the active segment. Crash-safe
   * through .cleaned/.swap files (compaction-files.ts).
   */
  compact(upperBoundOffset = this.state.highWatermark): CompactionResult {
    return this.storage(() => {
      this.ensureOpen();
      const result: CompactionResult = {
        segmentsCleaned: 0,
        bytesBefore: 0,
        bytesAfter: 0,
        recordsRemoved: 0,
        tombstonesRemoved: 0,
        batchesRemoved: 0,
        cleanedUpTo: this.state.cleanerOffset,
      };
      if (!hasCompact(this.config.cleanupPolicy)) return result;
      const limit = Math.min(upperBoundOffset, this.activeSegment.baseOffset);
      const targets: Segment[] = [];
      for (let i = 0; i < this.segments.length - 1; i++) {
        const end = (this.segments[i + 1] as Segment).baseOffset;
        if (end <= limit) targets.push(this.segments[i] as Segment);
      }
      if (targets.length === 0) return result;
      const cleanedUpTo = (this.segments[targets.length] as Segment).baseOffset;
      const lso = this.state.logStartOffset;

      // Pass 1: the latest offset of every key, and each producer's last batch.
      const latest = new Map<string, number>();
      const producerLastBatch = new Map<number, number>();
      // Each cleaned segment keeps its last batch (emptied if need be) so it still ends
      // where it did: a fetch inside a cleaned gap always finds a later batch.
      const segmentLastBatch = new Set<number>();
      for (const seg of targets) {
        let last = -1;
        this.forEachBatch(seg, (b, bytes) => {
          last = b.baseOffset;
          const attributes = bytes.readInt16BE(Offsets.attributes);
          if ((attributes & KEPT_WHOLE_MASK) !== 0) return; // transactional/control batches are kept whole
          const producerId = Number(bytes.readBigInt64BE(Offsets.producerId));
          if (producerId >= 0) producerLastBatch.set(producerId, b.baseOffset);
          for (const r of rawRecords(bytes)) if (r.key !== null) latest.set(r.key.toString('latin1'), r.offset);
        });
        if (last >= 0) segmentLastBatch.add(last);
      }

      // Pass 2: write the cleaned copies.
      const horizon = this.now() - this.config.deleteRetentionMs;
      const cleanedPaths: string[] = [];
      for (const seg of targets) {
        const path = `${seg.logPath}${CLEANED_SUFFIX}`;
        cleanedPaths.push(path);
        const fd = openSync(path, 'w');
        let size = 0;
        try {
          this.forEachBatch(seg, (b, bytes) => {
            let out: Buffer | undefined = bytes;
            const attributes = bytes.readInt16BE(Offsets.attributes);
            if (b.lastOffset < lso && !segmentLastBatch.has(b.baseOffset)) {
              out = undefined; // below the log start: never readable again
              result.batchesRemoved++;
              result.recordsRemoved += b.recordCount;
            } else if ((attributes & KEPT_WHOLE_MASK) === 0) {
              const records = rawRecords(bytes);
              const kept = records.filter((r) => {
                if (r.key === null) return true;
                if (latest.get(r.key.toString('latin1')) !== r.offset) return false;
                if (r.valueIsNull && r.timestamp < horizon) {
                  result.tombstonesRemoved++;
                  return false;
                }
                return true;
              });
              result.recordsRemoved += records.length - kept.length;
              if (kept.length === 0) {
                const producerId = Number(bytes.readBigInt64BE(Offsets.producerId));
                const keepEmpty =
                  segmentLastBatch.has(b.baseOffset) ||
                  (producerId >= 0 && producerLastBatch.get(producerId) === b.baseOffset);
                out = keepEmpty ? rebuildBatch(bytes, []) : undefined;
                if (!keepEmpty) result.batchesRemoved++;
              } else if (kept.length !== records.length) {
                out = rebuildBatch(bytes, kept);
              }
            }
            if (out) {
              let done = 0;
              while (done < out.length) done += writeSync(fd, out, done, out.length - done, size + done);
              size += out.length;
            }
          });
          fsyncSync(fd);
        } catch (err) {
          closeSync(fd);
          for (const p of cleanedPaths) unlinkIfExists(p);
          throw err;
        }
        closeSync(fd);
        result.bytesBefore += seg.sizeBytes;
        result.bytesAfter += size;
        this.onCompactionStep(`cleaned-written:${seg.baseOffset}`);
      }

      // Commit: every .cleaned becomes .swap, then the directory is fsynced.
      fsyncDir(this.dir);
      for (const seg of targets) {
        const stem = join(this.dir, segmentFileStem(seg.baseOffset));
        renameSync(`${stem}${LOG_FILE_SUFFIX}${CLEANED_SUFFIX}`, `${stem}${LOG_FILE_SUFFIX}${SWAP_SUFFIX}`);
        this.onCompactionStep(`renamed-to-swap:${seg.baseOffset}`);
      }
      fsyncDir(this.dir);
      this.onCompactionStep('swap-committed');

      // Install: replace each old segment by its swap; indexes are rebuilt.
      for (const seg of targets) {
        seg.closeFiles(this.cache);
        installSwap(this.dir, segmentFileStem(seg.baseOffset));
        this.onCompactionStep(`installed:${seg.baseOffset}`);
      }
      fsyncDir(this.dir);
      for (let i = 0; i < targets.length; i++) {
        const old = targets[i] as Segment;
        const fresh = new Segment(this.dir, old.baseOffset, statSync(old.logPath).size, old.createdMs);
        fresh.rebuild(this.cache, this.config, false, old.baseOffset);
        fresh.dirty = true;
        fresh.fsync(this.cache);
        this.segments[i] = fresh;
      }
      fsyncDir(this.dir);
      result.segmentsCleaned = targets.length;
      result.cleanedUpTo = cleanedUpTo;
      this.state.cleanerOffset = Math.max(this.state.cleanerOffset, cleanedUpTo);
      this.writeState();
      this.onCompactionStep('done');
      return result;
    });
  }

  /** Walks a sealed segment's batches with CRC checks; a corrupt batch aborts (KAFKA_STORAGE_ERROR). */
  private forEachBatch(seg: Segment, fn: (b: ScannedBatch, bytes: Buffer) => void): void {
    const scan = scanBatches(this.cache, seg.logPath, seg.baseOffset, 0, seg.sizeBytes, {
      verifyCrc: true,
      minBaseOffset: seg.baseOffset,
      onBatch: (b, bytes) => {
        fn(b, bytes as Buffer);
        return true;
      },
    });
    if (scan.invalidReason !== undefined) {
      throw new RaftkaError(
        'KAFKA_STORAGE_ERROR',
        `segment ${seg.logPath} is corrupt (${scan.invalidReason}); compaction aborted, the log needs repair`,
      );
    }
  }
}
