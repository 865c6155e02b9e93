// Sans-IO KRaft-style Raft core: pull replication, pre-vote, check-quorum, snapshots.
export {};
