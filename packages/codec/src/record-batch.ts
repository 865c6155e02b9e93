// Encoding and decoding of whole Kafka RecordBatch v2 batches, records
// included (DefaultRecordBatch / DefaultRecord in Kafka's Java client).
//
// The broker's produce, replication and fetch paths never come here: they
// work on headers (batch-header.ts, `batches`) and move the producer's bytes
// as they are. Records are decoded by clients, tests, and anything that must
// look inside (compaction, the metadata log's record readers).
//
// Numbers: offsets, timestamps (ms since the epoch) and producer ids are
// JavaScript numbers. Kafka's are int64, but real offsets stay below 2^53 and
// timestamps in ms far below it; the encoder asserts safe integers and the
// decoder refuses (CORRUPT_MESSAGE) varlongs outside the safe range.
//
// Keys, values and header values in a decoded batch are `subarray` views into
// the input (or into the inflated blob for a compressed batch): no copies.
// Copy them if the input buffer is reused.
import { assert, RaftkaError } from '@raftka/common';
import {
  CompressionCodec,
  codecName,
  compressionOf,
  isControl,
  isKnownCodec,
  isTransactional,
  makeAttributes,
  TimestampType,
  timestampTypeOf,
} from './attributes.js';
import {
  BATCH_HEADER_BYTES,
  type BatchHeader,
  computeBatchCrc,
  LOG_OVERHEAD_BYTES,
  MAGIC_V2,
  Offsets,
  readBatchHeader,
  writeInt64,
} from './batch-header.js';
import { compress, DEFAULT_MAX_DECOMPRESSED_BYTES, decompress } from './compression.js';
import { Cursor, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.js';

export interface RecordHeader {
  /** UTF-8, never null. Keys may repeat within one record. */
  key: string;
  value: Buffer | null;
}

export interface RecordInput {
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: readonly RecordHeader[];
  /** Milliseconds since the epoch (CreateTime). */
  timestamp: number;
}

export interface BatchInput {
  records: readonly RecordInput[];
  compression?: CompressionCodec;
  /** What the broker stamps; producers send 0. */
  baseOffset?: number;
  /** What the broker stamps; producers send -1 (Java) or 0 (KafkaJS). Default -1. */
  partitionLeaderEpoch?: number;
  timestampType?: TimestampType;
  /** Default: the largest record timestamp; required for LogAppendTime (the broker's clock). */
  maxTimestamp?: number;
  /** Default: the first record's timestamp, as Java writes it (-1 for an empty batch). */
  baseTimestamp?: number;
  transactional?: boolean;
  /** Only the broker writes control batches (transaction markers). */
  control?: boolean;
  /** -1 = not an idempotent producer. */
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  /** Default records.length - 1; set it only for empty batches left by compaction. */
  lastOffsetDelta?: number;
}

export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface DecodedBatch {
  header: BatchHeader;
  compression: CompressionCodec;
  timestampType: TimestampType;
  transactional: boolean;
  control: boolean;
  records: DecodedRecord[];
}

export interface BatchView {
  header: BatchHeader;
  /** The whole batch, a view into the input buffer. */
  bytes: Buffer;
}

// The smallest record: length, attributes, timestampDelta, offsetDelta,
// keyLength -1, valueLength -1, headerCount 0, one byte each.
const MIN_RECORD_BYTES = 7;

/**
 * Encodes one RecordBatch v2 with its CRC. Records get offset deltas 0..n-1
 * and timestamp deltas against the base timestamp.
 */
export function encodeBatch(input: BatchInput): Buffer {
  const records = input.records;
  const compression = input.compression ?? CompressionCodec.none;
  const timestampType = input.timestampType ?? TimestampType.createTime;
  const baseTimestamp = input.baseTimestamp ?? (records.length > 0 ? records[0]!.timestamp : -1);
  let maxTimestamp = input.maxTimestamp;
  if (maxTimestamp === undefined) {
    assert(timestampType === TimestampType.createTime, 'a LogAppendTime batch needs maxTimestamp (the broker time)');
    maxTimestamp = -1;
    for (const r of records) if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp;
  }
  const producerId = input.producerId ?? -1;
  const lastOffsetDelta = input.lastOffsetDelta ?? records.length - 1;
  assert(isKnownCodec(compression), `unknown compression codec ${compression}`);
  assert(Number.isSafeInteger(baseTimestamp), `baseTimestamp ${baseTimestamp} is not a safe integer`);
  assert(Number.isSafeInteger(maxTimestamp), `maxTimestamp ${maxTimestamp} is not a safe integer`);
  assert(Number.isSafeInteger(producerId), `producerId ${producerId} is not a safe integer`);
  assert(records.length <= 0x7fffffff, `too many records: ${records.length}`);

  // Pass 1: sizes, so that the records are written into one allocation.
  const bodySizes = new Array<number>(records.length);
  let recordsBytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    assert(Number.isSafeInteger(r.timestamp), `record ${i} timestamp ${r.timestamp} is not a safe integer`);
    let body = 1 + sizeOfVarlong(r.timestamp - baseTimestamp) + sizeOfVarint(i);
    body += r.key == null ? 1 : sizeOfVarint(r.key.length) + r.key.length;
    body += r.value == null ? 1 : sizeOfVarint(r.value.length) + r.value.length;
    const headers = r.headers ?? [];
    body += sizeOfVarint(headers.length);
    for (const h of headers) {
      const keyBytes = Buffer.byteLength(h.key, 'utf8');
      body += sizeOfVarint(keyBytes) + keyBytes;
      body += h.value == null ? 1 : sizeOfVarint(h.value.length) + h.value.length;
    }
    bodySizes[i] = body;
    recordsBytes += sizeOfVarint(body) + body;
  }

  const uncompressed = compression === CompressionCodec.none;
  const recordsBuf = uncompressed
    ? Buffer.allocUnsafe(BATCH_HEADER_BYTES + recordsBytes)
    : Buffer.allocUnsafe(recordsBytes);
  let pos = uncompressed ? BATCH_HEADER_BYTES : 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    pos = writeVarint(recordsBuf, bodySizes[i]!, pos);
    recordsBuf[pos++] = 0; // record attributes: unused
    pos = writeVarlong(recordsBuf, r.timestamp - baseTimestamp, pos);
    pos = writeVarint(recordsBuf, i, pos);
    pos = writeBytes(recordsBuf, r.key ?? null, pos);
    pos = writeBytes(recordsBuf, r.value ?? null, pos);
    const headers = r.headers ?? [];
    pos = writeVarint(recordsBuf, headers.length, pos);
    for (const h of headers) {
      pos = writeVarint(recordsBuf, Buffer.byteLength(h.key, 'utf8'), pos);
      pos += recordsBuf.write(h.key, pos, 'utf8');
      pos = writeBytes(recordsBuf, h.value, pos);
    }
  }
  assert(pos === recordsBuf.length, `record sizes disagree: wrote ${pos} of ${recordsBuf.length}`);

  let batch: Buffer;
  if (uncompressed) {
    batch = recordsBuf;
  } else {
    const blob = compress(compression, recordsBuf);
    batch = Buffer.allocUnsafe(BATCH_HEADER_BYTES + blob.length);
    blob.copy(batch, BATCH_HEADER_BYTES);
  }

  writeInt64(batch, input.baseOffset ?? 0, Offsets.baseOffset);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD_BYTES, Offsets.batchLength);
  batch.writeInt32BE(input.partitionLeaderEpoch ?? -1, Offsets.partitionLeaderEpoch);
  batch.writeInt8(MAGIC_V2, Offsets.magic);
  batch.writeInt16BE(
    makeAttributes({
      compression,
      timestampType,
      transactional: input.transactional ?? false,
      control: input.control ?? false,
    }),
    Offsets.attributes,
  );
  batch.writeInt32BE(lastOffsetDelta, Offsets.lastOffsetDelta);
  writeInt64(batch, baseTimestamp, Offsets.baseTimestamp);
  writeInt64(batch, maxTimestamp, Offsets.maxTimestamp);
  writeInt64(batch, producerId, Offsets.producerId);
  batch.writeInt16BE(input.producerEpoch ?? -1, Offsets.producerEpoch);
  batch.writeInt32BE(input.baseSequence ?? -1, Offsets.baseSequence);
  batch.writeInt32BE(records.length, Offsets.recordCount);
  batch.writeUInt32BE(computeBatchCrc(batch), Offsets.crc);
  return batch;
}

