// Property test: random appends, reads, rolls, truncations, retention,
// DeleteRecords, compaction, clean reopen, crash and torn-tail crash against
// a simple in-memory model of the records. Replay a failure with
// LOG_SEED=<seed> (the seed is printed).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeBatch, readBatchHeader } from '@raftka/codec';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FileHandleCache, PartitionLog } from '../src/index.js';
import { batchOf, readAll, removeTempDirs, tempDir } from './helpers.js';

afterEach(removeTempDirs);

const NOW = 50_000_000;
const CONFIG = {
  'cleanup.policy': 'compact,delete',
  'segment.bytes': 700,
  'index.interval.bytes': 150,
  'retention.bytes': 2500,
  'retention.ms': -1,
  'delete.retention.ms': 1000,
};

interface ModelRecord {
  offset: number;
  key: string | null;
  value: string | null;
  timestamp: number;
}
interface ModelBatch {
  baseOffset: number;
  lastOffset: number;
}

type Op =
  | { t: 'append'; records: { key: number | null; tomb: boolean; old: boolean }[]; bump: boolean }
  | { t: 'follow'; count: number; gap: number; bump: boolean }
  | { t: 'read'; at: number; maxBytes: number }
  | { t: 'truncate'; at: number }
  | { t: 'deleteRecords'; at: number }
  | { t: 'retention' }
  | { t: 'compact' }
  | { t: 'roll' }
  | { t: 'reopen' }
  | { t: 'crash' }
  | { t: 'tornCrash'; at: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('append' as const),
      records: fc.array(
        fc.record({
          key: fc.option(fc.integer({ min: 0, max: 5 }), { nil: null }),
          tomb: fc.boolean(),
          old: fc.boolean(),
        }),
        { minLength: 1, maxLength: 5 },
      ),
      bump: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('follow' as const),
      count: fc.integer({ min: 1, max: 4 }),
      gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 })),
      bump: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('read' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      maxBytes: fc.integer({ min: 1, max: 2000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('deleteRecords' as const),
      at: fc.double({ min: 0, max: 0.5, noNaN: true }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'retention' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'compact' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'roll' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('tornCrash' as const), at: fc.double({ min: 0, max: 0.999, noNaN: true }) }),
  },
);

