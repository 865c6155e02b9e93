// @raftka/client: a Kafka-compatible client library for Raftka. This first
// piece holds what does not need the network: producer configuration under
// Kafka's key names, Java-compatible partitioners and the record accumulator
// that batches records into RecordBatch v2 for a Transport to send.
// See docs/client.md.

export {
  type AppendResult,
  BufferExhaustedError,
  DeliveryTimeoutError,
  type DrainedBatch,
  incrementSequence,
  ProducerBatch,
  type ProducerIdentity,
  type ProducerRecordData,
  RECORD_BATCH_OVERHEAD_BYTES,
  RecordAccumulator,
  type RecordAccumulatorOptions,
  type RecordMetadata,
  recordSizeBytes,
  recordSizeUpperBoundBytes,
  systemClock,
  systemTimer,
  type Timer,
  type TopicPartition,
} from './accumulator.js';
export {
  type Acks,
  MAX_IN_FLIGHT_FOR_IDEMPOTENCE,
  PRODUCER_DEFAULTS,
  type ProducerConfig,
  type ProducerConfigKey,
  type ProducerSettings,
  validateProducerConfig,
} from './config.js';
export {
  DefaultPartitioner,
  mathRandom,
  murmur2,
  type Partitioner,
  type PartitionRequest,
  partitionForKey,
  StickyPartitionCache,
  toPositive,
} from './partitioner.js';
export {
  ProducerCore,
  type ProducerCoreOptions,
  type ProducerRecord,
  type TopicLayout,
} from './producer.js';
export type {
  ProducePartitionData,
  ProducePartitionResponse,
  ProduceRequest,
  ProduceResponse,
  ProduceTopicData,
  ProduceTransport,
} from './transport.js';
