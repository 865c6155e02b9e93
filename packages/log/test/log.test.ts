import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBatchHeader } from '@raftka/codec';
import { isRaftkaError } from '@raftka/common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CLEAN_SHUTDOWN_FILE,
  EARLIEST_TIMESTAMP,
  FileHandleCache,
  LATEST_TIMESTAMP,
  PARTITION_STATE_CHECKPOINT,
  PartitionLog,
  UnexpectedAppendOffsetError,
} from '../src/index.js';
import { batchOf, recordsOf, removeTempDirs, tempDir, valuesBatch } from './helpers.js';

afterEach(removeTempDirs);

function errorName(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isRaftkaError(err)) return err.errorName;
    throw err;
  }
  throw new Error('expected a RaftkaError');
}

describe('append and read', () => {
  it('assigns dense offsets from the LEO, stamps the leader epoch and keeps the producer bytes', () => {
    const log = PartitionLog.open(tempDir(), { fileCache: new FileHandleCache(10) });
    const a = valuesBatch(3);
    const before = Buffer.from(a);
    expect(log.appendAsLeader(a, 5)).toMatchObject({ firstOffset: 0, lastOffset: 2, records: 3 });
    expect(log.appendAsLeader(valuesBatch(2, 'w'), 5)).toMatchObject({ firstOffset: 3, lastOffset: 4 });
    expect(log.logEndOffset).toBe(5);
    const read = log.read(0, 1 << 20);
    expect(read.batches).toHaveLength(2);
    // Only baseOffset and partitionLeaderEpoch differ from what the producer sent.
    expect(read.batches[0]?.subarray(16)).toEqual(before.subarray(16));
    expect(recordsOf(read).map((r) => [r.offset, r.value, r.epoch])).toEqual([
      [0, 'v0', 5],
      [1, 'v1', 5],
      [2, 'v2', 5],
      [3, 'w0', 5],
      [4, 'w1', 5],
    ]);
    expect(read.nextOffset).toBe(5);
    log.close();
  });

  it('finds batches the same way from its memory of the last appends as from the index, across truncations', () => {
    const dir = tempDir();
    const config = { 'index.interval.bytes': 300, 'segment.bytes': 20_000 };
    const log = PartitionLog.open(dir, { fileCache: new FileHandleCache(10), config });
    for (let i = 0; i < 150; i++) log.appendAsLeader(valuesBatch(1 + (i % 4), `a${i}-`), 1);
    log.truncateTo(log.logEndOffset - 37);
    for (let i = 0; i < 40; i++) log.appendAsLeader(valuesBatch(1 + (i % 3), `b${i}-`), 2);
    const viaMemory = (from: number) => {
      const r = log.read(from, 500);
      return [r.firstOffset, r.nextOffset, r.records.length];
    };
    const expected: number[][] = [];
    for (let o = 0; o < log.logEndOffset; o++) expected.push(viaMemory(o));
    log.close();
    // A reopened log knows no recent batches: every lookup goes through the index.
    const reopened = PartitionLog.open(dir, { fileCache: new FileHandleCache(10), config });
    for (let o = 0; o < reopened.logEndOffset; o++) {
      const r = reopened.read(o, 500);
      expect([r.firstOffset, r.nextOffset, r.records.length]).toEqual(expected[o]);
    }
    reopened.close();
  });

  it('returns the batch holding the fetch offset whole, at least one batch, and respects maxBytes and maxOffset', () => {
    const log = PartitionLog.open(tempDir(), { fileCache: new FileHandleCache(10) });
    for (let i = 0; i < 10; i++) log.appendAsLeader(valuesBatch(4, `b${i}-`), 0);
    const one = log.read(5, 1);
    expect(one.batches).toHaveLength(1);
    expect(one.firstOffset).toBe(4);
    expect(one.nextOffset).toBe(8);
    expect(log.read(5, 1, { minOneBatch: false }).batches).toHaveLength(0);
    const size = one.records.length;
    expect(log.read(4, size * 3).batches).toHaveLength(3);
    expect(log.read(4, size * 3 - 1).batches).toHaveLength(2);
    const upTo = log.read(0, 1 << 20, { maxOffset: 12 });
    expect(upTo.nextOffset).toBe(12);
    expect(log.read(0, 1 << 20, { maxOffset: 11 }).nextOffset).toBe(8);
    expect(log.read(40, 100).batches).toHaveLength(0);
    expect(errorName(() => log.read(41, 100))).toBe('OFFSET_OUT_OF_RANGE');
    log.close();
  });

  it('refuses a follower append that does not continue the log', () => {
    const log = PartitionLog.open(tempDir(), { fileCache: new FileHandleCache(10) });
    const b = valuesBatch(2);
    b.writeBigInt64BE(0n, 0);
    b.writeInt32BE(3, 12);
    log.appendAsFollower(b);
    expect(log.logEndOffset).toBe(2);
    expect(log.latestEpoch()).toBe(3);
    const gap = valuesBatch(1);
    gap.writeBigInt64BE(5n, 0);
    expect(() => log.appendAsFollower(gap)).toThrow(UnexpectedAppendOffsetError);
    gap.writeBigInt64BE(1n, 0);
    expect(() => log.appendAsFollower(gap)).toThrow(UnexpectedAppendOffsetError);
    gap.writeBigInt64BE(2n, 0);
    log.appendAsFollower(gap);
    expect(log.logEndOffset).toBe(3);
    log.close();
  });

  it('rolls by segment.bytes with Kafka file names and reads across segments', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, {
      fileCache: new FileHandleCache(4),
      config: { 'segment.bytes': 1024, 'index.interval.bytes': 100 },
    });
    for (let i = 0; i < 40; i++) log.appendAsLeader(valuesBatch(3, `x${i}-`), 1);
    const segs = log.segmentInfos();
    expect(segs.length).toBeGreaterThan(3);
    for (const s of segs.slice(0, -1)) expect(s.sizeBytes).toBeLessThanOrEqual(1024);
    expect(readdirSync(dir)).toContain('00000000000000000000.log');
    expect(readdirSync(dir)).toContain(`${String(segs[1]?.baseOffset).padStart(20, '0')}.index`);
    let offset = 0;
    const values: string[] = [];
    while (offset < log.logEndOffset) {
      const r = log.read(offset, 300);
      expect(r.batches.length).toBeGreaterThan(0);
      for (const rec of recordsOf(r)) if (rec.offset >= offset) values.push(rec.value as string);
      offset = r.nextOffset;
    }
    expect(values).toHaveLength(120);
    expect(values[119]).toBe('x39-2');
    // The sealed segments' offset indexes have entries every ~100 bytes.
    expect(statSync(join(dir, '00000000000000000000.index')).size).toBeGreaterThan(0);
    log.close();
  });

  it('rolls by segment.ms on the first batch timestamp', () => {
    let now = 10_000;
    const log = PartitionLog.open(tempDir(), {
      fileCache: new FileHandleCache(4),
      config: { 'segment.ms': 1000 },
      now: () => now,
    });
    log.appendAsLeader(batchOf([{ value: 'a', timestamp: 10_000 }]), 0);
    now = 10_500;
    log.appendAsLeader(batchOf([{ value: 'b', timestamp: 10_500 }]), 0);
    expect(log.segmentInfos()).toHaveLength(1);
    now = 11_001;
    log.appendAsLeader(batchOf([{ value: 'c', timestamp: 11_001 }]), 0);
    expect(log.segmentInfos().map((s) => s.baseOffset)).toEqual([0, 2]);
    log.close();
  });

  it('rolls when the index is full', () => {
    const log = PartitionLog.open(tempDir(), {
      fileCache: new FileHandleCache(4),
      config: { 'segment.index.bytes': 40, 'index.interval.bytes': 0 },
    });
    for (let i = 0; i < 20; i++) log.appendAsLeader(valuesBatch(1), 0);
    // 40 bytes hold 5 offset entries: six batches per segment.
    expect(log.segmentInfos().map((s) => s.baseOffset)).toEqual([0, 6, 12, 18]);
    expect(recordsOf(log.read(0, 1 << 20)).length).toBeGreaterThan(0);
    log.close();
  });

  it('finds the first offset at or after a timestamp (ListOffsets), compressed batches included', () => {
    const log = PartitionLog.open(tempDir(), {
      fileCache: new FileHandleCache(8),
      config: { 'segment.bytes': 400, 'index.interval.bytes': 50 },
    });
    for (let i = 0; i < 30; i++) {
      const ts = 1_000 + i * 10;
      log.appendAsLeader(
        batchOf(
          [
            { value: 'a', timestamp: ts },
            { value: 'b', timestamp: ts + 5 },
          ],
          { compression: i % 2 === 0 ? 0 : 1 },
        ),
        0,
      );
    }
    expect(log.offsetForTimestamp(0)?.offset).toBe(0);
    expect(log.offsetForTimestamp(1_000)?.offset).toBe(0);
    expect(log.offsetForTimestamp(1_001)?.offset).toBe(1);
    expect(log.offsetForTimestamp(1_006)?.offset).toBe(2);
    expect(log.offsetForTimestamp(1_155)?.offset).toBe(31);
    expect(log.offsetForTimestamp(1_295)?.offset).toBe(59);
    expect(log.offsetForTimestamp(1_296)).toBeUndefined();
    expect(log.offsetForTimestamp(LATEST_TIMESTAMP)?.offset).toBe(60);
    expect(log.offsetForTimestamp(EARLIEST_TIMESTAMP)?.offset).toBe(0);
    log.updateHighWatermark(60);
    log.deleteRecordsBefore(33);
    expect(log.offsetForTimestamp(1_000)?.offset).toBe(33);
    log.close();
  });
});

