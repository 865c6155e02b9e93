// Controller node driver: runs the Raft core over level storage and gRPC.
export { ControlPlane, type ControlPlaneOptions, MetadataStateMachine } from './control-plane.js';
export { ControllerMetrics } from './controller-metrics.js';
export {
  type ControllerNode,
  type ControllerNodeConfig,
  type ControllerStatus,
  DEFAULT_BROKER_SESSION_TIMEOUT_MS,
  DEFAULT_METADATA_MAX_IDLE_INTERVAL_MS,
  startControllerNode,
} from './controller-node.js';
export { DeadlineTimer } from './deadline-timer.js';
export { FakeBroker, type FakeBrokerOptions } from './fake-broker.js';
export { RaftMetrics } from './metrics.js';
export {
  driverNowMs,
  METADATA_LOG_DIR_NAME,
  RaftDriver,
  type RaftDriverConfig,
  type RaftDriverHooks,
  type RaftDriverListener,
  type RaftRoleChange,
  type RaftStatus,
  type VoterEndpoint,
} from './raft-driver.js';
export { KeyValueStateMachine, type StateMachine } from './state-machine.js';
