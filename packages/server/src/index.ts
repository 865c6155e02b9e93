// The raftka CLI: node processes, local cluster, simulator and benchmarks.
export {};