describe('leader epoch cache', () => {
  it('answers endOffsetFor like Kafka and survives truncation and reopen', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    log.appendAsLeader(valuesBatch(5), 1); // 0..4
    log.appendAsLeader(valuesBatch(5), 3); // 5..9
    log.appendAsLeader(valuesBatch(5), 3); // 10..14
    log.appendAsLeader(valuesBatch(5), 6); // 15..19
    expect(log.leaderEpochEntries()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 5 },
      { epoch: 6, startOffset: 15 },
    ]);
    expect(log.endOffsetForEpoch(6)).toEqual({ leaderEpoch: 6, endOffset: 20 });
    expect(log.endOffsetForEpoch(3)).toEqual({ leaderEpoch: 3, endOffset: 15 });
    expect(log.endOffsetForEpoch(4)).toEqual({ leaderEpoch: 3, endOffset: 15 });
    expect(log.endOffsetForEpoch(1)).toEqual({ leaderEpoch: 1, endOffset: 5 });
    expect(log.endOffsetForEpoch(0)).toEqual({ leaderEpoch: 0, endOffset: 0 });
    expect(log.endOffsetForEpoch(7)).toEqual({ leaderEpoch: -1, endOffset: -1 });
    expect(log.endOffsetForEpoch(-1)).toEqual({ leaderEpoch: -1, endOffset: -1 });
    log.truncateTo(12);
    expect(log.logEndOffset).toBe(10);
    expect(log.leaderEpochEntries()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 5 },
    ]);
    expect(log.endOffsetForEpoch(3)).toEqual({ leaderEpoch: 3, endOffset: 10 });
    log.close();
    const again = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    expect(again.recovery.cleanShutdown).toBe(true);
    expect(again.leaderEpochEntries()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 5 },
    ]);
    again.updateHighWatermark(10);
    again.deleteRecordsBefore(7);
    expect(again.leaderEpochEntries()).toEqual([{ epoch: 3, startOffset: 7 }]);
    again.close();
  });

  it('is rebuilt from the batches when its checkpoint is corrupt', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, { fileCache: new FileHandleCache(8), config: { 'segment.bytes': 300 } });
    for (let e = 0; e < 6; e++) log.appendAsLeader(valuesBatch(3), e * 2);
    const expected = log.leaderEpochEntries();
    log.close();
    const path = join(dir, 'leader-epoch-checkpoint');
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace('\n0 0', '\n0 1'));
    const again = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    expect(again.recovery.corruptCheckpoints).toEqual(['leader-epoch-checkpoint']);
    expect(again.recovery.recoveredFrom).toBe(0);
    expect(again.leaderEpochEntries()).toEqual(expected);
    again.close();
  });
});

