// Broker lifecycle timings on real processes (3 controllers, 3 brokers on
// loopback, the multi-process tests' timings): how long a broker takes from
// process start to RUNNING, how soon the active controller fences a broker
// after SIGKILL (the heartbeat stream breaks), how long a SIGTERM controlled
// shutdown takes until the process exits, and how soon after a SIGKILL of the
// active controller the brokers heartbeat to the new one.
//
//   npx tsc -b packages/server && node packages/broker/bench/lifecycle.mjs [trials]
//
// Prints one line per trial and a summary (median, min, max). Timings come
// from polling (every 10 ms), so each carries up to ~10 ms of polling delay.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, nodeClients, quorumStatus } from '../../server/dist/index.js';
import { AdminClient } from '../../transport/dist/index.js';

const trials = Number(process.argv[2] ?? 5);
const basePort = 20_491;
const dataDir = mkdtempSync(join(tmpdir(), 'raftka-broker-bench-'));
const cluster = new LocalCluster({
  dataDir,
  basePort,
  brokers: 3,
  baseMetricsPort: basePort + 100,
  logLevel: 'warn',
  overrides: [
    'controller.quorum.election.timeout.ms=500',
    'controller.quorum.fetch.timeout.ms=1000',
    'controller.quorum.fetch.max.wait.ms=250',
    'controller.quorum.request.timeout.ms=1000',
    'controller.quorum.election.backoff.max.ms=300',
    'broker.heartbeat.interval.ms=500',
    'broker.session.timeout.ms=3000',
  ],
});
const admin = new AdminClient({
  clusterId: cluster.clusterId,
  bootstrapEndpoints: cluster.endpoints.map((e) => `${e.host}:${e.port}`),
  requestTimeoutMs: 2000,
  retryTimeoutMs: 20_000,
  retryBackoffMs: 10,
});
const quorum = nodeClients(cluster.clusterId, cluster.endpoints, 400);

async function until(what, probe, timeoutMs = 30_000) {
  const start = performance.now();
  for (;;) {
    try {
      if (await probe()) return performance.now() - start;
    } catch {}
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const running = (id) =>
  until(`broker ${id} RUNNING`, async () => (await cluster.brokerStatus(id, 200))?.state === 'RUNNING');
const stateOf = async (id) => (await admin.describeCluster()).brokers.find((b) => b.brokerId === id)?.state;
const summary = (name, xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)];
  console.log(
    `${name}: median ${median.toFixed(0)} ms, min ${s[0].toFixed(0)}, max ${s[s.length - 1].toFixed(0)} (n=${s.length})`,
  );
};

const startup = [];
const fence = [];
const shutdown = [];
const failover = [];
try {
  cluster.start();
  for (const id of [101, 102, 103]) await running(id);
  await admin.createTopics([{ name: 'bench', numPartitions: 30, replicationFactor: 3 }]);
  for (let i = 0; i < trials; i++) {
    const victim = 101 + (i % 3);
    const t0 = performance.now();
    await cluster.kill(victim);
    await until('fenced', async () => (await stateOf(victim)) === 'fenced');
    fence.push(performance.now() - t0);

    const t1 = performance.now();
    cluster.startNode(victim);
    await running(victim);
    startup.push(performance.now() - t1);

    const t2 = performance.now();
    await cluster.signal(victim, 'SIGTERM');
    shutdown.push(performance.now() - t2);
    cluster.startNode(victim);
    await running(victim);

    const before = await quorumStatus(quorum);
    const t3 = performance.now();
    await cluster.kill(before.leaderId);
    await until('heartbeats at the new controller', async () => {
      const d = await admin.describeCluster();
      return (
        d.controllerId !== -1 &&
        d.controllerId !== before.leaderId &&
        d.brokers.every(
          (b) =>
            b.state === 'unfenced' &&
            b.lastContactMs !== null &&
            b.lastContactMs > Date.now() - (performance.now() - t3),
        )
      );
    });
    failover.push(performance.now() - t3);
    cluster.startNode(before.leaderId);
    console.log(
      `trial ${i}: fenced ${fence.at(-1).toFixed(0)} ms after SIGKILL; start->RUNNING ${startup.at(-1).toFixed(0)} ms; ` +
        `SIGTERM->exit ${shutdown.at(-1).toFixed(0)} ms; controller SIGKILL->all brokers heartbeating to the new one ${failover.at(-1).toFixed(0)} ms`,
    );
    await until('quorum back', async () => (await quorumStatus(quorum)).nodes.every((n) => n.reachable));
  }
  summary('broker SIGKILL -> fenced', fence);
  summary('broker process start -> RUNNING', startup);
  summary('broker SIGTERM -> exited (controlled shutdown)', shutdown);
  summary('active controller SIGKILL -> every broker heartbeating to the new one', failover);
} finally {
  admin.close();
  for (const c of quorum.values()) c.close();
  await cluster.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
