// Log compaction: latest value per key, tombstone expiry, offsets kept, the
// active segment untouched, and crash safety at every step of the swap.
import { cpSync, readdirSync } from 'node:fs';
import { decodeBatch } from '@raftka/codec';
import { afterEach, describe, expect, it } from 'vitest';
import { FileHandleCache, PartitionLog } from '../src/index.js';
import { batchOf, type ReadRecord, readAll, removeTempDirs, type SimpleRecord, tempDir } from './helpers.js';

afterEach(removeTempDirs);

const NOW = 10_000_000;
const CONFIG = {
  'cleanup.policy': 'compact',
  'segment.bytes': 600,
  'delete.retention.ms': 1000,
  'index.interval.bytes': 100,
};

/** Writes a keyed history: keys k0..k5 updated repeatedly, some deleted. */
function buildKeyedLog(dir: string, cache = new FileHandleCache(16)): PartitionLog {
  const log = PartitionLog.open(dir, { fileCache: cache, config: CONFIG, now: () => NOW });
  for (let i = 0; i < 30; i++) {
    const records: SimpleRecord[] = [];
    for (let j = 0; j < 3; j++) {
      const n = i * 3 + j;
      let key = `k${n % 6}`;
      // Last writes of k1 and k2 are tombstones: k1's old (expired), k2's recent (kept).
      if ((key === 'k1' && i > 14) || (key === 'k2' && i > 16)) key = `k${n % 6}x`;
      if (key === 'k1' && i === 14) records.push({ key, value: null, timestamp: NOW - 5000 });
      else if (key === 'k2' && i === 16) records.push({ key, value: null, timestamp: NOW - 10 });
      else records.push({ key, value: `${key}=${n}`, timestamp: NOW - 100_000 + n });
    }
    log.appendAsLeader(batchOf(records, { producerId: i % 2 === 0 ? 7 : -1, compression: i % 3 === 0 ? 1 : 0 }), 1);
  }
  log.updateHighWatermark(log.logEndOffset);
  log.flush();
  return log;
}

/** What compaction up to `cleanedUpTo` must leave: the model of the cleaner. */
function expectedAfterCompaction(before: ReadRecord[], cleanedUpTo: number): ReadRecord[] {
  const latest = new Map<string, number>();
  for (const r of before) if (r.offset < cleanedUpTo && r.key !== null) latest.set(r.key, r.offset);
  return before.filter((r) => {
    if (r.offset >= cleanedUpTo || r.key === null) return true;
    if (latest.get(r.key) !== r.offset) return false;
    return !(r.value === null && r.timestamp < NOW - 1000);
  });
}

