// @raftka/client: a Kafka-compatible client library for Raftka. Producer
// (configuration under Kafka's key names, Java-compatible partitioners, the
// record accumulator that batches records into RecordBatch v2, and the
// sender that ships them to partition leaders), Consumer (assign, seek,
// poll) and Admin (topics, configs, cluster, metadata), over the brokers'
// gRPC data plane. See docs/client.md.

export {
  type AppendOutcome,
  type AppendResult,
  BufferExhaustedError,
  type DeliveryCallback,
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
export { Admin, type AdminOptions, type NewTopic } from './admin.js';
export {
  type Acks,
  MAX_IN_FLIGHT_FOR_IDEMPOTENCE,
  PRODUCER_DEFAULTS,
  type ProducerConfig,
  type ProducerConfigKey,
  type ProducerSettings,
  validateProducerConfig,
} from './config.js';
export { Consumer, type ConsumerOptions, type ConsumerRecord, type SeekTarget, tpKey } from './consumer.js';
export {
  CONSUMER_DEFAULTS,
  type ConsumerConfig,
  type ConsumerConfigKey,
  type ConsumerSettings,
  type OffsetResetStrategy,
  validateConsumerConfig,
} from './consumer-config.js';
export {
  type BrokerInfo,
  type ClusterMetadata,
  METADATA_REFRESH_ERRORS,
  MetadataCache,
  type MetadataCacheOptions,
  metadataFromWire,
  type PartitionInfo,
  type TopicInfo,
} from './metadata-cache.js';
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
export { Producer, type ProducerOptions, parseBootstrap } from './producer-client.js';
