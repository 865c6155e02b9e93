// Conversions between @raftka/metadata's request and response types and the
// proto-loader objects of raftka.controller.v1 and raftka.admin.v1. Both the
// server side (control-plane-services.ts) and the clients (admin-client.ts,
// broker-lifecycle-client.ts) use them, so each field is mapped in one place.
//
// Per-item errors travel as `error_code` (Kafka's number, 0 = none) and
// `error_message`; enums as their proto names. A request that names an
// unknown enum value is refused with INVALID_REQUEST.
import { ErrorCodes, type ErrorName, errorNameOf, RaftkaError } from '@raftka/common';
import type {
  AllocateProducerIdsRequest,
  AllocateProducerIdsResponse,
  AlterConfigOp,
  AlterConfigsResource,
  AlterConfigsResult,
  AlterPartitionRequest,
  AlterPartitionResponse,
  ApiError,
  BrokerHeartbeatRequest,
  BrokerHeartbeatResponse,
  BrokerRegistrationRequest,
  ConfigEntry,
  ConfigResource,
  ConfigResourceType,
  ConfigSource,
  CreatableTopic,
  CreatePartitionsResult,
  CreatePartitionsTopic,
  CreateTopicResult,
  DeleteTopicResult,
  DescribeConfigsResult,
  ElectionType,
  ElectLeadersRequest,
  ElectLeadersResult,
  Listener,
  PartitionDescription,
  TopicDescription,
  TopicPartition,
} from '@raftka/metadata';
import type { Wire } from './wire.js';

// --- Shared pieces ---------------------------------------------------------------

function num(value: unknown): number {
  return Number(value ?? 0);
}

