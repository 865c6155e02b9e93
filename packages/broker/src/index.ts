// @raftka/broker: a broker node. The control plane half: a Raft observer of
// the metadata log that publishes each committed image with this broker's
// local replica changes, and the broker lifecycle (register, heartbeat,
// fence/unfence, controlled shutdown) against the active controller. The
// data plane half: the replica manager (partitions, Produce, Fetch,
// ListOffsets, Metadata, InitProducerId, ISR changes) and replica fetchers.

export { AdminProxy, type AdminProxyOptions } from './admin-proxy.js';
export {
  BrokerDriver,
  type BrokerNode,
  type BrokerNodeConfig,
  type BrokerStatus,
  type DataPlaneConfig,
  startBrokerNode,
} from './broker-node.js';
export { type CombinedNode, type CombinedNodeConfig, startCombinedNode } from './combined-node.js';
export { ControllerChannel, type ControllerChannelOptions } from './controller-channel.js';
export { DataPlaneMetrics } from './data-metrics.js';
export {
  BROKER_STATE_VALUE,
  BrokerLifecycle,
  type BrokerLifecycleOptions,
  type BrokerState,
  type LifecycleOutcome,
  type LifecycleRequest,
  type StateChange,
} from './lifecycle.js';
export {
  type BrokerMetadataListener,
  BrokerMetadataStateMachine,
  loggingListener,
  type MetadataUpdate,
} from './metadata-publisher.js';
export { BrokerMetrics } from './metrics.js';
export { Partition, partitionKey } from './partition.js';
export { ReplicaFetcher } from './replica-fetcher.js';
export { type ControllerCalls, ReplicaManager, type ReplicaManagerConfig } from './replica-manager.js';