describe('truncation', () => {
  it('truncateTo drops everything at and after the offset across segments and indexes', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, {
      fileCache: new FileHandleCache(8),
      config: { 'segment.bytes': 500, 'index.interval.bytes': 64 },
    });
    for (let i = 0; i < 30; i++) log.appendAsLeader(valuesBatch(2, `t${i}-`), 1);
    const segsBefore = log.segmentInfos().length;
    log.truncateTo(21);
    expect(log.logEndOffset).toBe(20);
    expect(log.segmentInfos().length).toBeLessThan(segsBefore);
    expect(recordsOf(log.read(18, 1 << 20)).map((r) => r.value)).toEqual(['t9-0', 't9-1']);
    log.appendAsLeader(valuesBatch(1, 'new'), 2);
    expect(recordsOf(log.read(20, 1 << 20)).map((r) => [r.offset, r.value])).toEqual([[20, 'new0']]);
    log.close();
    const again = PartitionLog.open(dir, { fileCache: new FileHandleCache(8), fullRecovery: true });
    expect(again.recovery.droppedBytes).toBe(0);
    expect(again.logEndOffset).toBe(21);
    again.truncateFullyAndStartAt(100);
    expect(again.logEndOffset).toBe(100);
    expect(again.logStartOffset).toBe(100);
    expect(again.leaderEpochEntries()).toEqual([]);
    again.appendAsLeader(valuesBatch(1), 4);
    expect(recordsOf(again.read(100, 1000))[0]?.offset).toBe(100);
    expect(readdirSync(dir).filter((n) => n.endsWith('.log'))).toEqual(['00000000000000000100.log']);
    again.close();
  });
});

