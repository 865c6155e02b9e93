// The chaos suite: history, checker, fault schedule, nemesis and workload.
// See docs/chaos.md.
export {
  type CheckInput,
  type CheckName,
  type CheckResult,
  type CheckStats,
  type CheckVerdict,
  checkHistory,
  checkReplicas,
  formatVerdicts,
  type ReplicaBatch,
} from './checker.js';
export { History, type HistoryOp, type OpType, type ReadRecord, readHistory } from './history.js';
export {
  DockerApplier,
  type DockerApplierOptions,
  type FaultApplier,
  Firewall,
  LocalClusterApplier,
  type LocalClusterApplierOptions,
  type NemesisOptions,
  type NemesisReport,
  runNemesis,
} from './nemesis.js';
export { collectReplicaLogs, readReplicaBatches } from './replicas.js';
export { CHAOS_CLUSTER_OVERRIDES, type ChaosOptions, type ChaosResult, runChaos } from './run.js';
export {
  describeFault,
  FAULT_DESCRIPTIONS,
  FAULT_GROUPS,
  FAULT_KINDS,
  type FaultKind,
  generateSchedule,
  NETWORK_FAULTS,
  parseFaultKinds,
  type ScheduledFault,
  type ScheduleOptions,
} from './schedule.js';
export {
  createChaosTopic,
  type DrainResult,
  finalDrain,
  underReplicated,
  Workload,
  type WorkloadOptions,
  waitForFullIsr,
} from './workload.js';
