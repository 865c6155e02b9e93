// Controller node driver: runs the Raft core over level storage and gRPC.
export {};