describe('retention and DeleteRecords', () => {
  it('deletes whole sealed segments by retention.bytes, never the active one, only below the HW', () => {
    const log = PartitionLog.open(tempDir(), {
      fileCache: new FileHandleCache(8),
      config: { 'segment.bytes': 400, 'retention.bytes': 1000 },
    });
    for (let i = 0; i < 30; i++) log.appendAsLeader(valuesBatch(2), 0);
    expect(log.deleteOldSegments().deletedSegments).toBe(0); // HW is 0
    log.updateHighWatermark(log.logEndOffset);
    const res = log.deleteOldSegments();
    expect(res.deletedSegments).toBeGreaterThan(0);
    expect(log.sizeBytes).toBeLessThan(1000 + 400);
    expect(log.logStartOffset).toBe(log.segmentInfos()[0]?.baseOffset);
    expect(errorName(() => log.read(0, 100))).toBe('OFFSET_OUT_OF_RANGE');
    log.close();
  });

  it('deletes segments by retention.ms on their newest timestamp; -1 keeps everything', () => {
    let now = 100_000;
    const dir = tempDir();
    const log = PartitionLog.open(dir, {
      fileCache: new FileHandleCache(8),
      config: { 'segment.bytes': 300, 'retention.ms': 10_000 },
      now: () => now,
    });
    for (let i = 0; i < 20; i++) log.appendAsLeader(valuesBatch(2, 'v', 50_000 + i * 1000), 0);
    log.updateHighWatermark(log.logEndOffset);
    log.updateConfig({ 'segment.bytes': 300, 'retention.ms': -1 });
    expect(log.deleteOldSegments().deletedSegments).toBe(0);
    log.updateConfig({ 'segment.bytes': 300, 'retention.ms': 10_000 });
    now = 70_500; // newest records older than 60_500 expire
    log.deleteOldSegments();
    const first = log.read(log.logStartOffset, 100);
    expect(recordsOf(first)[0]?.timestamp).toBeGreaterThan(55_000);
    for (const s of log.segmentInfos().slice(0, 1)) expect(s.baseOffset).toBe(log.logStartOffset);
    log.close();
  });

  it('deleteRecordsBefore moves the log start offset, refuses above the HW and persists', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, { fileCache: new FileHandleCache(8), config: { 'segment.bytes': 300 } });
    for (let i = 0; i < 20; i++) log.appendAsLeader(valuesBatch(2), 0);
    log.updateHighWatermark(30);
    expect(errorName(() => log.deleteRecordsBefore(31))).toBe('OFFSET_OUT_OF_RANGE');
    const res = log.deleteRecordsBefore(25);
    expect(res.logStartOffset).toBe(25);
    expect(log.segmentInfos()[0]?.baseOffset).toBeLessThanOrEqual(25);
    expect(errorName(() => log.read(24, 100))).toBe('OFFSET_OUT_OF_RANGE');
    expect(log.read(25, 100).firstOffset).toBeLessThanOrEqual(25);
    log.close();
    const again = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    expect(again.logStartOffset).toBe(25);
    expect(again.highWatermark).toBe(30);
    again.close();
  });
});