function runScenario(ops: Op[]): void {
  const dir = tempDir();
  const cache = new FileHandleCache(6);
  const open = () => PartitionLog.open(dir, { fileCache: cache, config: CONFIG, now: () => NOW });
  let log = open();
  let records: ModelRecord[] = [];
  let batches: ModelBatch[] = [];
  let leo = 0;
  let lso = 0;
  let epoch = 0;
  let serial = 0;
  // The leader-epoch cache model (exact until a compaction drops the first batch of an epoch).
  let epochs: { epoch: number; startOffset: number }[] = [];
  let compacted = false;
  const assignEpoch = (e: number, start: number) => {
    if (e <= (epochs.at(-1)?.epoch ?? -1)) return;
    epochs = epochs.filter((x) => x.startOffset < start);
    epochs.push({ epoch: e, startOffset: start });
  };
  const truncateEpochsFromEnd = (end: number) => {
    epochs = epochs.filter((x) => x.startOffset < end);
  };
  const truncateEpochsFromStart = (start: number) => {
    const idx = epochs.findLastIndex((x) => x.startOffset <= start);
    if (idx >= 0)
      epochs = [{ epoch: (epochs[idx] as { epoch: number }).epoch, startOffset: start }, ...epochs.slice(idx + 1)];
  };
  const moveLogStart = (newLso: number) => {
    if (newLso > lso) truncateEpochsFromStart(newLso);
    lso = Math.max(lso, newLso);
  };

  const check = (what: string) => {
    expect(log.logEndOffset, what).toBe(leo);
    expect(log.logStartOffset, what).toBe(lso);
    expect(readAll(log), what).toEqual(
      records.filter((r) => r.offset >= lso).map((r) => ({ ...r, epoch: expect.any(Number) })),
    );
    const entries = log.leaderEpochEntries();
    for (let i = 1; i < entries.length; i++) {
      expect(entries[i]?.epoch, what).toBeGreaterThan(entries[i - 1]?.epoch as number);
      expect(entries[i]?.startOffset, what).toBeGreaterThanOrEqual(entries[i - 1]?.startOffset as number);
    }
    for (const e of entries) expect(e.startOffset, what).toBeLessThanOrEqual(leo);
    if (!compacted) expect(entries, what).toEqual(epochs);
  };

  for (const [i, op] of ops.entries()) {
    const what = `op ${i} ${JSON.stringify(op)}`;
    switch (op.t) {
      case 'append': {
        if (op.bump) epoch++;
        const input = op.records.map((r) => {
          const key = r.key === null ? null : `k${r.key}`;
          const value = r.tomb && key !== null ? null : `v${serial++}`;
          return { key, value, timestamp: r.old ? NOW - 100_000 : NOW };
        });
        const info = log.appendAsLeader(batchOf(input), epoch);
        expect(info.firstOffset, what).toBe(leo);
        assignEpoch(epoch, leo);
        input.forEach((r, j) => {
          records.push({ offset: leo + j, key: r.key, value: r.value, timestamp: r.timestamp });
        });
        batches.push({ baseOffset: leo, lastOffset: leo + input.length - 1 });
        leo += input.length;
        log.updateHighWatermark(leo);
        break;
      }
      case 'follow': {
        if (op.bump) epoch++;
        const base = leo + op.gap;
        const input = Array.from({ length: op.count }, () => ({ key: null, value: `f${serial++}`, timestamp: NOW }));
        const bytes = batchOf(input);
        bytes.writeBigInt64BE(BigInt(base), 0);
        bytes.writeInt32BE(epoch, 12);
        const info = log.appendAsFollower(bytes);
        expect(info.firstOffset, what).toBe(base);
        assignEpoch(epoch, base);
        input.forEach((r, j) => {
          records.push({ offset: base + j, key: r.key, value: r.value, timestamp: r.timestamp });
        });
        batches.push({ baseOffset: base, lastOffset: base + op.count - 1 });
        leo = base + op.count;
        log.updateHighWatermark(leo);
        break;
      }
      case 'read': {
        const offset = lso + Math.floor(op.at * (leo - lso));
        const r = log.read(offset, op.maxBytes);
        // Empty only when no batch holds an offset at or after it (a follower's trailing gap).
        if (batches.some((b) => b.lastOffset >= offset)) expect(r.batches.length, what).toBeGreaterThan(0);
        const got = r.batches.flatMap((b) => decodeBatch(b).records).filter((x) => x.offset >= offset);
        const want = records.filter((x) => x.offset >= offset && x.offset < r.nextOffset);
        expect(
          got.map((x) => [x.offset, x.value?.toString() ?? null]),
          what,
        ).toEqual(want.map((x) => [x.offset, x.value]));
        break;
      }
      case 'truncate': {
        const offset = Math.floor(op.at * leo);
        log.truncateTo(offset);
        if (offset < leo) {
          if (offset < lso) {
            records = [];
            batches = [];
            epochs = [];
            leo = offset;
            lso = offset;
          } else {
            const b = batches.find((x) => x.lastOffset >= offset);
            const end = b ? Math.min(b.baseOffset, offset) : offset;
            records = records.filter((x) => x.offset < end);
            batches = batches.filter((x) => x.lastOffset < end);
            truncateEpochsFromEnd(end);
            leo = end;
          }
        }
        break;
      }
      case 'deleteRecords': {
        const offset = lso + Math.floor(op.at * (leo - lso));
        log.deleteRecordsBefore(offset);
        moveLogStart(offset);
        break;
      }
      case 'retention': {
        log.deleteOldSegments();
        expect(log.logStartOffset, what).toBeGreaterThanOrEqual(lso);
        moveLogStart(log.logStartOffset);
        break;
      }
      case 'compact': {
        const result = log.compact();
        const upTo = result.cleanedUpTo;
        if (result.segmentsCleaned > 0) {
          compacted = true;
          const latest = new Map<string, number>();
          for (const r of records) if (r.offset < upTo && r.key !== null) latest.set(r.key, r.offset);
          records = records.filter(
            (r) =>
              r.offset >= upTo ||
              r.key === null ||
              (latest.get(r.key) === r.offset && !(r.value === null && r.timestamp < NOW - 1000)),
          );
          // Batches keep their offset ranges; some disappear.
          const seen = new Set(batches.map((b) => `${b.baseOffset}-${b.lastOffset}`));
          const now: ModelBatch[] = [];
          let offset = lso;
          while (offset < leo) {
            const r = log.read(offset, 1 << 20);
            if (r.batches.length === 0) break;
            for (const b of r.batches) {
              const h = readBatchHeader(b);
              const range = {
                baseOffset: h?.baseOffset as number,
                lastOffset: (h?.baseOffset as number) + (h?.lastOffsetDelta as number),
              };
              expect(seen.has(`${range.baseOffset}-${range.lastOffset}`), what).toBe(true);
              now.push(range);
            }
            offset = r.nextOffset;
          }
          batches = [...batches.filter((b) => b.lastOffset < lso), ...now];
        }
        break;
      }
      case 'roll':
        log.roll();
        break;
      case 'reopen':
        log.close();
        log = open();
        expect(log.recovery.cleanShutdown, what).toBe(true);
        break;
      case 'crash':
        log.abandon();
        log = open();
        expect(log.recovery.droppedBytes, what).toBe(0);
        log.updateHighWatermark(leo);
        break;
      case 'tornCrash': {
        const active = log.segmentInfos().at(-1);
        log.abandon();
        if (active && active.sizeBytes > 0) {
          const name = readdirSync(dir)
            .filter((n) => n.endsWith('.log'))
            .sort()
            .at(-1) as string;
          const file = readFileSync(join(dir, name));
          let pos = 0;
          let lastPos = 0;
          while (pos < file.length) {
            lastPos = pos;
            pos += readBatchHeader(file, pos)?.sizeBytes as number;
          }
          const cut = lastPos + Math.floor(op.at * (file.length - lastPos));
          writeFileSync(join(dir, name), file.subarray(0, cut));
          const last = batches.pop() as ModelBatch;
          // The LEO falls back to the previous batch's end (a follower's gap before the lost batch is forgotten).
          const newLeo = Math.max(active.baseOffset, (batches.at(-1)?.lastOffset ?? -1) + 1);
          expect(newLeo, what).toBeLessThanOrEqual(last.baseOffset);
          records = records.filter((r) => r.offset < last.baseOffset);
          truncateEpochsFromEnd(newLeo);
          leo = newLeo;
          if (lso > leo) {
            // A log start offset inside the lost batch falls back to the LEO on open.
            lso = leo;
            truncateEpochsFromStart(lso);
          }
        }
        log = open();
        log.updateHighWatermark(leo);
        break;
      }
    }
    check(what);
  }
  log.close();
  removeTempDirs();
}

describe('partition log against a model', () => {
  it('agrees with the model under random operations', () => {
    const seed = Number(process.env.LOG_SEED ?? Date.now() % 2_147_483_647);
    console.log('model test seed=', seed);
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => runScenario(ops)),
      { seed, numRuns: Number(process.env.LOG_RUNS ?? 100) },
    );
  });
});
