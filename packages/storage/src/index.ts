// Level-backed storage for the metadata Raft log, quorum state and snapshots.
export {};