describe('flush, checkpoints and clean shutdown', () => {
  it('moves the recovery point only on flush (explicit, flush.messages) and skips recovery after close', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, { fileCache: new FileHandleCache(8), config: { 'flush.messages': 10 } });
    log.appendAsLeader(valuesBatch(4), 0);
    expect(log.recoveryPoint).toBe(0);
    log.appendAsLeader(valuesBatch(6), 0);
    expect(log.recoveryPoint).toBe(10);
    log.appendAsLeader(valuesBatch(1), 0);
    expect(log.recoveryPoint).toBe(10);
    log.flush();
    expect(log.recoveryPoint).toBe(11);
    log.close();
    expect(existsSync(join(dir, CLEAN_SHUTDOWN_FILE))).toBe(true);
    const again = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    expect(existsSync(join(dir, CLEAN_SHUTDOWN_FILE))).toBe(false);
    expect(again.recovery).toMatchObject({ cleanShutdown: true, segmentsScanned: 0, recoveredFrom: undefined });
    expect(again.logEndOffset).toBe(11);
    again.abandon();
  });

  it('moves the recovery point to a rolled segment end once its background fsync completes', async () => {
    const log = PartitionLog.open(tempDir(), { fileCache: new FileHandleCache(8), config: { 'segment.bytes': 300 } });
    for (let i = 0; i < 6; i++) log.appendAsLeader(valuesBatch(2), 0);
    const sealedEnd = log.segmentInfos().at(-1)?.baseOffset as number;
    expect(sealedEnd).toBeGreaterThan(0);
    expect(log.recoveryPoint).toBeLessThan(sealedEnd);
    await vi.waitFor(() => expect(log.recoveryPoint).toBe(sealedEnd), { timeout: 20_000, interval: 5 });
    // A truncation in between voids pending background flushes.
    for (let i = 0; i < 6; i++) log.appendAsLeader(valuesBatch(2), 0);
    log.truncateTo(sealedEnd + 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(log.recoveryPoint).toBeLessThanOrEqual(log.logEndOffset);
    log.close();
  });

  it('flush.ms flushes on append once the last flush is old enough', () => {
    let now = 0;
    const log = PartitionLog.open(tempDir(), {
      fileCache: new FileHandleCache(8),
      config: { 'flush.ms': 1000 },
      now: () => now,
    });
    log.appendAsLeader(valuesBatch(1), 0);
    expect(log.recoveryPoint).toBe(0);
    now = 1500;
    expect(log.maybeFlush()).toBe(true);
    expect(log.recoveryPoint).toBe(1);
    log.close();
  });

  it('treats a corrupt offsets checkpoint as unknown and recovers from 0', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, { fileCache: new FileHandleCache(8), config: { 'segment.bytes': 300 } });
    for (let i = 0; i < 10; i++) log.appendAsLeader(valuesBatch(2), 0);
    log.close();
    const path = join(dir, PARTITION_STATE_CHECKPOINT);
    const buf = readFileSync(path);
    buf[buf.length - 3] = buf[buf.length - 3] === 0x30 ? 0x31 : 0x30; // break the CRC digits
    writeFileSync(path, buf);
    const again = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    expect(again.recovery.corruptCheckpoints).toEqual([PARTITION_STATE_CHECKPOINT]);
    expect(again.recovery.recoveredFrom).toBe(0);
    expect(again.recovery.segmentsScanned).toBe(again.segmentInfos().length);
    expect(again.logEndOffset).toBe(20);
    again.close();
  });

  it("raises the HW to the broker's checkpointed one at open, never past the LEO nor below its own, without writing", () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    log.appendAsLeader(valuesBatch(10), 0);
    log.updateHighWatermark(4);
    log.close();
    const stateBefore = readFileSync(join(dir, PARTITION_STATE_CHECKPOINT), 'utf8');
    const raised = PartitionLog.open(dir, { fileCache: new FileHandleCache(8), highWatermark: 7 });
    expect(raised.highWatermark).toBe(7);
    // The hint is the newer record; the log's own state file is left alone.
    expect(readFileSync(join(dir, PARTITION_STATE_CHECKPOINT), 'utf8')).toBe(stateBefore);
    raised.close();
    const capped = PartitionLog.open(dir, { fileCache: new FileHandleCache(8), highWatermark: 99 });
    expect(capped.highWatermark).toBe(10);
    capped.close();
    // An older checkpointed HW never lowers the log's own (the close above wrote 10).
    const older = PartitionLog.open(dir, { fileCache: new FileHandleCache(8), highWatermark: 3 });
    expect(older.highWatermark).toBe(10);
    older.close();
  });

  it('ignores a leftover temp checkpoint and survives a torn epoch checkpoint', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    log.appendAsLeader(valuesBatch(3), 2);
    log.appendAsLeader(valuesBatch(3), 4);
    log.close();
    // A crash between writing the temp file and the rename; and a torn (half) epoch checkpoint.
    writeFileSync(join(dir, `${PARTITION_STATE_CHECKPOINT}.tmp`), 'raftka-partition-state 1\nhigh-wat');
    const epochPath = join(dir, 'leader-epoch-checkpoint');
    const epochText = readFileSync(epochPath);
    writeFileSync(epochPath, epochText.subarray(0, epochText.length >> 1));
    const again = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    expect(again.recovery.corruptCheckpoints).toEqual(['leader-epoch-checkpoint']);
    expect(again.leaderEpochEntries()).toEqual([
      { epoch: 2, startOffset: 0 },
      { epoch: 4, startOffset: 3 },
    ]);
    expect(existsSync(join(dir, `${PARTITION_STATE_CHECKPOINT}.tmp`))).toBe(false);
    expect(again.logEndOffset).toBe(6);
    again.close();
  });

  it('rebuilds corrupt or missing index files instead of trusting them', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, {
      fileCache: new FileHandleCache(8),
      config: { 'segment.bytes': 2000, 'index.interval.bytes': 50 },
    });
    for (let i = 0; i < 60; i++) log.appendAsLeader(valuesBatch(2, `i${i}-`), 0);
    const readAll = (l: PartitionLog) => {
      let offset = 0;
      const got = [];
      while (offset < l.logEndOffset) {
        const r = l.read(offset, 1 << 20);
        got.push(...recordsOf(r));
        offset = r.nextOffset;
      }
      return got;
    };
    const expected = readAll(log);
    expect(expected).toHaveLength(120);
    log.close();
    const idx = join(dir, '00000000000000000000.index');
    const buf = readFileSync(idx);
    buf.writeUInt32BE(0xfffffff0, 12); // a position past the end of the segment
    writeFileSync(idx, buf);
    // A time index whose timestamps go backwards.
    const timeIndex = Buffer.alloc(24);
    timeIndex.writeBigInt64BE(5000n, 0);
    timeIndex.writeUInt32BE(3, 8);
    timeIndex.writeBigInt64BE(4000n, 12);
    timeIndex.writeUInt32BE(5, 20);
    writeFileSync(join(dir, '00000000000000000000.timeindex'), timeIndex);
    const last = log.segmentInfos().at(-1);
    writeFileSync(join(dir, `${String(last?.baseOffset).padStart(20, '0')}.index`), Buffer.from([1, 2, 3]));
    const again = PartitionLog.open(dir, {
      fileCache: new FileHandleCache(8),
      config: { 'segment.bytes': 2000, 'index.interval.bytes': 50 },
    });
    expect(readAll(again)).toEqual(expected);
    expect(again.offsetForTimestamp(1_001)?.offset).toBe(1);
    expect(again.read(77, 10).firstOffset).toBe(76);
    again.close();
    expect(readFileSync(idx).readUInt32BE(12)).not.toBe(0xfffffff0);
  });
});

