// `raftka local` (`pnpm start`): a local cluster of separate node processes on
// 127.0.0.1 with data under ./data (three controllers and three brokers by
// default), a status view until Ctrl-C, then a clean shutdown of every node:
// brokers first (controlled shutdown), then controllers. Nothing is created
// in the cluster by surprise.
import { AdminClient } from '@raftka/transport';
import { type LocalBrokerStatus, LocalCluster } from '../local-cluster.js';
import { nodeClients, type QuorumStatus, quorumStatus } from '../quorum-status.js';

export interface LocalOptions {
  dataDir: string;
  keepData: boolean;
  controllers: number;
  brokers: number;
  basePort: number;
  baseMetricsPort: number;
}

export async function runLocal(options: LocalOptions): Promise<void> {
  const cluster = new LocalCluster({
    dataDir: options.dataDir,
    controllers: options.controllers,
    brokers: options.brokers,
    basePort: options.basePort,
    baseMetricsPort: options.baseMetricsPort,
    fresh: !options.keepData,
  });
  cluster.start();
  const out = process.stdout;
  out.write(
    `Raftka local cluster "${cluster.clusterId}" (data under ${options.dataDir}${options.keepData ? ', kept' : ''})\n`,
  );
  for (const n of cluster.nodes.values()) {
    out.write(
      `  ${n.role.padEnd(10)} ${String(n.nodeId).padStart(3)}: grpc 127.0.0.1:${n.port}  metrics http://127.0.0.1:${n.metricsPort}/metrics  log ${n.logFile}\n`,
    );
  }
  out.write(`  controller.quorum.voters=${cluster.voters}\n\nCtrl-C stops the cluster.\n\n`);

  const clients = nodeClients(cluster.clusterId, cluster.endpoints);
  const admin = new AdminClient({
    clusterId: cluster.clusterId,
    bootstrapEndpoints: cluster.controllers.map((c) => `127.0.0.1:${c.port}`),
    requestTimeoutMs: 800,
    retryTimeoutMs: 800,
  });
  let stopping = false;
  let lastLine = '';
  const render = async () => {
    const [status, brokers, partitions] = await Promise.all([
      quorumStatus(clients),
      Promise.all(cluster.brokers.map(async (b) => ({ id: b.nodeId, status: await cluster.brokerStatus(b.nodeId) }))),
      partitionSummary(admin),
    ]);
    const line = `${formatStatus(status, brokers)}  |  ${partitions}`;
    if (out.isTTY) out.write(`\r\x1b[2K${line}`);
    else if (line !== lastLine) out.write(`${line}\n`);
    lastLine = line;
  };
  const timer = setInterval(() => {
    if (!stopping) void render();
  }, 1000);

  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    clearInterval(timer);
    out.write('\nstopping the cluster...\n');
    for (const c of clients.values()) c.close();
    admin.close();
    await cluster.stop();
    out.write('stopped.\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

function formatStatus(s: QuorumStatus, brokers: { id: number; status: LocalBrokerStatus | null }[]): string {
  const nodes = s.nodes
    .map((n) => (n.reachable ? `${n.nodeId}:${n.role}@${n.epoch} hw=${n.highWatermark}` : `${n.nodeId}:down`))
    .join('  ');
  const leader = s.leaderId === -1 ? 'no leader' : `leader ${s.leaderId} (epoch ${s.epoch})`;
  const line = `${new Date().toISOString().slice(11, 19)}  ${leader}  |  ${nodes}`;
  if (brokers.length === 0) return line;
  const b = brokers
    .map(({ id, status }) =>
      status === null
        ? `${id}:down`
        : `${id}:${status.state}${status.fenced ? ' fenced' : ''} epoch=${status.brokerEpoch} md=${status.metadataOffset}${Number.isNaN(status.leaders) ? '' : ` leads=${status.leaders}/${status.partitions}`}`,
    )
    .join('  ');
  return `${line}  |  brokers ${b}`;
}

/** Partitions in the committed metadata: how many, under-replicated (ISR < replicas), offline (no leader). */
async function partitionSummary(admin: AdminClient): Promise<string> {
  try {
    const topics = await admin.describeTopics(null);
    let partitions = 0;
    let urp = 0;
    let offline = 0;
    for (const t of topics) {
      for (const p of t.partitions) {
        partitions++;
        if (p.leader < 0) offline++;
        if (p.isr.length < p.replicas.length) urp++;
      }
    }
    return `topics ${topics.length} partitions ${partitions} URP ${urp} offline ${offline}`;
  } catch {
    return 'partitions ?';
  }
}