export interface DecodeOptions {
  /** Check the CRC before decoding (default true). */
  verifyCrc?: boolean;
  maxDecompressedBytes?: number;
}

/**
 * Decodes one batch, records included, from the start of `buf` (which may
 * hold more batches after it; see `batches`). Throws CORRUPT_MESSAGE for a
 * short buffer, wrong magic, a CRC mismatch or malformed records, and
 * UNSUPPORTED_COMPRESSION_TYPE for codecs we cannot inflate.
 */
export function decodeBatch(buf: Buffer, options: DecodeOptions = {}): DecodedBatch {
  const header = readCompleteHeader(buf, 0);
  if (header.magic !== MAGIC_V2) {
    throw new RaftkaError('CORRUPT_MESSAGE', `batch magic is ${header.magic}, only magic ${MAGIC_V2} is supported`);
  }
  const batch = buf.subarray(0, header.sizeBytes);
  if (options.verifyCrc ?? true) {
    const computed = computeBatchCrc(batch);
    if (computed !== header.crc) throw crcMismatch(header, computed);
  }
  const records = decodeRecords(batch, header, options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES);
  return {
    header,
    compression: compressionOf(header.attributes) as CompressionCodec,
    timestampType: timestampTypeOf(header.attributes),
    transactional: isTransactional(header.attributes),
    control: isControl(header.attributes),
    records,
  };
}

