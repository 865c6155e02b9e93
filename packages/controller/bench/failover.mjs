// Failover of a 3-controller quorum, one process per controller, Kafka's
// default timeouts (fetch timeout 2 s, election timeout 1 s). Each round:
// find the leader, then either SIGKILL it (crash) or SIGTERM it (graceful
// shutdown: resign + EndQuorumEpoch), and time until the next append is
// acknowledged by the new leader, from the client's side. The killed node is
// restarted before the next round.
//
//   npx tsc -b packages/controller && node packages/controller/bench/failover.mjs [rounds]
//
// Without the transport's disconnect signal a crash would cost the fetch
// timeout (2 s) plus an election; with it, followers start a pre-vote as soon
// as their long-poll Fetch fails.
import { fork } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QuorumClient } from '../../transport/dist/index.js';

const rounds = Number(process.argv[2] ?? 5);
const childScript = fileURLToPath(new URL('./controller-child.mjs', import.meta.url));

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
const votersText = voters.map((v) => `${v.nodeId}@${v.host}:${v.port}`).join(',');
const dirs = new Map();
for (const v of voters) dirs.set(v.nodeId, await mkdtemp(join(tmpdir(), `raftka-failover-${v.nodeId}-`)));
const children = new Map();

// Each node's log lines go to <its dir>.log (RAFTKA_LOG=info to see role changes).
function start(nodeId) {
  const log = openSync(`${dirs.get(nodeId)}.log`, 'a');
  const child = fork(childScript, [String(nodeId), dirs.get(nodeId), votersText], {
    stdio: ['ignore', log, log, 'ipc'],
  });
  children.set(nodeId, child);
  return new Promise((resolve) => child.once('message', () => resolve(child)));
}

const client = new QuorumClient({
  clusterId: 'failover-bench',
  bootstrapEndpoints: voters.map((v) => `${v.host}:${v.port}`),
  requestTimeoutMs: 10_000,
  appendTimeoutMs: 30_000,
  retryBackoffMs: 5,
});

async function leaderId() {
  for (;;) {
    for (const v of voters) {
      try {
        const d = await client.describeQuorum(`${v.host}:${v.port}`);
        if (d.role === 'leader') return d.nodeId;
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const results = { SIGKILL: [], SIGTERM: [] };
await Promise.all(voters.map((v) => start(v.nodeId)));
for (let round = 0; round < rounds; round++) {
  for (const signal of ['SIGKILL', 'SIGTERM']) {
    const leader = await leaderId();
    if (process.env.RAFTKA_BENCH_VERBOSE) console.error(`round ${round} ${signal}: leader ${leader}`);
    await client.append([new TextEncoder().encode(`before${round}=${signal}`)]);
    const t0 = performance.now();
    const child = children.get(leader);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await client.append([new TextEncoder().encode(`after${round}=${signal}`)]);
    results[signal].push(performance.now() - t0);
    await exited;
    await start(leader);
  }
}
client.close();
for (const child of children.values()) child.kill('SIGKILL');
for (const dir of dirs.values()) await rm(dir, { recursive: true, force: true });
if (process.env.RAFTKA_LOG) console.error(`node logs: ${[...dirs.values()].map((d) => `${d}.log`).join(' ')}`);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [signal, xs] of Object.entries(results)) {
  console.log(
    `leader ${signal === 'SIGKILL' ? 'crash (SIGKILL)   ' : 'shutdown (SIGTERM)'}: next append acknowledged after median ` +
      `${median(xs).toFixed(0)} ms, min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)} (n=${xs.length})`,
  );
}
