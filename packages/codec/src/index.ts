// Kafka RecordBatch v2 codec: encode, decode, validate, compress. The broker
// uses the header-only parts (batch-header, batches, validateProducedBatch,
// verifyBatchCrc); clients and tests decode records. See docs/record-format.md.
export {
  AttributeMasks,
  CompressionCodec,
  codecName,
  compressionOf,
  isControl,
  isTransactional,
  TimestampType,
  timestampTypeOf,
} from './attributes.js';
export {
  BATCH_HEADER_BYTES,
  type BatchHeader,
  computeBatchCrc,
  LOG_OVERHEAD_BYTES,
  MAGIC_V2,
  Offsets,
  readBatchHeader,
  readInt64,
  stampBatch,
  stampLogAppendTime,
  writeInt64,
} from './batch-header.js';
export { compress, DEFAULT_MAX_DECOMPRESSED_BYTES, decompress, isXerialSnappy } from './compression.js';
export {
  type ControlBatchInput,
  ControlRecordType,
  type EndTransactionMarker,
  encodeEndTransactionMarker,
  readEndTransactionMarker,
} from './control.js';
export {
  type BatchInput,
  type BatchView,
  batches,
  type DecodedBatch,
  type DecodedRecord,
  type DecodeOptions,
  decodeBatch,
  encodeBatch,
  type RecordHeader,
  type RecordInput,
  type TimestampBounds,
} from './record-batch.js';
export {
  type ProduceValidationOptions,
  type ValidatedBatch,
  validateProducedBatch,
  validateProducedRecords,
  verifyBatchCrc,
} from './validate.js';
export { Cursor, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.js';