/**
 * The batches laid back to back in `buf`, as header + view, without looking at
 * records or CRCs. A trailing partial batch throws CORRUPT_MESSAGE unless
 * `allowPartialTail` (fetch responses may end in one), when iteration stops.
 */
export function* batches(buf: Buffer, options: { allowPartialTail?: boolean } = {}): Generator<BatchView> {
  let pos = 0;
  // Bounded: each step advances by at least BATCH_HEADER_BYTES.
  while (pos < buf.length) {
    if (options.allowPartialTail) {
      const remaining = buf.length - pos;
      if (remaining < LOG_OVERHEAD_BYTES) return;
      const size = sizeAt(buf, pos);
      if (size >= BATCH_HEADER_BYTES && size > remaining) return;
    }
    const header = readCompleteHeader(buf, pos);
    yield { header, bytes: buf.subarray(pos, pos + header.sizeBytes) };
    pos += header.sizeBytes;
  }
}

/** Reads the header at `pos` and checks that the batch it announces is whole and no smaller than a header. */
export function readCompleteHeader(buf: Buffer, pos: number): BatchHeader {
  const remaining = buf.length - pos;
  if (remaining < BATCH_HEADER_BYTES) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `batch at byte ${pos} has ${remaining} bytes, fewer than the ${BATCH_HEADER_BYTES}-byte batch header`,
    );
  }
  const header = readBatchHeader(buf, pos)!;
  if (header.sizeBytes < BATCH_HEADER_BYTES) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `batch at byte ${pos} declares batchLength ${header.sizeBytes - LOG_OVERHEAD_BYTES} (size ${header.sizeBytes}), smaller than the ${BATCH_HEADER_BYTES}-byte header`,
    );
  }
  if (header.sizeBytes > remaining) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `batch at byte ${pos} declares batchLength ${header.sizeBytes - LOG_OVERHEAD_BYTES} (size ${header.sizeBytes}) but only ${remaining} bytes remain`,
    );
  }
  return header;
}

export function crcMismatch(header: BatchHeader, computed: number): RaftkaError {
  return new RaftkaError(
    'CORRUPT_MESSAGE',
    `batch at base offset ${header.baseOffset} is corrupt: stored CRC 0x${hex32(header.crc)}, computed 0x${hex32(computed)} over ${header.sizeBytes - Offsets.attributes} bytes`,
  );
}

/**
 * The records region of a batch, inflated if compressed: [start, end) of the
 * returned buffer hold exactly the header's recordCount records.
 */
