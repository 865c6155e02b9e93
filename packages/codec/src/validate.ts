// What a partition leader checks on a producer's batch before it assigns
// offsets and appends, with the error codes Apache Kafka answers for each
// failure (ProduceRequest.validateRecords, UnifiedLog.analyzeAndValidateRecords,
// LogValidator.validateBatch / validateRecord). In Kafka's order:
//
//  1. a complete batch is present             INVALID_RECORD   (produce v3+)
//  2. batchLength >= 14 (legacy minimum)       CORRUPT_MESSAGE
//  3. magic 0..2, else                         CORRUPT_MESSAGE
//     magic == 2 (0 and 1 are legacy)          INVALID_RECORD
//  4. exactly one batch per partition          INVALID_RECORD   (produce v3+; opt out for our own API)
//  5. size >= 61 (the v2 header)               CORRUPT_MESSAGE
//  6. baseOffset == 0 from a client            INVALID_RECORD
//  7. size <= max.message.bytes                MESSAGE_TOO_LARGE
//  8. CRC-32C matches                          CORRUPT_MESSAGE
//  9. codec id known and supported             UNSUPPORTED_COMPRESSION_TYPE
// 10. recordCount == lastOffsetDelta + 1 > 0   INVALID_RECORD
// 11. not a control batch                      INVALID_RECORD
// 12. producerId and timestamps within 2^53   INVALID_RECORD / INVALID_TIMESTAMP (ours: numbers)
//     producerId >= 0 implies baseSequence>=0  INVALID_RECORD
// 13. records parse, offset deltas 0..n-1     INVALID_RECORD (blob that does not inflate: CORRUPT_MESSAGE)
// 14. CreateTime record timestamps within     INVALID_TIMESTAMP (optional: timestampBounds)
//     message.timestamp.before/after.max.ms
//
// Java accepts odd inner offset deltas and recompresses; every client we
// target writes 0..n-1, so we refuse anything else rather than rewrite batches.
// Java also drops a partial batch trailing the first one silently; we refuse it.
import { isRaftkaError, RaftkaError } from '@raftka/common';
import { type CompressionCodec, compressionOf, isControl, isKnownCodec } from './attributes.js';
import {
  BATCH_HEADER_BYTES,
  type BatchHeader,
  computeBatchCrc,
  LOG_OVERHEAD_BYTES,
  MAGIC_V2,
  Offsets,
  readBatchHeader,
} from './batch-header.js';
import { crcMismatch, recordsRegion, type TimestampBounds, walkRecords } from './record-batch.js';

/** Kafka's smallest legacy (magic 0) message: LegacyRecord.RECORD_OVERHEAD_V0. */
const LEGACY_MIN_RECORD_BYTES = 14;
/** Bytes up to and including the magic byte, the same in every message format. */
const HEADER_BYTES_UP_TO_MAGIC = Offsets.magic + 1;

export interface ProduceValidationOptions {
  /** The topic's max.message.bytes: the largest batch, header included. */
  maxMessageBytes: number;
  /** Parse every record (inflating compressed batches). Default true, as Kafka does. */
  validateRecords?: boolean;
  /** Refuse more than one batch in the buffer, as Kafka's produce v3+ does. Default true. */
  singleBatch?: boolean;
  maxDecompressedBytes?: number;
  /** Check CreateTime record timestamps against the broker clock (INVALID_TIMESTAMP); needs validateRecords. */
  timestampBounds?: TimestampBounds;
}

export interface ValidatedBatch {
  header: BatchHeader;
  recordCount: number;
  compression: CompressionCodec;
  /** The batch, a view into the input. */
  bytes: Buffer;
}

/**
 * Validates the records a producer sent for one partition (Kafka allows
 * exactly one batch there; `singleBatch: false` accepts several back to back)
 * and returns the parsed batches. Throws RaftkaError with Kafka's code.
 */
export function validateProducedRecords(buf: Buffer, options: ProduceValidationOptions): ValidatedBatch[] {
  const singleBatch = options.singleBatch ?? true;
  const validated: ValidatedBatch[] = [];
  let pos = 0;
  // Bounded: every batch advances pos by at least BATCH_HEADER_BYTES.
  do {
    const size = completeBatchSize(buf, pos, validated.length);
    const magic = buf.readInt8(pos + Offsets.magic);
    if (magic < 0 || magic > MAGIC_V2) {
      throw new RaftkaError('CORRUPT_MESSAGE', `batch at byte ${pos} has magic ${magic}; Kafka knows magic 0, 1 and 2`);
    }
    if (magic !== MAGIC_V2) {
      throw new RaftkaError(
        'INVALID_RECORD',
        `batch at byte ${pos} has magic ${magic}; produce requests may only carry record batches with magic 2`,
      );
    }
    if (singleBatch && validated.length === 0 && pos + size < buf.length) {
      const rest = buf.length - size;
      const second = rest >= LOG_OVERHEAD_BYTES ? buf.readInt32BE(size + Offsets.batchLength) + LOG_OVERHEAD_BYTES : -1;
      if (second >= LEGACY_MIN_RECORD_BYTES + LOG_OVERHEAD_BYTES && second <= rest) {
        throw new RaftkaError(
          'INVALID_RECORD',
          `produce data for one partition holds more than one record batch (first is ${size} of ${buf.length} bytes); Kafka allows exactly one`,
        );
      }
      throw new RaftkaError(
        'CORRUPT_MESSAGE',
        `${rest} bytes after the record batch of ${size} bytes do not form a complete batch`,
      );
    }
    validated.push(validateBatchAt(buf.subarray(pos, pos + size), pos, options));
    pos += size;
  } while (pos < buf.length);
  return validated;
}

