// The control-plane requests of the simulated cluster: what brokers and the
// admin client send the active controller (Kafka's BrokerRegistration,
// BrokerHeartbeat, AlterPartition, CreateTopics) and the answers. They are
// plain objects through the same simulated network as the Raft messages, so
// they are delayed, lost, duplicated and partitioned the same way. A response
// carries the request's correlation id, as on Kafka's wire.

import type {
  AlterConfigsResource,
  AlterConfigsResult,
  AlterPartitionRequest,
  AlterPartitionResponse,
  BrokerHeartbeatRequest,
  BrokerHeartbeatResponse,
  BrokerRegistrationRequest,
  CreatableTopic,
  CreateTopicResult,
  EngineOutcome,
  EngineRegistrationResponse,
} from '@raftka/metadata';
import type { NodeId, RaftMessage } from '@raftka/raft';

interface Envelope {
  from: NodeId;
  to: NodeId;
  correlationId: number;
}

export type ControlPlaneRequest =
  | (Envelope & { type: 'BrokerRegistrationRequest'; request: BrokerRegistrationRequest })
  | (Envelope & { type: 'BrokerHeartbeatRequest'; request: BrokerHeartbeatRequest })
  | (Envelope & { type: 'AlterPartitionRequest'; request: AlterPartitionRequest })
  | (Envelope & { type: 'CreateTopicsRequest'; topics: CreatableTopic[] })
  | (Envelope & { type: 'IncrementalAlterConfigsRequest'; resources: AlterConfigsResource[] });

export type ControlPlaneResponse =
  | (Envelope & { type: 'BrokerRegistrationResponse'; outcome: EngineOutcome<EngineRegistrationResponse> })
  | (Envelope & { type: 'BrokerHeartbeatResponse'; outcome: EngineOutcome<BrokerHeartbeatResponse> })
  | (Envelope & { type: 'AlterPartitionResponse'; outcome: EngineOutcome<AlterPartitionResponse> })
  | (Envelope & { type: 'CreateTopicsResponse'; outcome: EngineOutcome<CreateTopicResult[]> })
  | (Envelope & { type: 'IncrementalAlterConfigsResponse'; outcome: EngineOutcome<AlterConfigsResult[]> });

export type ControlPlaneMessage = ControlPlaneRequest | ControlPlaneResponse;

const RAFT_TYPES = new Set<string>([
  'VoteRequest',
  'VoteResponse',
  'BeginQuorumEpochRequest',
  'BeginQuorumEpochResponse',
  'EndQuorumEpochRequest',
  'EndQuorumEpochResponse',
  'FetchRequest',
  'FetchResponse',
  'FetchSnapshotRequest',
  'FetchSnapshotResponse',
]);

export function isRaftMessage(message: { type: string }): message is RaftMessage {
  return RAFT_TYPES.has(message.type);
}

/** One line per control-plane message for traces. */
export function describeControlPlaneMessage(message: ControlPlaneMessage): string {
  const id = `#${message.correlationId}`;
  switch (message.type) {
    case 'BrokerRegistrationRequest':
      return `${id} broker=${message.request.brokerId} incarnation=${message.request.incarnationId}`;
    case 'BrokerHeartbeatRequest': {
      const r = message.request;
      return `${id} broker=${r.brokerId} epoch=${r.brokerEpoch} offset=${r.currentMetadataOffset}${r.wantShutDown ? ' wantShutDown' : ''}`;
    }
    case 'AlterPartitionRequest': {
      const r = message.request;
      return `${id} ${r.topicId.slice(0, 6)}-${r.partition} isr=[${r.newIsr.join(',')}] le=${r.leaderEpoch} pe=${r.partitionEpoch}`;
    }
    case 'CreateTopicsRequest':
      return `${id} ${message.topics.map((t) => t.name).join(',')}`;
    case 'IncrementalAlterConfigsRequest':
      return `${id} ${message.resources.map((r) => `${r.resourceType}:${r.resourceName}`).join(',')}`;
    default: {
      const o = message.outcome;
      return o.ok ? `${id} ok ${JSON.stringify(o.response)}` : `${id} ${o.error.errorName}`;
    }
  }
}