export function recordsRegion(
  batch: Buffer,
  header: BatchHeader,
  maxDecompressedBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Cursor {
  const codec = compressionOf(header.attributes);
  if (codec === CompressionCodec.none) return new Cursor(batch, BATCH_HEADER_BYTES, batch.length);
  if (!isKnownCodec(codec)) {
    throw new RaftkaError(
      'UNSUPPORTED_COMPRESSION_TYPE',
      `batch at base offset ${header.baseOffset} uses compression codec id ${codec} (${codecName(codec)}); Kafka defines 0-4`,
    );
  }
  const inflated = decompress(codec, batch.subarray(BATCH_HEADER_BYTES), maxDecompressedBytes);
  return new Cursor(inflated, 0, inflated.length);
}

function decodeRecords(batch: Buffer, header: BatchHeader, maxDecompressedBytes: number): DecodedRecord[] {
  const cursor = recordsRegion(batch, header, maxDecompressedBytes);
  checkRecordCount(header, cursor.remaining);
  const logAppendTime = timestampTypeOf(header.attributes) === TimestampType.logAppendTime;
  const records = new Array<DecodedRecord>(header.recordCount);
  for (let i = 0; i < header.recordCount; i++) {
    const length = cursor.readVarint();
    const recordStart = cursor.pos;
    if (length < 0 || length > cursor.remaining) throw badRecordLength(header, i, length, cursor.remaining);
    cursor.readInt8(); // record attributes: unused by Kafka
    const timestampDelta = cursor.readVarlong();
    const offsetDelta = cursor.readVarint();
    const key = readNullableBytes(cursor);
    const value = readNullableBytes(cursor);
    const headerCount = cursor.readVarint();
    if (headerCount < 0 || headerCount > length) {
      throw new RaftkaError(
        'CORRUPT_MESSAGE',
        `record ${i} of batch at base offset ${header.baseOffset} has header count ${headerCount} in a ${length}-byte record`,
      );
    }
    const headers = new Array<RecordHeader>(headerCount);
    for (let h = 0; h < headerCount; h++) {
      const keyLength = cursor.readVarint();
      if (keyLength < 0) {
        throw new RaftkaError(
          'CORRUPT_MESSAGE',
          `record ${i} header ${h} of batch at base offset ${header.baseOffset} has a null key (length ${keyLength})`,
        );
      }
      const keyStart = cursor.pos;
      cursor.skip(keyLength);
      const headerKey = cursor.buf.toString('utf8', keyStart, cursor.pos);
      headers[h] = { key: headerKey, value: readNullableBytes(cursor) };
    }
    if (cursor.pos - recordStart !== length) throw recordSizeMismatch(header, i, length, cursor.pos - recordStart);
    records[i] = {
      offset: header.baseOffset + offsetDelta,
      timestamp: logAppendTime ? header.maxTimestamp : header.baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    };
  }
  if (cursor.remaining !== 0) throw trailingBytes(header, cursor.remaining);
  return records;
}

/**
 * Walks the records of a batch (from `recordsRegion`) without materialising
 * keys, values or headers: checks framing, that offset deltas run 0..n-1 and
 * that the records fill the region exactly. Used by produce validation.
 */
export function walkRecords(cursor: Cursor, header: BatchHeader, timestampBounds?: TimestampBounds): void {
  checkRecordCount(header, cursor.remaining);
  const checkTimestamps =
    timestampBounds !== undefined && timestampTypeOf(header.attributes) === TimestampType.createTime;
  for (let i = 0; i < header.recordCount; i++) {
    const length = cursor.readVarint();
    const recordStart = cursor.pos;
    if (length < 0 || length > cursor.remaining) throw badRecordLength(header, i, length, cursor.remaining);
    cursor.readInt8();
    const timestampDelta = cursor.readVarlong();
    if (checkTimestamps) checkTimestamp(header, i, header.baseTimestamp + timestampDelta, timestampBounds);
    const offsetDelta = cursor.readVarint();
    if (offsetDelta !== i) {
      throw new RaftkaError(
        'INVALID_RECORD',
        `record ${i} of batch at base offset ${header.baseOffset} has offset delta ${offsetDelta}, expected ${i}`,
      );
    }
    skipNullableBytes(cursor);
    skipNullableBytes(cursor);
    const headerCount = cursor.readVarint();
    if (headerCount < 0 || headerCount > length) {
      throw new RaftkaError(
        'CORRUPT_MESSAGE',
        `record ${i} of batch at base offset ${header.baseOffset} has header count ${headerCount} in a ${length}-byte record`,
      );
    }
    for (let h = 0; h < headerCount; h++) {
      const keyLength = cursor.readVarint();
      if (keyLength < 0) {
        throw new RaftkaError(
          'CORRUPT_MESSAGE',
          `record ${i} header ${h} of batch at base offset ${header.baseOffset} has a null key (length ${keyLength})`,
        );
      }
      cursor.skip(keyLength);
      skipNullableBytes(cursor);
    }
    if (cursor.pos - recordStart !== length) throw recordSizeMismatch(header, i, length, cursor.pos - recordStart);
  }
  if (cursor.remaining !== 0) throw trailingBytes(header, cursor.remaining);
}

/**
 * Kafka's message.timestamp.before.max.ms / after.max.ms (KIP-937): how far a
 * CreateTime record's timestamp may lie behind or ahead of the broker's clock.
 */
export interface TimestampBounds {
  nowMs: number;
  beforeMaxMs: number;
  afterMaxMs: number;
}

function checkTimestamp(header: BatchHeader, index: number, timestamp: number, bounds: TimestampBounds): void {
  if (timestamp < bounds.nowMs - bounds.beforeMaxMs || timestamp > bounds.nowMs + bounds.afterMaxMs) {
    throw new RaftkaError(
      'INVALID_TIMESTAMP',
      `record ${index} of batch at base offset ${header.baseOffset} has timestamp ${timestamp}, outside [${bounds.nowMs - bounds.beforeMaxMs}, ${bounds.nowMs + bounds.afterMaxMs}] (broker time ${bounds.nowMs}, before.max.ms ${bounds.beforeMaxMs}, after.max.ms ${bounds.afterMaxMs})`,
    );
  }
}

function checkRecordCount(header: BatchHeader, regionBytes: number): void {
  if (header.recordCount < 0 || header.recordCount * MIN_RECORD_BYTES > regionBytes) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `batch at base offset ${header.baseOffset} declares ${header.recordCount} records in ${regionBytes} bytes of records (each needs at least ${MIN_RECORD_BYTES})`,
    );
  }
}

