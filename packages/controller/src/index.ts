// Controller node driver: runs the Raft core over level storage and gRPC.
export {
  type ControllerNode,
  type ControllerNodeConfig,
  type ControllerStatus,
  METADATA_LOG_DIR_NAME,
  startControllerNode,
  type VoterEndpoint,
} from './controller-node.js';
export { RaftMetrics } from './metrics.js';
export { KeyValueStateMachine, type StateMachine } from './state-machine.js';
