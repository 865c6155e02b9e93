// Controller node driver: runs the Raft core over level storage and gRPC.
export {
  type ControllerNode,
  type ControllerNodeConfig,
  type ControllerStatus,
  startControllerNode,
} from './controller-node.js';
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
