// Sans-IO KRaft-style Raft core: pull replication, pre-vote, check-quorum,
// snapshots. The driver feeds events into a RaftNode and drains Ready; see
// docs/raft.md for the protocol and the durable-before-visible contract.
export { DEFAULT_RAFT_CONFIG, type RaftConfig } from './config.js';
export { type ProposeResult, type QuorumDescription, RaftNode, type ReplicaDescription } from './node.js';
export * from './types.js';
