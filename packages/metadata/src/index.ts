// @raftka/metadata: the sans-IO control plane core. Metadata records and
// their versioned encoding; the immutable MetadataImage built by replaying
// records into a MetadataDelta; the quorum controller's handlers, which turn
// requests into records; replica placement; and the broker-side view of a
// delta (localChanges). No IO, clock or randomness of its own.
export {
  CONFIG_SCHEMA,
  type ConfigKey,
  type ConfigType,
  configKey,
  configTableMarkdown,
  parseBooleanConfig,
  parseIntConfig,
  requireConfigKey,
  validateConfigValue,
} from './config-schema.js';
export {
  type Completion,
  ControllerEngine,
  type ControllerEngineOptions,
  DEFAULT_MAX_IDLE_INTERVAL_MS,
  DEFAULT_MAX_PENDING_ADMIN_WRITES,
  DEFAULT_UNCLEAN_LEADER_ELECTION_INTERVAL_MS,
  type EngineOutcome,
  type EngineRegistrationResponse,
  type MetadataLog,
  type MetadataLogAppend,
  type MetadataLogEntry,
  type MetadataSnapshot,
} from './controller-engine.js';
export { MetadataDelta, replayAll } from './delta.js';
export {
  type BrokerRegistration,
  MetadataImage,
  type MetadataImageParts,
  NO_LEADER,
  type PartitionRegistration,
  type TopicImage,
} from './image.js';
export {
  type LocalPartition,
  type LocalReplicaChanges,
  localChanges,
  MetadataLoader,
  type MetadataPublisher,
} from './local-changes.js';
export { ControllerCounters, type ControllerImageGauges, controllerImageGauges } from './metrics.js';
export {
  buildPartitionChange,
  type ElectionKind,
  type PartitionChangeInput,
  type PartitionChangeOutcome,
} from './partition-change.js';
export { type PlacementBroker, type PlacementRequest, placeReplicas } from './placement.js';
export {
  DEFAULT_BROKER_SESSION_TIMEOUT_MS,
  DEFAULT_MAX_ELECTIONS_PER_IMBALANCE_PASS,
  DEFAULT_PRODUCER_ID_BLOCK_SIZE,
  QuorumController,
  type QuorumControllerOptions,
  randomTopicId,
} from './quorum-controller.js';
export {
  type BrokerRegistrationChange,
  type BrokerRegistrationChangeRecord,
  type ConfigRecord,
  type ConfigResourceType,
  decodeRecord,
  encodeRecord,
  encodeRecords,
  type FeatureLevelRecord,
  type Listener,
  type MetadataRecord,
  type MetadataRecordType,
  type NoOpRecord,
  type PartitionChangeRecord,
  type PartitionRecord,
  type ProducerIdsRecord,
  RECORD_SCHEMAS,
  RecordDecodeError,
  type RecordDecodeFailure,
  type RegisterBrokerRecord,
  type RemoveTopicRecord,
  type TopicRecord,
} from './records.js';
export * from './requests.js';
export { describeConfigs, describeTopics, TOPIC_NAME_LENGTH_MAX, validateTopicName } from './topic-rules.js';