describe('reopen', () => {
  it('skips recovery after a clean close of a log that never saw an append', () => {
    const dir = tempDir();
    PartitionLog.open(dir, { fileCache: new FileHandleCache(8) }).close();
    const again = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    expect(again.recovery).toMatchObject({ cleanShutdown: true, segmentsScanned: 0 });
    again.close();
  });
});

describe('I/O errors', () => {
  it('take the log offline with KAFKA_STORAGE_ERROR, and reopening recovers', () => {
    const dir = tempDir();
    const cache = new FileHandleCache(8);
    const log = PartitionLog.open(dir, { fileCache: cache });
    log.appendAsLeader(valuesBatch(2), 0);
    cache.closeAll();
    const segment = join(dir, '00000000000000000000.log');
    const saved = readFileSync(segment);
    rmSync(segment);
    mkdirSync(segment); // opening it 'r+' now fails with EISDIR
    expect(errorName(() => log.appendAsLeader(valuesBatch(1), 0))).toBe('KAFKA_STORAGE_ERROR');
    expect(log.offline).toMatch(/EISDIR/);
    expect(errorName(() => log.read(0, 100))).toBe('KAFKA_STORAGE_ERROR');
    log.abandon();
    rmSync(segment, { recursive: true });
    writeFileSync(segment, saved);
    const again = PartitionLog.open(dir, { fileCache: new FileHandleCache(8) });
    expect(again.logEndOffset).toBe(2);
    again.close();
  });
});

describe('file handle cache', () => {
  it('serves thousands of partitions with a small descriptor cache', () => {
    const cache = new FileHandleCache(16);
    const root = tempDir();
    const logs: PartitionLog[] = [];
    const partitions = 250;
    for (let p = 0; p < partitions; p++) {
      const log = PartitionLog.open(join(root, `topic-${p}`), { fileCache: cache });
      log.appendAsLeader(valuesBatch(1, `p${p}-`), 0);
      logs.push(log);
      expect(cache.openCount).toBeLessThanOrEqual(16);
    }
    for (let p = 0; p < partitions; p += 7) {
      const log = logs[p] as PartitionLog;
      log.appendAsLeader(valuesBatch(1, `q${p}-`), 0);
      expect(recordsOf(log.read(0, 1000)).map((r) => r.value)).toEqual([`p${p}-0`, `q${p}-0`]);
    }
    expect(cache.stats().evictions).toBeGreaterThan(partitions);
    expect(cache.stats().open).toBeLessThanOrEqual(16);
    for (const log of logs) log.close();
    expect(cache.openCount).toBe(0);
    const header = readBatchHeader(readFileSync(join(root, 'topic-7', '00000000000000000000.log')));
    expect(header?.baseOffset).toBe(0);
  });
});