function str(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

function wires(value: unknown): Wire[] {
  return (value as Wire[] | undefined) ?? [];
}

function ints(value: unknown): number[] {
  return ((value as unknown[] | undefined) ?? []).map(Number);
}

export function apiErrorToWire(error: ApiError | null): { error_code: number; error_message: string } {
  return error === null
    ? { error_code: 0, error_message: '' }
    : { error_code: error.code, error_message: error.message };
}

export function apiErrorFromWire(w: Wire): ApiError | null {
  const code = num(w.error_code);
  if (code === 0) return null;
  const errorName: ErrorName = errorNameOf(code);
  return { errorName, code, message: str(w.error_message) };
}

function invalid(what: string): RaftkaError {
  return new RaftkaError('INVALID_REQUEST', what);
}

/** A two-way table between a TypeScript string union and proto enum names. */
function enumTable<T extends string>(prefix: string, values: Record<T, string>) {
  const back = new Map<string, T>();
  for (const [k, v] of Object.entries(values) as [T, string][]) back.set(`${prefix}${v}`, k);
  return {
    toWire: (value: T): string => `${prefix}${values[value]}`,
    fromWire: (value: unknown, what: string): T => {
      const found = back.get(String(value));
      if (found === undefined) throw invalid(`${what}: unknown value ${String(value)}`);
      return found;
    },
  };
}

const RESOURCE_TYPE = enumTable<ConfigResourceType>('CONFIG_RESOURCE_TYPE_', { cluster: 'CLUSTER', topic: 'TOPIC' });
const CONFIG_SOURCE = enumTable<ConfigSource>('CONFIG_SOURCE_', {
  topic: 'TOPIC',
  cluster: 'CLUSTER',
  default: 'DEFAULT',
});
const OP_TYPE = enumTable<AlterConfigOp['op']>('ALTER_CONFIG_OP_TYPE_', { set: 'SET', delete: 'DELETE' });
const ELECTION_TYPE = enumTable<ElectionType>('ELECTION_TYPE_', { preferred: 'PREFERRED', unclean: 'UNCLEAN' });

export type BrokerState = 'fenced' | 'unfenced' | 'controlled-shutdown';
const BROKER_STATE = enumTable<BrokerState>('BROKER_STATE_', {
  fenced: 'FENCED',
  unfenced: 'UNFENCED',
  'controlled-shutdown': 'CONTROLLED_SHUTDOWN',
});

export function listenerToWire(l: Listener): Wire {
  return { name: l.name, host: l.host, port: l.port };
}

export function listenerFromWire(w: Wire): Listener {
  return { name: str(w.name), host: str(w.host), port: num(w.port) };
}

function assignmentsToWire(assignments: readonly (readonly number[])[] | undefined): Wire[] {
  return (assignments ?? []).map((replicas) => ({ broker_ids: [...replicas] }));
}

function assignmentsFromWire(value: unknown): number[][] | undefined {
  const list = wires(value);
  return list.length === 0 ? undefined : list.map((a) => ints(a.broker_ids));
}

// --- BrokerLifecycle -------------------------------------------------------------

export function registrationToWire(r: BrokerRegistrationRequest): Wire {
  return {
    broker_id: r.brokerId,
    incarnation_id: r.incarnationId,
    rack: r.rack ?? '',
    listeners: r.listeners.map(listenerToWire),
  };
}

export function registrationFromWire(w: Wire): BrokerRegistrationRequest {
  const rack = str(w.rack);
  return {
    brokerId: num(w.broker_id),
    incarnationId: str(w.incarnation_id),
    rack: rack === '' ? null : rack,
    listeners: wires(w.listeners).map(listenerFromWire),
  };
}

export interface HeartbeatWireRequest extends BrokerHeartbeatRequest {
  readonly sequence: number;
}

export function heartbeatToWire(r: HeartbeatWireRequest): Wire {
  return {
    broker_id: r.brokerId,
    broker_epoch: r.brokerEpoch,
    current_metadata_offset: r.currentMetadataOffset,
    want_fence: r.wantFence,
    want_shut_down: r.wantShutDown,
    sequence: r.sequence,
  };
}

export function heartbeatFromWire(w: Wire): HeartbeatWireRequest {
  return {
    brokerId: num(w.broker_id),
    brokerEpoch: num(w.broker_epoch),
    currentMetadataOffset: num(w.current_metadata_offset),
    wantFence: Boolean(w.want_fence),
    wantShutDown: Boolean(w.want_shut_down),
    sequence: num(w.sequence),
  };
}

/** A heartbeat answer: the response, or the error about this one heartbeat. */
export interface HeartbeatWireResponse extends BrokerHeartbeatResponse {
  readonly error: ApiError | null;
  readonly sequence: number;
}

export function heartbeatResponseToWire(r: HeartbeatWireResponse): Wire {
  return {
    ...apiErrorToWire(r.error),
    is_caught_up: r.isCaughtUp,
    is_fenced: r.isFenced,
    should_shut_down: r.shouldShutDown,
    sequence: r.sequence,
  };
}

export function heartbeatResponseFromWire(w: Wire): HeartbeatWireResponse {
  return {
    error: apiErrorFromWire(w),
    isCaughtUp: Boolean(w.is_caught_up),
    isFenced: Boolean(w.is_fenced),
    shouldShutDown: Boolean(w.should_shut_down),
    sequence: num(w.sequence),
  };
}

export function alterPartitionToWire(r: AlterPartitionRequest): Wire {
  return {
    broker_id: r.brokerId,
    broker_epoch: r.brokerEpoch,
    topic_id: r.topicId,
    partition: r.partition,
    leader_epoch: r.leaderEpoch,
    partition_epoch: r.partitionEpoch,
    new_isr: [...r.newIsr],
  };
}

export function alterPartitionFromWire(w: Wire): AlterPartitionRequest {
  return {
    brokerId: num(w.broker_id),
    brokerEpoch: num(w.broker_epoch),
    topicId: str(w.topic_id),
    partition: num(w.partition),
    leaderEpoch: num(w.leader_epoch),
    partitionEpoch: num(w.partition_epoch),
    newIsr: ints(w.new_isr),
  };
}

export function alterPartitionResponseToWire(r: AlterPartitionResponse): Wire {
  return {
    topic_id: r.topicId,
    partition: r.partition,
    leader: r.leader,
    leader_epoch: r.leaderEpoch,
    partition_epoch: r.partitionEpoch,
    isr: [...r.isr],
  };
}

export function alterPartitionResponseFromWire(w: Wire): AlterPartitionResponse {
  return {
    topicId: str(w.topic_id),
    partition: num(w.partition),
    leader: num(w.leader),
    leaderEpoch: num(w.leader_epoch),
    partitionEpoch: num(w.partition_epoch),
    isr: ints(w.isr),
  };
}

export function allocateProducerIdsFromWire(w: Wire): AllocateProducerIdsRequest {
  return { brokerId: num(w.broker_id), brokerEpoch: num(w.broker_epoch) };
}

export function allocateProducerIdsResponseFromWire(w: Wire): AllocateProducerIdsResponse {
  return { producerIdStart: num(w.producer_id_start), producerIdLen: num(w.producer_id_len) };
}

// --- Admin: topics ------------------------------------------------------------------

export function creatableTopicToWire(t: CreatableTopic): Wire {
  return {
    name: t.name,
    num_partitions: t.numPartitions ?? -1,
    replication_factor: t.replicationFactor ?? -1,
    assignments: assignmentsToWire(t.assignments),
    configs: { ...(t.configs ?? {}) },
  };
}

export function creatableTopicFromWire(w: Wire): CreatableTopic {
  const assignments = assignmentsFromWire(w.assignments);
  const configs = (w.configs as Record<string, string> | undefined) ?? {};
  return {
    name: str(w.name),
    numPartitions: num(w.num_partitions),
    replicationFactor: num(w.replication_factor),
    ...(assignments ? { assignments } : {}),
    ...(Object.keys(configs).length > 0 ? { configs } : {}),
  };
}

export function createTopicResultToWire(r: CreateTopicResult): Wire {
  return {
    name: r.name,
    topic_id: r.topicId ?? '',
    num_partitions: r.numPartitions,
    replication_factor: r.replicationFactor,
    ...apiErrorToWire(r.error),
  };
}

export function createTopicResultFromWire(w: Wire): CreateTopicResult {
  const topicId = str(w.topic_id);
  return {
    name: str(w.name),
    topicId: topicId === '' ? null : topicId,
    numPartitions: num(w.num_partitions),
    replicationFactor: num(w.replication_factor),
    error: apiErrorFromWire(w),
  };
}

export function deleteTopicResultToWire(r: DeleteTopicResult): Wire {
  return { name: r.name, topic_id: r.topicId ?? '', ...apiErrorToWire(r.error) };
}

export function deleteTopicResultFromWire(w: Wire): DeleteTopicResult {
  const topicId = str(w.topic_id);
  return { name: str(w.name), topicId: topicId === '' ? null : topicId, error: apiErrorFromWire(w) };
}

export function createPartitionsTopicToWire(t: CreatePartitionsTopic): Wire {
  return { name: t.name, count: t.count, assignments: assignmentsToWire(t.assignments) };
}

export function createPartitionsTopicFromWire(w: Wire): CreatePartitionsTopic {
  const assignments = assignmentsFromWire(w.assignments);
  return { name: str(w.name), count: num(w.count), ...(assignments ? { assignments } : {}) };
}

export function createPartitionsResultToWire(r: CreatePartitionsResult): Wire {
  return { name: r.name, ...apiErrorToWire(r.error) };
}

export function createPartitionsResultFromWire(w: Wire): CreatePartitionsResult {
  return { name: str(w.name), error: apiErrorFromWire(w) };
}

function partitionToWire(p: PartitionDescription): Wire {
  return {
    partition: p.partition,
    leader: p.leader,
    leader_epoch: p.leaderEpoch,
    partition_epoch: p.partitionEpoch,
    replicas: [...p.replicas],
    isr: [...p.isr],
    offline_replicas: [...p.offlineReplicas],
  };
}

function partitionFromWire(w: Wire): PartitionDescription {
  return {
    partition: num(w.partition),
    leader: num(w.leader),
    leaderEpoch: num(w.leader_epoch),
    partitionEpoch: num(w.partition_epoch),
    replicas: ints(w.replicas),
    isr: ints(w.isr),
    offlineReplicas: ints(w.offline_replicas),
  };
}

export function topicDescriptionToWire(t: TopicDescription): Wire {
  return {
    name: t.name,
    topic_id: t.topicId ?? '',
    ...apiErrorToWire(t.error),
    partitions: t.partitions.map(partitionToWire),
  };
}

export function topicDescriptionFromWire(w: Wire): TopicDescription {
  const topicId = str(w.topic_id);
  return {
    name: str(w.name),
    topicId: topicId === '' ? null : topicId,
    error: apiErrorFromWire(w),
    partitions: wires(w.partitions).map(partitionFromWire),
  };
}

// --- Admin: configs -----------------------------------------------------------------

export function configResourceToWire(r: ConfigResource): Wire {
  return { resource_type: RESOURCE_TYPE.toWire(r.resourceType), resource_name: r.resourceName };
}

export function configResourceFromWire(w: Wire | null | undefined): ConfigResource {
  if (!w) throw invalid('config resource missing');
  return {
    resourceType: RESOURCE_TYPE.fromWire(w.resource_type, 'resource_type'),
    resourceName: str(w.resource_name),
  };
}

function configEntryToWire(e: ConfigEntry): Wire {
  return { name: e.name, value: e.value, source: CONFIG_SOURCE.toWire(e.source), unit: e.unit ?? '' };
}

function configEntryFromWire(w: Wire): ConfigEntry {
  const unit = str(w.unit);
  return {
    name: str(w.name),
    value: str(w.value),
    source: CONFIG_SOURCE.fromWire(w.source, 'source'),
    unit: unit === '' ? null : unit,
  };
}

export function describeConfigsResultToWire(r: DescribeConfigsResult): Wire {
  return {
    resource: configResourceToWire(r),
    ...apiErrorToWire(r.error),
    entries: r.entries.map(configEntryToWire),
  };
}

export function describeConfigsResultFromWire(w: Wire): DescribeConfigsResult {
  return {
    ...configResourceFromWire(w.resource as Wire),
    error: apiErrorFromWire(w),
    entries: wires(w.entries).map(configEntryFromWire),
  };
}

export function alterConfigsResourceToWire(r: AlterConfigsResource): Wire {
  return {
    resource: configResourceToWire(r),
    ops: r.ops.map((op) => ({ name: op.name, op: OP_TYPE.toWire(op.op), value: op.value ?? '' })),
  };
}

export function alterConfigsResourceFromWire(w: Wire): AlterConfigsResource {
  return {
    ...configResourceFromWire(w.resource as Wire),
    ops: wires(w.ops).map((op): AlterConfigOp => {
      const kind = OP_TYPE.fromWire(op.op, 'op');
      return kind === 'set' ? { name: str(op.name), op: kind, value: str(op.value) } : { name: str(op.name), op: kind };
    }),
  };
}

export function alterConfigsResultToWire(r: AlterConfigsResult): Wire {
  return { resource: configResourceToWire(r), ...apiErrorToWire(r.error) };
}

export function alterConfigsResultFromWire(w: Wire): AlterConfigsResult {
  return { ...configResourceFromWire(w.resource as Wire), error: apiErrorFromWire(w) };
}

// --- Admin: elections ---------------------------------------------------------------

export function electLeadersToWire(r: ElectLeadersRequest): Wire {
  const byTopic = new Map<string, number[]>();
  for (const tp of r.partitions ?? []) {
    const list = byTopic.get(tp.topic) ?? [];
    list.push(tp.partition);
    byTopic.set(tp.topic, list);
  }
  return {
    election_type: ELECTION_TYPE.toWire(r.electionType),
    all_partitions: r.partitions === null,
    topic_partitions: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
  };
}

export function electLeadersFromWire(w: Wire): ElectLeadersRequest {
  const electionType = ELECTION_TYPE.fromWire(w.election_type, 'election_type');
  if (w.all_partitions) return { electionType, partitions: null };
  const partitions: TopicPartition[] = [];
  for (const t of wires(w.topic_partitions)) {
    for (const partition of ints(t.partitions)) partitions.push({ topic: str(t.topic), partition });
  }
  return { electionType, partitions };
}

export function electLeadersResultToWire(r: ElectLeadersResult): Wire {
  return { topic: r.topic, partition: r.partition, ...apiErrorToWire(r.error) };
}

export function electLeadersResultFromWire(w: Wire): ElectLeadersResult {
  return { topic: str(w.topic), partition: num(w.partition), error: apiErrorFromWire(w) };
}

// --- Admin: cluster -----------------------------------------------------------------

export interface ClusterBrokerDescription {
  readonly brokerId: number;
  readonly state: BrokerState;
  readonly rack: string | null;
  readonly brokerEpoch: number;
  readonly incarnationId: string;
  readonly endpoints: readonly Listener[];
  /** Last heartbeat the active controller saw (Unix ms), or null. */
  readonly lastContactMs: number | null;
  /** Metadata offset the broker last reported, or -1. */
  readonly metadataOffset: number;
}

export interface ClusterControllerDescription {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly leader: boolean;
  /** As the leader last saw it; -1 if unknown. */
  readonly logEndOffset: number;
  /** Records behind the leader's log end offset; -1 if unknown. */
  readonly lag: number;
  /** Unix ms; 0 if never. */
  readonly lastCaughtUpTimeMs: number;
}

export interface ClusterDescription {
  readonly clusterId: string;
  /** The active controller, or -1. */
  readonly controllerId: number;
  readonly epoch: number;
  readonly highWatermark: number;
  readonly brokers: readonly ClusterBrokerDescription[];
  readonly controllers: readonly ClusterControllerDescription[];
}

export function clusterDescriptionToWire(d: ClusterDescription): Wire {
  return {
    cluster_id: d.clusterId,
    controller_id: d.controllerId,
    epoch: d.epoch,
    high_watermark: d.highWatermark,
    brokers: d.brokers.map((b) => ({
      broker_id: b.brokerId,
      state: BROKER_STATE.toWire(b.state),
      rack: b.rack ?? '',
      broker_epoch: b.brokerEpoch,
      incarnation_id: b.incarnationId,
      endpoints: b.endpoints.map(listenerToWire),
      last_contact_ms: b.lastContactMs ?? 0,
      metadata_offset: b.metadataOffset,
    })),
    controllers: d.controllers.map((c) => ({
      node_id: c.nodeId,
      host: c.host,
      port: c.port,
      leader: c.leader,
      log_end_offset: c.logEndOffset,
      lag: c.lag,
      last_caught_up_time_ms: c.lastCaughtUpTimeMs,
    })),
  };
}

export function clusterDescriptionFromWire(w: Wire): ClusterDescription {
  return {
    clusterId: str(w.cluster_id),
    controllerId: num(w.controller_id),
    epoch: num(w.epoch),
    highWatermark: num(w.high_watermark),
    brokers: wires(w.brokers).map((b) => {
      const rack = str(b.rack);
      const lastContactMs = num(b.last_contact_ms);
      return {
        brokerId: num(b.broker_id),
        state: BROKER_STATE.fromWire(b.state, 'state'),
        rack: rack === '' ? null : rack,
        brokerEpoch: num(b.broker_epoch),
        incarnationId: str(b.incarnation_id),
        endpoints: wires(b.endpoints).map(listenerFromWire),
        lastContactMs: lastContactMs === 0 ? null : lastContactMs,
        metadataOffset: num(b.metadata_offset),
      };
    }),
    controllers: wires(w.controllers).map((c) => ({
      nodeId: num(c.node_id),
      host: str(c.host),
      port: num(c.port),
      leader: Boolean(c.leader),
      logEndOffset: num(c.log_end_offset),
      lag: num(c.lag),
      lastCaughtUpTimeMs: num(c.last_caught_up_time_ms),
    })),
  };
}

/** An ApiError as a thrown RaftkaError (for single-item calls). */
export function apiErrorToRaftkaError(error: ApiError): RaftkaError {
  const name = error.errorName in ErrorCodes ? error.errorName : 'UNKNOWN_SERVER_ERROR';
  return new RaftkaError(name, error.message);
}
