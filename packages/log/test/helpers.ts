// Shared helpers for the log tests: temp dirs and batches built with the codec.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBatch, encodeBatch, type RecordInput } from '@raftka/codec';
import type { LogReadResult } from '../src/index.js';

const dirs: string[] = [];

export function tempDir(prefix = 'raftka-log-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface SimpleRecord {
  key?: string | null;
  value: string | null;
  timestamp?: number;
}

export function batchOf(
  records: SimpleRecord[],
  options: { producerId?: number; compression?: 0 | 1 | 2 | 3 } = {},
): Buffer {
  const inputs: RecordInput[] = records.map((r, i) => ({
    key: r.key == null ? null : Buffer.from(r.key),
    value: r.value === null ? null : Buffer.from(r.value),
    timestamp: r.timestamp ?? 1_000 + i,
  }));
  return encodeBatch({
    records: inputs,
    compression: options.compression ?? 0,
    producerId: options.producerId ?? -1,
    producerEpoch: options.producerId === undefined ? -1 : 0,
    baseSequence: options.producerId === undefined ? -1 : 0,
  });
}

/** A batch of `count` records with values `v<i>` and the given first timestamp. */
export function valuesBatch(count: number, prefix = 'v', timestamp = 1_000): Buffer {
  return batchOf(Array.from({ length: count }, (_, i) => ({ value: `${prefix}${i}`, timestamp: timestamp + i })));
}

export interface ReadRecord {
  offset: number;
  key: string | null;
  value: string | null;
  timestamp: number;
  epoch: number;
}

export function recordsOf(result: LogReadResult): ReadRecord[] {
  const out: ReadRecord[] = [];
  for (const b of result.batches) {
    const d = decodeBatch(b);
    for (const r of d.records) {
      out.push({
        offset: r.offset,
        key: r.key === null ? null : r.key.toString(),
        value: r.value === null ? null : r.value.toString(),
        timestamp: r.timestamp,
        epoch: d.header.partitionLeaderEpoch,
      });
    }
  }
  return out;
}

/** Every record from the log start to the LEO, reading segment by segment. */
export function readAll(log: import('../src/index.js').PartitionLog): ReadRecord[] {
  const out: ReadRecord[] = [];
  let offset = log.logStartOffset;
  // Bounded: every read advances nextOffset or ends the loop.
  while (offset < log.logEndOffset) {
    const r = log.read(offset, 1 << 20);
    if (r.batches.length === 0) break;
    for (const rec of recordsOf(r)) if (rec.offset >= offset) out.push(rec);
    offset = r.nextOffset;
  }
  return out;
}

/** A small deterministic PRNG (mulberry32) for seeded tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
