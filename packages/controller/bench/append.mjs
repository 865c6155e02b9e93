// Append throughput and commit latency of a 3-controller quorum on loopback,
// all in this process (so the client competes with the three nodes for the
// same cores). Each append carries `records` 100-byte records and goes either
// through QuorumClient (gRPC) to the leader or straight to the leader's
// `append()` (no client RPC, to see the quorum's own cost); `concurrency`
// appends are kept in flight. Prints one line per case.
//
//   npx tsc -b packages/controller && node packages/controller/bench/append.mjs [appendsPerCase]
//
// fsync here is cached by the host (see docs/architecture.md): the figures
// are not those of a disk that makes data durable on fsync.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../observability/dist/index.js';
import { DEFAULT_RAFT_CONFIG } from '../../raft/dist/index.js';
import { QuorumClient } from '../../transport/dist/index.js';
import { KeyValueStateMachine, startControllerNode } from '../dist/index.js';

const appendsPerCase = Number(process.argv[2] ?? 5000);
const cases = [
  { via: 'grpc', lingerMs: 0, concurrency: 1, records: 1 },
  { via: 'grpc', lingerMs: 25, concurrency: 1, records: 1 },
  { via: 'grpc', lingerMs: 0, concurrency: 64, records: 1 },
  { via: 'grpc', lingerMs: 5, concurrency: 256, records: 1 },
  { via: 'grpc', lingerMs: 0, concurrency: 16, records: 100 },
  { via: 'direct', lingerMs: 0, concurrency: 1, records: 1 },
  { via: 'direct', lingerMs: 0, concurrency: 256, records: 1 },
  { via: 'direct', lingerMs: 25, concurrency: 1024, records: 1 },
];

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function runCase({ via, lingerMs, concurrency, records }) {
  const voters = [];
  for (let id = 1; id <= 3; id++) voters.push({ nodeId: id, host: '127.0.0.1', port: await freePort() });
  const dirs = await Promise.all(voters.map((v) => mkdtemp(join(tmpdir(), `raftka-bench-${v.nodeId}-`))));
  const nodes = await Promise.all(
    voters.map((v, i) =>
      startControllerNode(
        {
          nodeId: v.nodeId,
          clusterId: 'bench',
          voters,
          listenHost: '127.0.0.1',
          listenPort: v.port,
          metadataLogDir: dirs[i],
          metricsPort: null,
          raft: DEFAULT_RAFT_CONFIG,
          appendLingerMs: lingerMs,
          snapshotMaxBytesBetween: 20 * 1024 * 1024,
          logger: createLogger({ nodeId: v.nodeId, role: 'controller', level: 'warn' }),
        },
        new KeyValueStateMachine(),
      ),
    ),
  );
  while (!nodes.some((n) => n.status().role === 'leader')) await new Promise((r) => setTimeout(r, 10));
  const leader = nodes.find((n) => n.status().role === 'leader');
  const client = new QuorumClient({ clusterId: 'bench', bootstrapEndpoints: voters.map((v) => `${v.host}:${v.port}`) });
  const batch = Array.from({ length: records }, () => new Uint8Array(100).fill(120));
  await client.append(batch); // find the leader
  const append = via === 'grpc' ? (b) => client.append(b) : (b) => leader.append(b);
  const latencies = [];
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < appendsPerCase) {
      next++;
      const t0 = performance.now();
      await append(batch);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1);
  console.log(
    `${via.padEnd(6)} linger ${String(lingerMs).padStart(2)} ms, ${String(concurrency).padStart(4)} in flight, ` +
      `${String(records).padStart(3)} records/append: ${Math.round(latencies.length / seconds)} appends/s, ` +
      `${Math.round((latencies.length * records) / seconds)} records/s, p50 ${q(0.5)} ms, p99 ${q(0.99)} ms ` +
      `(n=${latencies.length})`,
  );
  client.close();
  await Promise.all(nodes.map((n) => n.shutdown()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

for (const c of cases) await runCase(c);
