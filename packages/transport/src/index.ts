// gRPC transport: proto loading, servers and clients, deadlines, cluster id checks.
export {
  clientChannelOptions,
  INITIAL_RECONNECT_BACKOFF_MS,
  KEEPALIVE_TIME_MS,
  KEEPALIVE_TIMEOUT_MS,
  MAX_RECONNECT_BACKOFF_MS,
  MESSAGE_OVERHEAD_BYTES,
  serverOptions,
} from './channel-options.js';
export {
  type AdminCallContext,
  type AdminHandlers,
  adminService,
  type BrokerLifecycleHandlers,
  brokerLifecycleService,
  FORWARDED_HEADER,
  forwardedMetadata,
  type HeartbeatStream,
  type HeartbeatStreamHandler,
} from './control-plane-services.js';
export {
  apiErrorFromWire,
  apiErrorToRaftkaError,
  type BrokerState,
  type ClusterBrokerDescription,
  type ClusterControllerDescription,
  type ClusterDescription,
  type HeartbeatWireRequest,
  type HeartbeatWireResponse,
} from './control-plane-wire.js';
export {
  AdminClient,
  BrokerLifecycleClient,
  type ControllerClientOptions,
  type HeartbeatStreamClient,
  type HeartbeatStreamEvents,
} from './controller-client.js';
export {
  ACKS_ALL,
  ACKS_LEADER,
  ACKS_NONE,
  BrokerDataClient,
  type BrokerDataClientOptions,
  type BrokerDataHandlers,
  brokerDataService,
  EARLIEST_TIMESTAMP,
  type FetchPartitionResponseWire,
  type FetchPartitionWire,
  type FetchRequestWire,
  type FetchResponseWire,
  type InitProducerIdRequestWire,
  type InitProducerIdResponseWire,
  LATEST_TIMESTAMP,
  type ListOffsetsPartitionResponseWire,
  type ListOffsetsRequestWire,
  type ListOffsetsResponseWire,
  type MetadataPartitionWire,
  type MetadataRequestWire,
  type MetadataResponseWire,
  type MetadataTopicWire,
  type ProducePartitionResponseWire,
  type ProduceRequestWire,
  type ProduceResponseWire,
} from './data-plane.js';
export {
  fromServiceError,
  isPeerUnavailable,
  NotControllerError,
  NotLeaderError,
  TRAILER_ERROR_CODE,
  TRAILER_ERROR_NAME,
  TRAILER_LEADER_ENDPOINT,
  TRAILER_LEADER_ID,
  toServiceError,
} from './errors.js';
export {
  PeerChannel,
  type PeerChannelOptions,
  type PeerChannelStats,
  type PeerEndpoint,
  raftMaxMessageBytes,
} from './peer-channel.js';
export {
  ADMIN_PROTO,
  BROKER_PROTO,
  CONTROLLER_PROTO,
  findProtoDir,
  loadServices,
  protoLoaderOptions,
  QUORUM_PROTO,
  RAFT_PROTO,
  type RaftkaServices,
} from './proto.js';
export { QuorumClient, type QuorumClientOptions } from './quorum-client.js';
export {
  type AppendResult,
  checkClusterId,
  type DescribeQuorumResult,
  type ExtraService,
  type QuorumHandlers,
  type ReadCommittedResult,
  type ReplicaStateView,
  TransportServer,
  type TransportServerOptions,
} from './server.js';
export { ServiceClients } from './service-clients.js';
export {
  isRequest,
  METHOD_OF_REQUEST,
  METHOD_OF_RESPONSE,
  type RaftMethod,
  type RaftRequest,
  type RaftResponse,
  requestFromWire,
  requestToWire,
  responseFromWire,
  responseToWire,
} from './wire.js';
