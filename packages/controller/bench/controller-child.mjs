// One controller node in its own process, for bench/failover.mjs. Arguments:
// nodeId, metadata dir, voters as "1@127.0.0.1:p1,2@...". Kafka's default
// timeouts. Sends "ready" over IPC once listening.
import { createLogger } from '../../observability/dist/index.js';
import { DEFAULT_RAFT_CONFIG } from '../../raft/dist/index.js';
import { KeyValueStateMachine, startControllerNode } from '../dist/index.js';

const [nodeIdText, dir, votersText] = process.argv.slice(2);
const nodeId = Number(nodeIdText);
const voters = votersText.split(',').map((v) => {
  const [id, hostPort] = v.split('@');
  const [host, port] = hostPort.split(':');
  return { nodeId: Number(id), host, port: Number(port) };
});
const self = voters.find((v) => v.nodeId === nodeId);
const node = await startControllerNode(
  {
    nodeId,
    clusterId: 'failover-bench',
    voters,
    listenHost: self.host,
    listenPort: self.port,
    metadataLogDir: dir,
    metricsPort: null,
    raft: DEFAULT_RAFT_CONFIG,
    appendLingerMs: 0,
    snapshotMaxBytesBetween: 20 * 1024 * 1024,
    logger: createLogger({ nodeId, role: 'controller', level: process.env.RAFTKA_LOG ?? 'warn' }),
  },
  new KeyValueStateMachine(),
);
process.send('ready');
process.on('SIGTERM', () => node.shutdown().then(() => process.exit(0)));
