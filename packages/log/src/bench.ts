// Benchmark of the partition log (`raftka bench log --json`): append
// throughput of 1 KiB records in 256 KiB and 16 KiB batches, sequential read
// throughput, recovery time of an unflushed log with no clean-shutdown marker
// and recovery point 0, and, in the same run, plain sequential fs.writeSync of
// the same bytes in the same chunk size as the denominator of
// appendToRawRatio. Figures go to stdout (or `log`); nothing here asserts.
//
// Note for durability figures: fsync on the development VM is absorbed by a
// host-side write cache (about 0.2 ms), so it is far cheaper than on a real
// disk. Appends here do not fsync except once per segment roll.
import { closeSync, mkdirSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { encodeBatch } from '@raftka/codec';
import { FileHandleCache } from './fd-cache.js';
import { PARTITION_STATE_CHECKPOINT, PartitionLog } from './log.js';

export interface LogBenchOptions {
  /** Scratch directory; the bench creates and removes `raftka-log-bench` inside it. */
  dir: string;
  /** Print one JSON object at the end instead of human-readable lines. */
  json?: boolean;
  /** Bytes appended per run and recovered, in GiB (default 1). */
  sizeGiB?: number;
  log?: (line: string) => void;
}

export interface LogBenchResult {
  /** Append throughput, 1 KiB records in 256 KiB batches, MB/s (10^6 bytes). */
  appendMBps: number;
  /** Append throughput, 1 KiB records in 16 KiB batches, MB/s. */
  append16KiBMBps: number;
  /** Sequential read (1 MiB fetches) of the 256 KiB-batch log, MB/s. */
  readMBps: number;
  /** fs.writeSync of the same bytes in 256 KiB chunks to one file, MB/s. */
  rawWriteMBps: number;
  /** appendMBps / rawWriteMBps (target >= 0.7). */
  appendToRawRatio: number;
  /** Recovery (CRC check of every batch, index rebuild) of an unflushed log, seconds per GiB. */
  recoverySecondsPerGiB: number;
  bytes: number;
  recoveredBytes: number;
}

const KiB = 1024;
const GiB = 1024 * 1024 * 1024;

function makeBatch(batchBytes: number): Buffer {
  const value = Buffer.alloc(KiB, 0x61);
  const records = Array.from({ length: batchBytes / KiB }, () => ({ value, timestamp: Date.now() }));
  return encodeBatch({ records });
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function rawWrite(path: string, chunk: Buffer, count: number): number {
  const fd = openSync(path, 'w');
  const start = process.hrtime.bigint();
  let position = 0;
  for (let i = 0; i < count; i++) {
    let done = 0;
    while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done, position + done);
    position += chunk.length;
  }
  const s = seconds(start);
  closeSync(fd);
  unlinkSync(path);
  return (chunk.length * count) / 1e6 / s;
}

function appendRun(
  dir: string,
  batch: Buffer,
  count: number,
  cache: FileHandleCache,
): { mbps: number; log: PartitionLog } {
  const log = PartitionLog.open(dir, { fileCache: cache });
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) log.appendAsLeader(batch, 1);
  const s = seconds(start);
  return { mbps: (batch.length * count) / 1e6 / s, log };
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function runLogBench(options: LogBenchOptions): Promise<LogBenchResult> {
  const out = options.log ?? ((line: string) => console.log(line));
  const say = (line: string) => {
    if (!options.json) out(line);
  };
  const root = join(options.dir, 'raftka-log-bench');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const cache = new FileHandleCache(64);
  try {
    const targetBytes = Math.max(1, Math.round((options.sizeGiB ?? 1) * GiB));
    const big = makeBatch(256 * KiB);
    const small = makeBatch(16 * KiB);
    const bigCount = Math.ceil(targetBytes / big.length);
    const smallCount = Math.ceil(Math.min(targetBytes, 256 * 1024 * 1024) / small.length);

    // Raw writes and log appends alternate, in alternating order, best of three each, so
    // page-cache writeback from earlier rounds (and a noisy shared machine) hits both alike.
    let raw = 0;
    let append = 0;
    let appended: PartitionLog | undefined;
    for (let r = 0; r < 3; r++) {
      const runRaw = () => {
        raw = Math.max(raw, rawWrite(join(root, 'raw.bin'), big, bigCount));
      };
      if (r % 2 === 0) runRaw();
      const run = appendRun(join(root, `append-256k-${r}`), big, bigCount, cache);
      append = Math.max(append, run.mbps);
      if (r % 2 === 1) runRaw();
      if (appended) {
        appended.abandon();
        rmSync(appended.dir, { recursive: true, force: true });
      }
      appended = run.log;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const log = appended as PartitionLog;
    say(`raw fs.writeSync 256 KiB chunks: ${round(raw)} MB/s`);
    say(`append 1 KiB records in 256 KiB batches: ${round(append)} MB/s (${round(append / raw, 2)} of raw)`);

    const smallRun = appendRun(join(root, 'append-16k'), small, smallCount, cache);
    smallRun.log.abandon();
    rmSync(smallRun.log.dir, { recursive: true, force: true });
    say(`append 1 KiB records in 16 KiB batches: ${round(smallRun.mbps)} MB/s`);

    let offset = log.logStartOffset;
    let readBytes = 0;
    const readStart = process.hrtime.bigint();
    while (offset < log.logEndOffset) {
      const r = log.read(offset, 1024 * 1024);
      readBytes += r.records.length;
      offset = r.nextOffset;
    }
    const readMBps = readBytes / 1e6 / seconds(readStart);
    say(`sequential read, 1 MiB fetches: ${round(readMBps)} MB/s`);

    // Crash without a clean shutdown and forget the recovery point: recovery scans everything.
    const recoveredBytes = log.sizeBytes;
    const logDir = log.dir;
    log.abandon();
    unlinkSync(join(logDir, PARTITION_STATE_CHECKPOINT));
    const recoveryStart = process.hrtime.bigint();
    const recovered = PartitionLog.open(logDir, { fileCache: cache });
    const recoverySeconds = seconds(recoveryStart);
    recovered.abandon();
    const recoverySecondsPerGiB = recoverySeconds / (recoveredBytes / GiB);
    say(
      `recovery of ${round(recoveredBytes / GiB, 2)} GiB unflushed (${recovered.recovery.batchesScanned} batches): ${round(recoverySeconds, 2)} s, ${round(recoverySecondsPerGiB, 2)} s/GiB`,
    );

    const result: LogBenchResult = {
      appendMBps: round(append),
      append16KiBMBps: round(smallRun.mbps),
      readMBps: round(readMBps),
      rawWriteMBps: round(raw),
      appendToRawRatio: round(append / raw, 3),
      recoverySecondsPerGiB: round(recoverySecondsPerGiB, 3),
      bytes: big.length * bigCount,
      recoveredBytes,
    };
    if (options.json) out(JSON.stringify(result));
    return result;
  } finally {
    cache.closeAll();
    rmSync(root, { recursive: true, force: true });
  }
}