/** Validates a buffer holding exactly one producer batch; see `validateProducedRecords`. */
export function validateProducedBatch(buf: Buffer, options: ProduceValidationOptions): ValidatedBatch {
  return validateProducedRecords(buf, { ...options, singleBatch: true })[0]!;
}

/**
 * Cheap integrity check of one stored or fetched batch: whole, at least a
 * header long, and its CRC-32C matches. Does not look at records.
 */
export function verifyBatchCrc(batch: Buffer): boolean {
  if (batch.length < BATCH_HEADER_BYTES) return false;
  const size = batch.readInt32BE(Offsets.batchLength) + LOG_OVERHEAD_BYTES;
  if (size < BATCH_HEADER_BYTES || size > batch.length) return false;
  return computeBatchCrc(batch.subarray(0, size)) === batch.readUInt32BE(Offsets.crc);
}

function completeBatchSize(buf: Buffer, pos: number, index: number): number {
  const remaining = buf.length - pos;
  if (remaining < LOG_OVERHEAD_BYTES) {
    throw new RaftkaError(
      index === 0 ? 'INVALID_RECORD' : 'CORRUPT_MESSAGE',
      `produce data has ${remaining} bytes at byte ${pos}, fewer than the ${LOG_OVERHEAD_BYTES} bytes of baseOffset and batchLength, so no complete record batch`,
    );
  }
  const batchLength = buf.readInt32BE(pos + Offsets.batchLength);
  if (batchLength < LEGACY_MIN_RECORD_BYTES) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `batch at byte ${pos} declares batchLength ${batchLength}, below the minimum of ${LEGACY_MIN_RECORD_BYTES}`,
    );
  }
  const size = batchLength + LOG_OVERHEAD_BYTES;
  if (size > remaining || remaining < HEADER_BYTES_UP_TO_MAGIC) {
    throw new RaftkaError(
      index === 0 ? 'INVALID_RECORD' : 'CORRUPT_MESSAGE',
      `batch at byte ${pos} declares batchLength ${batchLength} (size ${size}) but only ${remaining} bytes are present, so no complete record batch`,
    );
  }
  return size;
}

function validateBatchAt(batch: Buffer, pos: number, options: ProduceValidationOptions): ValidatedBatch {
  if (batch.length < BATCH_HEADER_BYTES) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `record batch at byte ${pos} is ${batch.length} bytes, smaller than the ${BATCH_HEADER_BYTES}-byte v2 header`,
    );
  }
  const header = readBatchHeader(batch, 0)!;
  if (header.baseOffset !== 0) {
    throw new RaftkaError(
      'INVALID_RECORD',
      `the baseOffset of a produced record batch should be 0, but it is ${header.baseOffset}`,
    );
  }
  if (header.sizeBytes > options.maxMessageBytes) {
    throw new RaftkaError(
      'MESSAGE_TOO_LARGE',
      `record batch is ${header.sizeBytes} bytes, over the topic's max.message.bytes of ${options.maxMessageBytes}`,
    );
  }
  const computed = computeBatchCrc(batch);
  if (computed !== header.crc) throw crcMismatch(header, computed);

  const codec = compressionOf(header.attributes);
  if (!isKnownCodec(codec)) {
    throw new RaftkaError(
      'UNSUPPORTED_COMPRESSION_TYPE',
      `record batch uses compression codec id ${codec}; Kafka defines 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd`,
    );
  }
  if (header.recordCount <= 0 || header.lastOffsetDelta + 1 !== header.recordCount) {
    throw new RaftkaError(
      'INVALID_RECORD',
      header.lastOffsetDelta < 0
        ? `record batch has an invalid offset range: lastOffsetDelta ${header.lastOffsetDelta} (recordCount ${header.recordCount})`
        : `record batch offset range [0, ${header.lastOffsetDelta}] is inconsistent with its count of records ${header.recordCount}`,
    );
  }
  if (isControl(header.attributes)) {
    throw new RaftkaError(
      'INVALID_RECORD',
      `clients may not write control batches (attributes 0x${header.attributes.toString(16)} have the control bit set)`,
    );
  }
  // Our API carries int64 fields as numbers (exact to 2^53, see
  // docs/record-format.md). Producer ids come from the broker's
  // InitProducerId and timestamps are ms, so anything larger is not a real
  // client's batch; refuse it rather than round it.
  if (!Number.isSafeInteger(header.producerId)) {
    throw new RaftkaError(
      'INVALID_RECORD',
      `producerId ${header.producerId} is outside the range Raftka supports (±2^53)`,
    );
  }
  if (!Number.isSafeInteger(header.baseTimestamp) || !Number.isSafeInteger(header.maxTimestamp)) {
    throw new RaftkaError(
      'INVALID_TIMESTAMP',
      `batch timestamps (base ${header.baseTimestamp}, max ${header.maxTimestamp}) are outside the range Raftka supports (±2^53 ms)`,
    );
  }
  if (header.producerId >= 0 && header.baseSequence < 0) {
    throw new RaftkaError(
      'INVALID_RECORD',
      `invalid sequence number ${header.baseSequence} in a record batch with producerId ${header.producerId}`,
    );
  }
  if (options.validateRecords ?? true) {
    // Inflation failures keep their own code (CORRUPT_MESSAGE); a record that does not parse
    // inside a batch whose CRC matched is Kafka's INVALID_RECORD.
    const cursor = recordsRegion(batch, header, options.maxDecompressedBytes);
    try {
      walkRecords(cursor, header, options.timestampBounds);
    } catch (err) {
      if (isRaftkaError(err) && err.errorName === 'CORRUPT_MESSAGE') {
        throw new RaftkaError('INVALID_RECORD', `invalid record structure: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }
  return { header, recordCount: header.recordCount, compression: codec, bytes: batch };
}
