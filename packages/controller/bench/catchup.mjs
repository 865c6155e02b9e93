// Bulk append and follower catch-up of a 3-controller quorum in one process:
// a follower is stopped, the leader commits N 1-KiB records (500 per append,
// 8 appends in flight) with the remaining majority of two, then the follower
// restarts from its level directory and fetches everything it missed
// (fetchMaxBytes 8 MiB per Fetch). Prints records/s and MiB/s for both.
//
//   npx tsc -b packages/controller && node packages/controller/bench/catchup.mjs [records]
//
// fsync here is cached by the host (see docs/architecture.md).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../observability/dist/index.js';
import { DEFAULT_RAFT_CONFIG } from '../../raft/dist/index.js';
import { KeyValueStateMachine, startControllerNode } from '../dist/index.js';

const records = Number(process.argv[2] ?? 100_000);
const perAppend = 500;

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const voters = [];
for (let id = 1; id <= 3; id++) voters.push({ nodeId: id, host: '127.0.0.1', port: await freePort() });
const dirs = await Promise.all(voters.map((v) => mkdtemp(join(tmpdir(), `raftka-catchup-${v.nodeId}-`))));
const config = (i) => ({
  nodeId: voters[i].nodeId,
  clusterId: 'catchup-bench',
  voters,
  listenHost: '127.0.0.1',
  listenPort: voters[i].port,
  metadataLogDir: dirs[i],
  metricsPort: null,
  raft: DEFAULT_RAFT_CONFIG,
  appendLingerMs: 0,
  snapshotMaxBytesBetween: 1e12,
  logger: createLogger({ nodeId: voters[i].nodeId, role: 'controller', level: 'warn' }),
});
const nodes = await Promise.all(voters.map((_, i) => startControllerNode(config(i), new KeyValueStateMachine())));
while (!nodes.some((n) => n.status().role === 'leader')) await new Promise((r) => setTimeout(r, 10));
const leader = nodes.find((n) => n.status().role === 'leader');
const followerIndex = nodes.findIndex((n) => n !== leader);
await nodes[followerIndex].shutdown();

const record = new Uint8Array(1024).fill(97);
let start = performance.now();
const inFlight = [];
for (let i = 0; i < records / perAppend; i++) {
  inFlight.push(leader.append(Array.from({ length: perAppend }, () => record)));
  if (inFlight.length >= 8) await inFlight.shift();
}
await Promise.all(inFlight);
let seconds = (performance.now() - start) / 1000;
console.log(
  `append ${records} x 1 KiB (2 of 3 voters up): ${Math.round(records / seconds)} records/s, ` +
    `${(records / 1024 / seconds).toFixed(1)} MiB/s`,
);

start = performance.now();
const restarted = await startControllerNode(config(followerIndex), new KeyValueStateMachine());
const target = leader.status().highWatermark;
while (restarted.stateMachine.appliedOffset < target) await new Promise((r) => setTimeout(r, 10));
seconds = (performance.now() - start) / 1000;
console.log(
  `catch-up of ${target} entries after restart: ${seconds.toFixed(2)} s, ${(target / 1024 / seconds).toFixed(1)} MiB/s`,
);
await Promise.all([...nodes.filter((_, i) => i !== followerIndex), restarted].map((n) => n.shutdown()));
await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
