// @raftka/broker: a broker node. For now the control plane half: a Raft
// observer of the metadata log that publishes each committed image with this
// broker's local replica changes, and the broker lifecycle (register,
// heartbeat, fence/unfence, controlled shutdown) against the active
// controller. Partitions, replica fetchers and produce/fetch come next.

export { AdminProxy, type AdminProxyOptions } from './admin-proxy.js';
export {
  BrokerDriver,
  type BrokerNode,
  type BrokerNodeConfig,
  type BrokerStatus,
  startBrokerNode,
} from './broker-node.js';
export { type CombinedNode, type CombinedNodeConfig, startCombinedNode } from './combined-node.js';
export { ControllerChannel, type ControllerChannelOptions } from './controller-channel.js';
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
