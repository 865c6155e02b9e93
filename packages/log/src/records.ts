// Record-level access for the two places the log must look inside a batch:
// ListOffsets by timestamp (the first record at or after a time) and
// compaction (keys and null values). Records are walked in their raw form so a
// rewritten batch can reuse each kept record's bytes unchanged: the record's
// offsetDelta and timestampDelta stay relative to the same baseOffset and
// baseTimestamp, so every kept record keeps its offset and timestamp exactly.

import type { CompressionCodec } from '@raftka/codec';
import {
  AttributeMasks,
  BATCH_HEADER_BYTES,
  Cursor,
  compress,
  compressionOf,
  computeBatchCrc,
  decompress,
  LOG_OVERHEAD_BYTES,
  Offsets,
} from '@raftka/codec';

export interface RawRecord {
  /** The record's bytes, length varint included (a view). */
  bytes: Buffer;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  valueIsNull: boolean;
}

export function batchAttributes(batch: Buffer): number {
  return batch.readInt16BE(Offsets.attributes);
}

/** Decodes the records of one batch into raw views (inflating a compressed batch once). */
export function rawRecords(batch: Buffer): RawRecord[] {
  const attributes = batchAttributes(batch);
  const baseOffset = Number(batch.readBigInt64BE(Offsets.baseOffset));
  const baseTimestamp = Number(batch.readBigInt64BE(Offsets.baseTimestamp));
  const count = batch.readInt32BE(Offsets.recordCount);
  const region = decompress(compressionOf(attributes), batch.subarray(BATCH_HEADER_BYTES));
  const cursor = new Cursor(region, 0, region.length);
  const out: RawRecord[] = [];
  for (let i = 0; i < count; i++) {
    const start = cursor.pos;
    const length = cursor.readVarint();
    const bodyStart = cursor.pos;
    cursor.readInt8();
    const timestampDelta = cursor.readVarlong();
    const offsetDelta = cursor.readVarint();
    const keyLength = cursor.readVarint();
    const key = keyLength < 0 ? null : cursor.readBytes(keyLength);
    const valueLength = cursor.readVarint();
    cursor.pos = bodyStart + length;
    out.push({
      bytes: region.subarray(start, bodyStart + length),
      offset: baseOffset + offsetDelta,
      timestamp: baseTimestamp + timestampDelta,
      key,
      valueIsNull: valueLength < 0,
    });
  }
  return out;
}

/**
 * The first offset in `batch` at or after `minOffset` whose timestamp is >= t,
 * or undefined. LogAppendTime batches stamp every record with maxTimestamp.
 */
export function firstOffsetAtOrAfterTimestamp(batch: Buffer, t: number, minOffset: number): number | undefined {
  const attributes = batchAttributes(batch);
  if ((attributes & AttributeMasks.timestampType) !== 0) {
    const baseOffset = Number(batch.readBigInt64BE(Offsets.baseOffset));
    return Number(batch.readBigInt64BE(Offsets.maxTimestamp)) >= t ? Math.max(baseOffset, minOffset) : undefined;
  }
  for (const r of rawRecords(batch)) if (r.offset >= minOffset && r.timestamp >= t) return r.offset;
  return undefined;
}

/**
 * A copy of `batch` holding only `kept` (a subset of its raw records, in
 * order), with the same header fields (baseOffset, lastOffsetDelta,
 * baseTimestamp, producer id/epoch, base sequence, attributes), recordCount
 * and maxTimestamp recomputed, re-compressed with the batch's codec, and a new
 * CRC. With no records kept the result is an empty batch that still carries
 * the producer fields (compaction keeps a producer's last one).
 */
export function rebuildBatch(batch: Buffer, kept: readonly RawRecord[]): Buffer {
  const attributes = batchAttributes(batch);
  const codec = compressionOf(attributes) as CompressionCodec;
  const plain = Buffer.concat(kept.map((r) => r.bytes));
  const body = kept.length === 0 ? plain : compress(codec, plain);
  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + body.length);
  batch.copy(out, 0, 0, BATCH_HEADER_BYTES);
  body.copy(out, BATCH_HEADER_BYTES);
  out.writeInt32BE(out.length - LOG_OVERHEAD_BYTES, Offsets.batchLength);
  out.writeInt32BE(kept.length, Offsets.recordCount);
  if (kept.length === 0) out.writeInt16BE(attributes & ~AttributeMasks.compression, Offsets.attributes);
  if ((attributes & AttributeMasks.timestampType) === 0 && kept.length > 0) {
    let maxTimestamp = -1;
    for (const r of kept) maxTimestamp = Math.max(maxTimestamp, r.timestamp);
    out.writeBigInt64BE(BigInt(maxTimestamp), Offsets.maxTimestamp);
  }
  out.writeUInt32BE(computeBatchCrc(out), Offsets.crc);
  return out;
}