describe('compaction', () => {
  it('keeps the latest record per key with its offset, expires old tombstones, leaves the active segment', () => {
    const log = buildKeyedLog(tempDir());
    const before = readAll(log);
    const segsBefore = log.segmentInfos();
    expect(segsBefore.length).toBeGreaterThan(3);
    expect(log.needsCompaction()).toBe(true);
    const result = log.compact();
    const active = segsBefore.at(-1);
    expect(result.cleanedUpTo).toBe(active?.baseOffset);
    expect(result.segmentsCleaned).toBe(segsBefore.length - 1);
    expect(result.bytesAfter).toBeLessThan(result.bytesBefore);
    expect(result.tombstonesRemoved).toBe(1);
    const after = readAll(log);
    expect(after).toEqual(expectedAfterCompaction(before, result.cleanedUpTo));
    expect(after.filter((r) => r.value === null).map((r) => r.key)).toEqual(['k2']);
    expect(log.segmentInfos().at(-1)).toEqual(active);
    expect(log.logEndOffset).toBe(90);
    expect(log.cleanableDirtyRatio()).toBe(0);
    expect(log.needsCompaction()).toBe(false);
    // A second pass changes nothing.
    log.compact();
    expect(readAll(log)).toEqual(after);
    // Appends continue at the LEO; a follower could append with gaps on this topic.
    log.appendAsLeader(batchOf([{ key: 'k9', value: 'z' }]), 2);
    expect(readAll(log).at(-1)).toMatchObject({ offset: 90, key: 'k9' });
    log.close();
  });

  it('keeps the last batch of a producer as an empty batch carrying its producer fields', () => {
    const log = PartitionLog.open(tempDir(), {
      fileCache: new FileHandleCache(8),
      config: { ...CONFIG, 'segment.bytes': 100_000 },
      now: () => NOW,
    });
    log.appendAsLeader(batchOf([{ key: 'a', value: '1', timestamp: NOW }], { producerId: 42 }), 1);
    log.appendAsLeader(batchOf([{ key: 'a', value: '2', timestamp: NOW }], { producerId: 43 }), 1);
    log.appendAsLeader(batchOf([{ key: 'a', value: '3', timestamp: NOW }], { producerId: 43 }), 1);
    log.roll();
    log.appendAsLeader(batchOf([{ key: 'a', value: '4', timestamp: NOW }]), 1);
    log.updateHighWatermark(log.logEndOffset);
    log.compact();
    const batches = log.read(0, 1 << 20).batches.map((b) => decodeBatch(b));
    // producer 42's only batch: emptied but kept; producer 43's first batch dropped, its last kept.
    expect(batches.map((b) => [b.header.producerId, b.header.baseOffset, b.records.length])).toEqual([
      [42, 0, 0],
      [43, 2, 1],
    ]);
    log.close();
  });

  it('does nothing for cleanup.policy=delete and never cleans above the given bound', () => {
    const dir = tempDir();
    const log = PartitionLog.open(dir, {
      fileCache: new FileHandleCache(8),
      config: { 'segment.bytes': 300 },
    });
    for (let i = 0; i < 10; i++) log.appendAsLeader(batchOf([{ key: 'x', value: `${i}` }]), 1);
    log.updateHighWatermark(log.logEndOffset);
    expect(log.compact().segmentsCleaned).toBe(0);
    log.updateConfig({ 'segment.bytes': 300, 'cleanup.policy': 'compact,delete' });
    expect(log.compact(0).segmentsCleaned).toBe(0);
    expect(log.compact(log.segmentInfos()[1]?.baseOffset).segmentsCleaned).toBe(1);
    log.close();
  });
});

describe('interrupted compaction', () => {
  it('recovers to the old segment set before the commit point and the new one after, at every step', () => {
    const reference = buildKeyedLog(tempDir());
    const before = readAll(reference);
    const steps: string[] = [];
    // A dry run on a copy records the steps and the expected result.
    const dryDir = tempDir();
    cpSync(reference.dir, dryDir, { recursive: true });
    reference.close();
    const dry = PartitionLog.open(dryDir, {
      fileCache: new FileHandleCache(16),
      config: CONFIG,
      now: () => NOW,
      onCompactionStep: (s) => steps.push(s),
    });
    const dryResult = dry.compact();
    const after = readAll(dry);
    dry.close();
    expect(after).toEqual(expectedAfterCompaction(before, dryResult.cleanedUpTo));
    const lastRename = steps.filter((s) => s.startsWith('renamed-to-swap:')).at(-1);
    const lastInstall = steps.filter((s) => s.startsWith('installed:')).at(-1);
    expect(steps.length).toBeGreaterThan(8);
    for (const crashAt of steps) {
      const dir = tempDir();
      cpSync(reference.dir, dir, { recursive: true });
      const cache = new FileHandleCache(16);
      const log = PartitionLog.open(dir, {
        fileCache: cache,
        config: CONFIG,
        now: () => NOW,
        onCompactionStep: (s) => {
          if (s === crashAt) throw new Error(`crash at ${s}`);
        },
      });
      expect(() => log.compact()).toThrow(`crash at ${crashAt}`);
      log.abandon();
      cache.closeAll();
      const recovered = PartitionLog.open(dir, { fileCache: new FileHandleCache(16), config: CONFIG, now: () => NOW });
      const committed = crashAt === lastRename || !/^(cleaned-written|renamed-to-swap):/.test(crashAt);
      expect(recovered.recovery.interruptedCompaction, crashAt).toBe(
        crashAt === 'done' || crashAt === lastInstall ? 'none' : committed ? 'completed' : 'rolled-back',
      );
      expect(readAll(recovered), crashAt).toEqual(committed ? after : before);
      expect(readdirSync(dir).filter((n) => n.endsWith('.cleaned') || n.endsWith('.swap'))).toEqual([]);
      recovered.close();
    }
  });
});
