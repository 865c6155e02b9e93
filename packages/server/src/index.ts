// The raftka CLI package: configuration, node processes, the local cluster,
// the simulator front end and benchmarks. The `raftka` bin is src/cli.ts; the
// exports below are what tests and benchmarks drive clusters with.

export * from './chaos/index.js';
export * from './config.js';
export {
  FIRST_BROKER_ID,
  type LocalBrokerStatus,
  LocalCluster,
  type LocalClusterOptions,
  type LocalNode,
  parseBrokerMetrics,
} from './local-cluster.js';
export { ensureMetaProperties } from './meta-properties.js';
export { NetnsNetwork, type NetnsOptions } from './netns.js';
export { type NodeStatus, nodeClients, type QuorumStatus, quorumStatus } from './quorum-status.js';
export { waitFor } from './wait.js';
