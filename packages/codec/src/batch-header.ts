// The fixed 61-byte header of a Kafka RecordBatch v2 (magic 2), read and
// stamped in place. The log store and the broker's produce path work on these
// header fields only and leave the records as the producer sent them; only
// compaction and the client decode records (see record-batch.ts).
//
//  off len field
//   0   8  baseOffset            (outside the CRC: the broker stamps it)
//   8   4  batchLength           bytes after this field = total - 12
//  12   4  partitionLeaderEpoch  (outside the CRC: the broker stamps it)
//  16   1  magic = 2
//  17   4  crc                   CRC-32C of bytes [21, end)
//  21   2  attributes
//  23   4  lastOffsetDelta
//  27   8  baseTimestamp
//  35   8  maxTimestamp
//  43   8  producerId
//  51   2  producerEpoch
//  53   4  baseSequence
//  57   4  recordCount
//  61      records
import { crc32c } from '@raftka/common';

export const BATCH_HEADER_BYTES = 61;
/** Bytes before batchLength's count starts: baseOffset + batchLength. */
export const LOG_OVERHEAD_BYTES = 12;
export const MAGIC_V2 = 2;

export const Offsets = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
} as const;

export interface BatchHeader {
  baseOffset: number;
  /** Total size of the batch in bytes, header included. */
  sizeBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/**
 * Reads the header of the batch at `pos`. Returns undefined when fewer than
 * a header's bytes remain (a torn tail); it does not check the CRC.
 */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader | undefined {
  if (buf.length - pos < BATCH_HEADER_BYTES) return undefined;
  return {
    baseOffset: readInt64(buf, pos + Offsets.baseOffset),
    sizeBytes: buf.readInt32BE(pos + Offsets.batchLength) + LOG_OVERHEAD_BYTES,
    partitionLeaderEpoch: buf.readInt32BE(pos + Offsets.partitionLeaderEpoch),
    magic: buf.readInt8(pos + Offsets.magic),
    crc: buf.readUInt32BE(pos + Offsets.crc),
    attributes: buf.readInt16BE(pos + Offsets.attributes),
    lastOffsetDelta: buf.readInt32BE(pos + Offsets.lastOffsetDelta),
    baseTimestamp: readInt64(buf, pos + Offsets.baseTimestamp),
    maxTimestamp: readInt64(buf, pos + Offsets.maxTimestamp),
    producerId: readInt64(buf, pos + Offsets.producerId),
    producerEpoch: buf.readInt16BE(pos + Offsets.producerEpoch),
    baseSequence: buf.readInt32BE(pos + Offsets.baseSequence),
    recordCount: buf.readInt32BE(pos + Offsets.recordCount),
  };
}

/** CRC-32C of a whole batch as stored in its header's crc field. */
export function computeBatchCrc(batch: Buffer): number {
  return crc32c(batch.subarray(Offsets.attributes));
}

/** Stamps the broker-owned fields; both sit outside the CRC, so it stays valid. */
export function stampBatch(batch: Buffer, baseOffset: number, partitionLeaderEpoch: number): void {
  writeInt64(batch, baseOffset, Offsets.baseOffset);
  batch.writeInt32BE(partitionLeaderEpoch, Offsets.partitionLeaderEpoch);
}

/**
 * For a topic with message.timestamp.type=LogAppendTime: marks the batch as
 * LogAppendTime and sets maxTimestamp to the broker's clock, as Kafka's
 * LogValidator does. Both fields are inside the CRC, so it is recomputed:
 * the one stamping that costs a pass over the batch.
 */
export function stampLogAppendTime(batch: Buffer, logAppendTimeMs: number): void {
  batch.writeInt16BE(batch.readInt16BE(Offsets.attributes) | TIMESTAMP_TYPE_BIT, Offsets.attributes);
  writeInt64(batch, logAppendTimeMs, Offsets.maxTimestamp);
  batch.writeUInt32BE(computeBatchCrc(batch), Offsets.crc);
}

const TIMESTAMP_TYPE_BIT = 0x08;
const TWO_32 = 0x100000000;

/**
 * int64 big-endian as a number, without a BigInt (this is on every batch the
 * log reads). Exact for |value| <= 2^53; offsets, ms timestamps and producer
 * ids stay far inside that.
 */
export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

/** int64 big-endian from a safe integer, without a BigInt. */
export function writeInt64(buf: Buffer, value: number, pos: number): void {
  const high = Math.floor(value / TWO_32);
  buf.writeInt32BE(high, pos);
  buf.writeUInt32BE(value - high * TWO_32, pos + 4);
}
