// Shared pieces of the multi-process quorum tests: a cluster of real
// controller processes with test timings, clients per node, and the checks
// every test ends with (one leader, committed data agrees everywhere).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, type NetnsNetwork, nodeClients, type QuorumStatus, quorumStatus, waitFor } from '@raftka/server';
import { QuorumClient } from '@raftka/transport';

/** Faster than the defaults so the tests stay short, still well above loopback latency. */
export const TEST_OVERRIDES = [
  // These tests write raw records through the Quorum service's Append: the key-value machine.
  'controller.state.machine=kv',
  'controller.quorum.election.timeout.ms=500',
  'controller.quorum.fetch.timeout.ms=1000',
  'controller.quorum.fetch.max.wait.ms=250',
  'controller.quorum.request.timeout.ms=1000',
  'controller.quorum.election.backoff.max.ms=300',
];

export interface TestCluster {
  cluster: LocalCluster;
  clients: Map<number, QuorumClient>;
  writer: QuorumClient;
  status(): Promise<QuorumStatus>;
  waitForLeader(predicate?: (s: QuorumStatus) => boolean, timeoutMs?: number): Promise<QuorumStatus>;
  close(): Promise<void>;
}

export function startTestCluster(basePort: number, netns: NetnsNetwork | null = null): TestCluster {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftka-quorum-test-'));
  const cluster = new LocalCluster({ dataDir, basePort, overrides: TEST_OVERRIDES, logLevel: 'info', netns });
  const endpoint = (e: { host: string; port: number }) => `${e.host}:${e.port}`;
  const clients = nodeClients(cluster.clusterId, cluster.endpoints, 400);
  const writer = new QuorumClient({
    clusterId: cluster.clusterId,
    bootstrapEndpoints: cluster.endpoints.map(endpoint),
    requestTimeoutMs: 800,
    retryBackoffMs: 20,
    appendTimeoutMs: 20_000,
  });
  cluster.start();
  const status = () => quorumStatus(clients);
  return {
    cluster,
    clients,
    writer,
    status,
    waitForLeader: (predicate = () => true, timeoutMs = 20_000) =>
      waitFor(
        'an active controller',
        async () => {
          const s = await status();
          return s.leaderId !== -1 && predicate(s) ? s : undefined;
        },
        { timeoutMs, intervalMs: 50 },
      ),
    async close() {
      writer.close();
      for (const c of clients.values()) c.close();
      await cluster.stop();
    },
  };
}

/** Appends `count` unique values (one record per append, `concurrency` at a time); returns the acknowledged ones. */
export async function appendValues(
  writer: QuorumClient,
  prefix: string,
  count: number,
  concurrency = 8,
): Promise<string[]> {
  const acked: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const value = `${prefix}-${next++}`;
        await writer.append([Buffer.from(value)]);
        acked.push(value);
      }
    }),
  );
  return acked;
}

/** The committed data values of one node, in log order, as that node has them. */
export async function committedValues(t: TestCluster, nodeId: number): Promise<string[]> {
  const node = t.cluster.nodes.get(nodeId);
  const client = t.clients.get(nodeId);
  if (!node || !client) throw new Error(`no controller ${nodeId}`);
  const res = await client.readAllCommitted(0, `${node.host}:${node.port}`);
  return res.entries.filter((e) => e.kind === 'data').map((e) => Buffer.from(e.data).toString());
}

/** Waits until every running node reports the same high watermark (logs converged). */
export async function waitForConvergence(t: TestCluster, timeoutMs = 20_000): Promise<QuorumStatus> {
  return waitFor(
    'every controller to reach the same high watermark',
    async () => {
      const s = await t.status();
      const up = s.nodes.filter((n) => t.cluster.isRunning(n.nodeId));
      const hws = up.map((n) => n.highWatermark);
      return s.leaderId !== -1 && up.every((n) => n.reachable) && Math.min(...hws) === Math.max(...hws) ? s : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}
