// Kafka RecordBatch v2 codec: encode, decode, validate, compress.
export {
  BATCH_HEADER_BYTES,
  type BatchHeader,
  computeBatchCrc,
  LOG_OVERHEAD_BYTES,
  MAGIC_V2,
  Offsets,
  readBatchHeader,
  stampBatch,
} from './batch-header.js';
