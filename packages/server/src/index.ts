// The raftka CLI package: configuration, node processes, the local cluster,
// the simulator front end and benchmarks. The `raftka` bin is src/cli.ts.
export * from './config.js';
