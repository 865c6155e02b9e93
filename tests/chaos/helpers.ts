// Shared pieces of the chaos tests: a cluster of 3 controllers and 3 brokers
// as real processes, each in its own network namespace on a bridge (so the
// nemesis can cut links), with the control-plane tests' short timings.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, NetnsNetwork, waitFor } from '@raftka/server';
import { AdminClient } from '@raftka/transport';

export const CHAOS_OVERRIDES = [
  'controller.quorum.election.timeout.ms=500',
  'controller.quorum.fetch.timeout.ms=1000',
  'controller.quorum.fetch.max.wait.ms=250',
  'controller.quorum.request.timeout.ms=1000',
  'controller.quorum.election.backoff.max.ms=300',
  'broker.heartbeat.interval.ms=500',
  'broker.session.timeout.ms=3000',
];

export const BROKER_IDS = [101, 102, 103];
export const CONTROLLER_IDS = [1, 2, 3];

export interface ChaosTestCluster {
  cluster: LocalCluster;
  net: NetnsNetwork;
  /** Admin at the controllers directly (a paused or cut broker never answers). */
  controllerAdmin: AdminClient;
  brokerState(id: number): Promise<string | undefined>;
  waitForBrokersRunning(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function requireNetns(): void {
  if (!NetnsNetwork.available()) {
    throw new Error('the chaos tests need root and iproute2 to create network namespaces (CI runs as root)');
  }
}

export function startChaosTestCluster(basePort: number, tag: string, subnet: number): ChaosTestCluster {
  requireNetns();
  const net = new NetnsNetwork({ tag, subnet, nodeIds: [...CONTROLLER_IDS, ...BROKER_IDS] });
  net.setup();
  const cluster = new LocalCluster({
    dataDir: mkdtempSync(join(tmpdir(), 'raftka-chaos-test-')),
    basePort,
    brokers: BROKER_IDS.length,
    baseMetricsPort: basePort + 100,
    overrides: CHAOS_OVERRIDES,
    netns: net,
  });
  cluster.start();
  const controllerAdmin = new AdminClient({
    clusterId: cluster.clusterId,
    bootstrapEndpoints: cluster.endpoints.map((e) => `${e.host}:${e.port}`),
    requestTimeoutMs: 2000,
    retryTimeoutMs: 20_000,
    retryBackoffMs: 20,
  });
  const t: ChaosTestCluster = {
    cluster,
    net,
    controllerAdmin,
    async brokerState(id) {
      const d = await controllerAdmin.describeCluster();
      return d.brokers.find((b) => b.brokerId === id)?.state;
    },
    async waitForBrokersRunning(timeoutMs = 30_000) {
      await waitFor(
        'every broker RUNNING and unfenced',
        async () => {
          const all = await Promise.all(BROKER_IDS.map((id) => cluster.brokerStatus(id)));
          return all.every((s) => s !== null && s.state === 'RUNNING' && !s.fenced);
        },
        { timeoutMs, intervalMs: 100 },
      );
    },
    async close() {
      controllerAdmin.close();
      await cluster.stop();
      cluster.killAllNow();
      net.teardown();
    },
  };
  return t;
}

/**
 * Whether a TCP connection from inside node `from`'s namespace to
 * host:port completes within timeoutMs (a dropped SYN just hangs).
 */
export function canConnect(net: NetnsNetwork, from: number, host: string, port: number, timeoutMs = 1000): boolean {
  const script = `const s=require('node:net').connect(${port},'${host}');s.setTimeout(${timeoutMs},()=>{process.stdout.write('timeout');process.exit(0)});s.on('connect',()=>{process.stdout.write('ok');process.exit(0)});s.on('error',(e)=>{process.stdout.write(e.code);process.exit(0)})`;
  const out = execFileSync(net.exec(from)[0] as string, [...net.exec(from).slice(1), process.execPath, '-e', script], {
    encoding: 'utf8',
  });
  return out === 'ok';
}
