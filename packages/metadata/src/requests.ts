// The requests the quorum controller handles and the responses it returns, in
// Kafka's field names. Handlers for a single thing (a registration, a
// heartbeat, one AlterPartition) throw a RaftkaError with Kafka's code;
// handlers for a list (CreateTopics, DeleteTopics, ElectLeaders, configs)
// answer each item with its own error, as Kafka's batched APIs do.
import type { ErrorName } from '@raftka/common';
import { ErrorCodes } from '@raftka/common';
import type { MetadataImage } from './image.js';
import type { ConfigResourceType, Listener, MetadataRecord } from './records.js';

/** What every handler returns: records for the driver to append, and the answer. */
export interface ControllerResult<T> {
  readonly records: readonly MetadataRecord[];
  readonly response: T;
  /**
   * What the handler already computed while deciding: replaying `records` at
   * consecutive offsets from `fromOffset` on top of `base` gives `image()`.
   * The active controller adopts it instead of replaying the batch again
   * when the log assigned exactly those offsets to exactly those records.
   */
  readonly replayed?: ReplayedBatch;
}

/** A handler's records as already replayed onto the image it decided on (RecordsBuilder). */
export interface ReplayedBatch {
  /** The very array replayed: a result whose records were replaced or filtered is replayed afresh. */
  readonly records: readonly MetadataRecord[];
  readonly base: MetadataImage;
  readonly fromOffset: number;
  readonly image: () => MetadataImage;
}

export interface ApiError {
  readonly errorName: ErrorName;
  readonly code: number;
  readonly message: string;
}

export function apiError(errorName: ErrorName, message: string): ApiError {
  return { errorName, code: ErrorCodes[errorName].code, message };
}

// --- Brokers ------------------------------------------------------------------

export interface BrokerRegistrationRequest {
  readonly brokerId: number;
  readonly incarnationId: string;
  readonly rack: string | null;
  readonly listeners: readonly Listener[];
}

/**
 * The broker epoch is the offset of the RegisterBroker record, which only the
 * log assigns: `registrationRecordIndex` says which of the result's records it
 * is (epoch = offset of the batch's first record + index). A retry from the
 * same incarnation writes nothing and returns its `brokerEpoch` directly.
 */
export interface BrokerRegistrationResponse {
  readonly brokerId: number;
  readonly registrationRecordIndex: number | null;
  readonly brokerEpoch: number | null;
}

export interface BrokerHeartbeatRequest {
  readonly brokerId: number;
  readonly brokerEpoch: number;
  /** Offset of the last metadata record the broker has replayed. */
  readonly currentMetadataOffset: number;
  readonly wantFence: boolean;
  readonly wantShutDown: boolean;
}

export interface BrokerHeartbeatResponse {
  readonly isCaughtUp: boolean;
  readonly isFenced: boolean;
  readonly shouldShutDown: boolean;
}

/** One registration as DescribeCluster-style admin tools show it. */
export interface BrokerDescription {
  readonly brokerId: number;
  readonly brokerEpoch: number;
  readonly incarnationId: string;
  readonly rack: string | null;
  readonly listeners: readonly Listener[];
  readonly state: 'fenced' | 'unfenced' | 'controlled-shutdown';
  /** Last heartbeat this active controller saw (soft state), or null on a standby. */
  readonly lastContactMs: number | null;
  /** Metadata offset the broker last reported to this active controller, or -1. */
  readonly metadataOffset: number;
}

export interface FenceStaleBrokersResponse {
  readonly fencedBrokerIds: readonly number[];
  /** When the driver should call again (the next session deadline), or null when no broker is unfenced. */
  readonly nextCheckMs: number | null;
}

// --- Topics ---------------------------------------------------------------------

export interface CreatableTopic {
  readonly name: string;
  /** -1 (or absent) for the cluster's num.partitions. Ignored with `assignments`. */
  readonly numPartitions?: number;
  /** -1 (or absent) for the cluster's default.replication.factor. Ignored with `assignments`. */
  readonly replicationFactor?: number;
  /** Explicit replicas per partition, partition 0 first. */
  readonly assignments?: readonly (readonly number[])[];
  readonly configs?: Readonly<Record<string, string>>;
}

export interface CreateTopicResult {
  readonly name: string;
  readonly topicId: string | null;
  readonly numPartitions: number;
  readonly replicationFactor: number;
  readonly error: ApiError | null;
}

export interface DeleteTopicResult {
  readonly name: string;
  readonly topicId: string | null;
  readonly error: ApiError | null;
}

export interface CreatePartitionsTopic {
  readonly name: string;
  /** The new total partition count. */
  readonly count: number;
  /** Replicas of each new partition, optional. */
  readonly assignments?: readonly (readonly number[])[];
}

export interface CreatePartitionsResult {
  readonly name: string;
  readonly error: ApiError | null;
}

export interface PartitionDescription {
  readonly partition: number;
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  /** Replicas on fenced (or unknown) brokers. */
  readonly offlineReplicas: readonly number[];
}

export interface TopicDescription {
  readonly name: string;
  readonly topicId: string | null;
  readonly error: ApiError | null;
  readonly partitions: readonly PartitionDescription[];
}

// --- Configs ------------------------------------------------------------------

export interface ConfigResource {
  readonly resourceType: ConfigResourceType;
  /** Topic name, or '' for the cluster default. */
  readonly resourceName: string;
}

export type ConfigSource = 'topic' | 'cluster' | 'default';

export interface ConfigEntry {
  readonly name: string;
  readonly value: string;
  readonly source: ConfigSource;
  readonly unit: string | null;
}

export interface DescribeConfigsResult extends ConfigResource {
  readonly error: ApiError | null;
  readonly entries: readonly ConfigEntry[];
}

export interface AlterConfigOp {
  readonly name: string;
  readonly op: 'set' | 'delete';
  /** Required for `set`. */
  readonly value?: string;
}

export interface AlterConfigsResource extends ConfigResource {
  readonly ops: readonly AlterConfigOp[];
}

export interface AlterConfigsResult extends ConfigResource {
  readonly error: ApiError | null;
}

// --- Partitions -------------------------------------------------------------------

export interface AlterPartitionRequest {
  readonly brokerId: number;
  readonly brokerEpoch: number;
  readonly topicId: string;
  readonly partition: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly newIsr: readonly number[];
}

export interface AlterPartitionResponse {
  readonly topicId: string;
  readonly partition: number;
  readonly leader: number;
  readonly leaderEpoch: number;
  /** The partition epoch the committed change will have. */
  readonly partitionEpoch: number;
  readonly isr: readonly number[];
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export type ElectionType = 'preferred' | 'unclean';

export interface ElectLeadersRequest {
  readonly electionType: ElectionType;
  /** null: every partition. */
  readonly partitions: readonly TopicPartition[] | null;
}

export interface ElectLeadersResult extends TopicPartition {
  readonly error: ApiError | null;
}

export interface BalanceLeadersResponse {
  readonly elections: number;
  /** True when the pass stopped at its election cap and more partitions are imbalanced. */
  readonly moreRemaining: boolean;
}

// --- Producer ids and features ----------------------------------------------------

export interface AllocateProducerIdsRequest {
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

export interface AllocateProducerIdsResponse {
  readonly producerIdStart: number;
  readonly producerIdLen: number;
}

export interface FeatureUpdate {
  readonly name: string;
  readonly featureLevel: number;
}
