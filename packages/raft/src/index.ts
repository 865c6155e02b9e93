// Sans-IO KRaft-style Raft core: pull replication, pre-vote, check-quorum,
// snapshots. The driver feeds events into a RaftNode and drains Ready; see
// docs/raft.md for the protocol and the durable-before-visible contract.
export { DEFAULT_RAFT_CONFIG, type RaftConfig, validateConfig } from './config.js';
export {
  decodeLeaderChange,
  decodeVoters,
  type LeaderChangeRecord,
  type VotersRecord,
} from './control-records.js';
export {
  POSITION_OUT_OF_RANGE,
  type ProposeResult,
  type QuorumDescription,
  type RaftCounters,
  RaftNode,
  type ReplicaDescription,
  SNAPSHOT_NOT_FOUND,
} from './node.js';
export * from './types.js';