function readNullableBytes(cursor: Cursor): Buffer | null {
  const length = cursor.readVarint();
  if (length < -1) throw new RaftkaError('CORRUPT_MESSAGE', `byte field length ${length} at ${cursor.pos} is below -1`);
  return length === -1 ? null : cursor.readBytes(length);
}

function skipNullableBytes(cursor: Cursor): void {
  const length = cursor.readVarint();
  if (length < -1) throw new RaftkaError('CORRUPT_MESSAGE', `byte field length ${length} at ${cursor.pos} is below -1`);
  if (length > 0) cursor.skip(length);
}

function badRecordLength(header: BatchHeader, index: number, length: number, remaining: number): RaftkaError {
  return new RaftkaError(
    'CORRUPT_MESSAGE',
    `record ${index} of batch at base offset ${header.baseOffset} declares length ${length} but ${remaining} bytes remain`,
  );
}

function recordSizeMismatch(header: BatchHeader, index: number, declared: number, read: number): RaftkaError {
  return new RaftkaError(
    'CORRUPT_MESSAGE',
    `record ${index} of batch at base offset ${header.baseOffset} declares length ${declared} but its fields take ${read} bytes`,
  );
}

function trailingBytes(header: BatchHeader, remaining: number): RaftkaError {
  return new RaftkaError(
    'CORRUPT_MESSAGE',
    `batch at base offset ${header.baseOffset} has ${remaining} bytes after its ${header.recordCount} declared records`,
  );
}

function sizeAt(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + Offsets.batchLength) + LOG_OVERHEAD_BYTES;
}

function writeBytes(buf: Buffer, bytes: Buffer | null, pos: number): number {
  if (bytes === null) return writeVarint(buf, -1, pos);
  pos = writeVarint(buf, bytes.length, pos);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0');
}
