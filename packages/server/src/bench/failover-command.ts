// `raftka bench failover` as the CLI calls it: options from the command line
// to FailoverBenchOptions, a ComposeFaultApplier (Docker Engine API) for a
// running docker compose cluster, the JSON object as the last line with --json.
import { Admin } from '@raftka/client';
import { ComposeFaultApplier } from './docker-engine.js';
import { type FailoverBenchResult, parseBytes, parseScenarios, runFailoverBench } from './failover.js';

export interface FailoverCommandOptions {
  json?: boolean;
  partitions: number;
  scenarios: string;
  catchUpBytes: string;
  pauseMs: number;
  probeIntervalMs: number;
  recoveryTimeoutMs: number;
  out?: string;
  bootstrap?: string;
  dockerProject?: string;
  dockerNetwork?: string;
  metrics?: string;
  basePort: number;
  netns: boolean;
  override: string[];
}

export async function runFailoverCommand(opts: FailoverCommandOptions): Promise<FailoverBenchResult> {
  const bootstrap = opts.bootstrap
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let admin: Admin | undefined;
  let applier: ComposeFaultApplier | undefined;
  if (opts.dockerProject !== undefined) {
    if (bootstrap === undefined) throw new Error('--docker-project needs --bootstrap (a published broker port)');
    const a = new Admin({ bootstrap, requestTimeoutMs: 2000, retryTimeoutMs: 5000 });
    admin = a;
    applier = await ComposeFaultApplier.connect({
      project: opts.dockerProject,
      network: opts.dockerNetwork ?? `${opts.dockerProject}_raftka`,
      controllerIds: [1, 2, 3],
      brokerIds: [101, 102, 103],
      activeController: async () => {
        const id = (await a.describeCluster()).controllerId;
        return id >= 0 ? id : null;
      },
    });
  }
  const metricsEndpoints = new Map<number, string>();
  for (const item of (opts.metrics ?? '').split(',').filter(Boolean)) {
    const [id, endpoint] = item.split('=');
    if (id === undefined || endpoint === undefined || !Number.isInteger(Number(id)))
      throw new Error(`--metrics wants id=host:port, got "${item}"`);
    metricsEndpoints.set(Number(id), endpoint);
  }
  // Compose: the brokers' published /metrics ports (the catch-up bytes and broker error counts need them).
  if (applier !== undefined && metricsEndpoints.size === 0) {
    for (const [id, endpoint] of await applier.brokerMetricsEndpoints()) metricsEndpoints.set(id, endpoint);
    console.log(
      `metrics: ${[...metricsEndpoints].map(([id, e]) => `${id}=${e}`).join(',') || 'none found'} (from the compose project; --metrics overrides)`,
    );
  }
  try {
    const result = await runFailoverBench({
      partitions: opts.partitions,
      scenarios: parseScenarios(opts.scenarios),
      bootstrap,
      applier,
      metricsEndpoints,
      outDir: opts.out,
      basePort: opts.basePort,
      overrides: opts.override,
      netns: opts.netns ? 'auto' : false,
      catchUpBytes: parseBytes(opts.catchUpBytes),
      pauseMs: opts.pauseMs,
      probeIntervalMs: opts.probeIntervalMs,
      sampleIntervalMs: 200,
      recoveryTimeoutMs: opts.recoveryTimeoutMs,
      log: (l) => console.log(l),
    });
    if (opts.json) console.log(JSON.stringify(result));
    return result;
  } finally {
    await admin?.close();
  }
}
