// Deterministic simulator: runs the real protocol cores (today the Raft
// controller quorum) under a seeded clock, network and disk, checks safety
// invariants after every event and liveness after healing. `runSimulation` is
// what `raftka sim` calls; the pieces are exported so later node kinds
// (brokers, the data plane) can plug into the same World.
export {
  type ClusterOptions,
  DEFAULT_CLUSTER_OPTIONS,
  describeRaftMessage,
  RaftCluster,
  realRaftCore,
  SIM_RAFT_CONFIG,
} from './cluster.js';
export { AdminClient } from './control-plane/admin-client.js';
export { type BrokerLifecycle, BrokerProcess, type BrokerProcessOptions } from './control-plane/broker-process.js';
export {
  CLIENT_ID,
  ControlPlaneCluster,
  type ControlPlaneOptions,
  DEFAULT_CONTROL_PLANE_OPTIONS,
  FIRST_BROKER_ID,
} from './control-plane/cluster.js';
export { ControllerProcess, type ControllerProcessOptions } from './control-plane/controller-process.js';
export {
  CONTROL_PLANE_INVARIANTS,
  type ControlPlaneInvariant,
  ControlPlaneInvariants,
} from './control-plane/invariants.js';
export {
  type ControlPlaneMessage,
  type ControlPlaneRequest,
  type ControlPlaneResponse,
  describeControlPlaneMessage,
  isRaftMessage,
} from './control-plane/messages.js';
export { RaftProcess, type RaftProcessOptions } from './control-plane/raft-process.js';
export {
  type BrokerFailoverSample,
  CONTROL_PLANE_SCENARIO,
  type ControllerFailoverSample,
  type ControlPlaneSeedOptions,
  controlPlaneReplayCommand,
  DEFAULT_CONTROL_PLANE_FAULT_MS,
  measureBrokerFailover,
  measureControllerFailover,
  runControlPlaneFaults,
  runControlPlaneSeed,
} from './control-plane/scenario.js';
export {
  type BrokerObserver,
  type BrokerTimings,
  type DataPlaneMutants,
  SimBroker,
} from './data-plane/broker.js';
export { CONTROLLER_ID, type ControllerConfig, ModelController } from './data-plane/controller.js';
export { type AckedBatch, DATA_PLANE_INVARIANTS, DataPlaneInvariants } from './data-plane/invariants.js';
export { type DataPlaneMessage, describeDataPlaneMessage, type PartitionState } from './data-plane/messages.js';
export { batchEnd, batchHeader, type SimBatch, SimPartitionLog } from './data-plane/partition-log.js';
export { MAX_IN_FLIGHT, type ProducerBatch, type ProducerConfig, SimProducer } from './data-plane/producer.js';
export {
  DATA_PLANE_SCENARIO,
  type DataPlaneSeedOptions,
  type DataPlaneSeedResult,
  type DataPlaneSimulationOptions,
  type DataPlaneSummary,
  DEFAULT_DATA_PLANE_FAULT_MS,
  dataPlaneReplayCommand,
  runDataPlaneSeed,
  runDataPlaneSimulation,
} from './data-plane/scenario.js';
export { type DiskImage, imageEndOffset, SimDisk } from './disk.js';
export { ALL_INVARIANTS, type InvariantName, RaftInvariants } from './invariants.js';
export { type Addressed, type NetworkFaults, RELIABLE_NETWORK, SimNetwork } from './network.js';
export { RaftControllerNode, type RaftCore, type RaftCoreFactory, type RaftDriverObserver } from './raft-node.js';
export {
  DEFAULT_RANDOM_SIM_TIME_MS,
  replayCommand,
  runSeed,
  runSimulation,
  type SeedResult,
  type SimulationOptions,
  type SimulationSummary,
} from './runner.js';
export { findScenario, randomFaults, SCENARIO_NAMES, SCENARIOS, type Scenario } from './scenarios.js';
export { EventQueue } from './scheduler.js';
export { decodeRecord, encodeRecord, KvStateMachine } from './state-machine.js';
export { type SimMessage, type SimNode, SimulationFailure, World, type WorldOptions } from './world.js';
