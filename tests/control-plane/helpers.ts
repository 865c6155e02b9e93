// Shared pieces of the multi-process control-plane tests: three controllers
// and three brokers as real processes with test timings, an admin client
// that talks to the brokers' client ports (which forward to the controllers),
// and waits on what the brokers themselves report.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalBrokerStatus, LocalCluster, nodeClients, quorumStatus, waitFor } from '@raftka/server';
import { AdminClient, type ClusterDescription, type QuorumClient } from '@raftka/transport';

/** The quorum tests' timings, plus a short broker session so a silent broker is fenced in seconds. */
export const CONTROL_PLANE_OVERRIDES = [
  'controller.quorum.election.timeout.ms=500',
  'controller.quorum.fetch.timeout.ms=1000',
  'controller.quorum.fetch.max.wait.ms=250',
  'controller.quorum.request.timeout.ms=1000',
  'controller.quorum.election.backoff.max.ms=300',
  'broker.heartbeat.interval.ms=500',
  'broker.session.timeout.ms=3000',
];

export const BROKER_IDS = [101, 102, 103];

export interface ControlPlaneCluster {
  cluster: LocalCluster;
  /** Admin through the brokers' client ports (each forwards to a controller). */
  admin: AdminClient;
  /**
   * Admin at the controllers directly, for the tests' own views: a paused
   * broker's port accepts connections but never answers.
   */
  controllerAdmin: AdminClient;
  quorumClients: Map<number, QuorumClient>;
  activeController(): Promise<{ leaderId: number; epoch: number }>;
  describeCluster(): Promise<ClusterDescription>;
  brokerStatus(id: number): Promise<LocalBrokerStatus | null>;
  /** Until every running broker reports `state` (and, for RUNNING, unfenced). */
  waitForBrokers(ids: number[], state: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** `combined`: three nodes with process.roles=broker,controller (ids 1-3) instead of 3 + 3 processes. */
export function startControlPlaneCluster(basePort: number, options: { combined?: boolean } = {}): ControlPlaneCluster {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftka-control-plane-test-'));
  const cluster = new LocalCluster({
    dataDir,
    basePort,
    brokers: options.combined ? 0 : 3,
    combined: options.combined ?? false,
    baseMetricsPort: basePort + 100,
    overrides: CONTROL_PLANE_OVERRIDES,
    logLevel: 'info',
  });
  cluster.start();
  const admin = new AdminClient({
    clusterId: cluster.clusterId,
    bootstrapEndpoints: cluster.brokerEndpoints,
    requestTimeoutMs: 5000,
    retryTimeoutMs: 20_000,
    retryBackoffMs: 20,
  });
  const controllerAdmin = new AdminClient({
    clusterId: cluster.clusterId,
    bootstrapEndpoints: cluster.endpoints.map((e) => `${e.host}:${e.port}`),
    requestTimeoutMs: 2000,
    retryTimeoutMs: 20_000,
    retryBackoffMs: 20,
  });
  const quorumClients = nodeClients(cluster.clusterId, cluster.endpoints, 400);
  const brokerStatus = (id: number) => cluster.brokerStatus(id);
  return {
    cluster,
    admin,
    controllerAdmin,
    quorumClients,
    activeController: () =>
      waitFor(
        'an active controller',
        async () => {
          const s = await quorumStatus(quorumClients);
          return s.leaderId === -1 ? undefined : { leaderId: s.leaderId, epoch: s.epoch };
        },
        { timeoutMs: 20_000, intervalMs: 50 },
      ),
    describeCluster: () => controllerAdmin.describeCluster(),
    brokerStatus,
    async waitForBrokers(ids, state, timeoutMs = 20_000) {
      await waitFor(
        `brokers ${ids.join(',')} in ${state}`,
        async () => {
          const all = await Promise.all(ids.map(brokerStatus));
          return all.every((s) => s !== null && s.state === state && (state !== 'RUNNING' || !s.fenced));
        },
        { timeoutMs, intervalMs: 50 },
      );
    },
    async close() {
      admin.close();
      controllerAdmin.close();
      for (const c of quorumClients.values()) c.close();
      await cluster.stop();
    },
  };
}

/** A broker's registration as the active controller sees it. */
export async function controllerView(
  t: ControlPlaneCluster,
  brokerId: number,
): Promise<ClusterDescription['brokers'][number] | undefined> {
  const d = await t.describeCluster();
  return d.brokers.find((b) => b.brokerId === brokerId);
}
