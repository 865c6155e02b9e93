// A cluster of real node processes on 127.0.0.1, for `pnpm start`, the
// multi-process tests and the benchmarks: controllers 1..n (the voters) and,
// optionally, brokers 101..(100+m) (Raft observers). Each node is a child
// process running the compiled CLI with its own data directory and log file;
// the cluster can SIGKILL, SIGSTOP/SIGCONT, SIGTERM and restart any of them,
// which is how the tests and benchmarks inject process faults.
//
// Broker ids start at 101 so a broker id never looks like a controller id in
// logs and metrics (Kafka examples often number controllers 3000+ instead;
// either works, ids only have to be unique).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetnsNetwork } from './netns.js';

export interface LocalClusterOptions {
  /** Root data directory; each node gets `<dataDir>/controller-<id>` or `<dataDir>/broker-<id>`. */
  dataDir: string;
  controllers?: number;
  /** Brokers, ids 101, 102, ...; default 0 (the quorum alone). */
  brokers?: number;
  /**
   * Controllers run process.roles=broker,controller: each is also a broker
   * (same id) with a client port at baseBrokerPort + id - 1. Default false.
   */
  combined?: boolean;
  /** First controller port; node i listens on basePort + i - 1. */
  basePort?: number;
  /** First broker client port; default basePort + 200 (19291 for the default 19091). */
  baseBrokerPort?: number;
  /** First metrics port, or null for none; brokers use baseMetricsPort + 200 onwards. */
  baseMetricsPort?: number | null;
  clusterId?: string;
  /** Extra `key=value` overrides for every node (e.g. shorter timeouts in tests). */
  overrides?: string[];
  /** Wipe dataDir first (default true). */
  fresh?: boolean;
  logLevel?: string;
  /** Run each node in its own network namespace (real partitions); default loopback. */
  netns?: NetnsNetwork | null;
}

/** The first broker's id. */
export const FIRST_BROKER_ID = 101;

export interface LocalNode {
  nodeId: number;
  role: 'controller' | 'broker';
  host: string;
  /** The gRPC port: a controller's CONTROLLER listener, a broker's client port. */
  port: number;
  /** The broker client port (PLAINTEXT) of a broker or a combined node, else null. */
  clientPort: number | null;
  metricsPort: number | null;
  dataDir: string;
  logFile: string;
  process: ChildProcess | null;
  paused: boolean;
}

export interface LocalBrokerStatus {
  brokerId: number;
  /** Kafka's BrokerState name: STARTING, RECOVERY, RUNNING, PENDING_CONTROLLED_SHUTDOWN, SHUTTING_DOWN. */
  state: string;
  brokerEpoch: number;
  fenced: boolean;
  metadataOffset: number;
  /** Partition replicas on the broker, and how many it leads (NaN before its data plane reports). */
  partitions: number;
  leaders: number;
  /** Partitions it leads with an ISR smaller than the replica set. */
  underReplicated: number;
}

const BROKER_STATE_NAMES: Record<number, string> = {
  0: 'NOT_RUNNING',
  1: 'STARTING',
  2: 'RECOVERY',
  3: 'RUNNING',
  6: 'PENDING_CONTROLLED_SHUTDOWN',
  7: 'SHUTTING_DOWN',
};

/** Reads the broker gauges out of a Prometheus text exposition. */
export function parseBrokerMetrics(brokerId: number, text: string): LocalBrokerStatus {
  const value = (name: string): number => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  const state = value('raftka_broker_state');
  return {
    brokerId,
    state: BROKER_STATE_NAMES[state] ?? 'UNKNOWN',
    brokerEpoch: value('raftka_broker_epoch'),
    fenced: value('raftka_broker_fenced') === 1,
    metadataOffset: value('raftka_broker_metadata_last_applied_offset'),
    partitions: value('raftka_broker_partition_count'),
    leaders: value('raftka_broker_leader_count'),
    underReplicated: value('raftka_broker_under_replicated_partitions'),
  };
}

// Resolved from src/ (tests) and dist/ (the CLI) alike.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export class LocalCluster {
  readonly nodes = new Map<number, LocalNode>();
  readonly clusterId: string;
  readonly voters: string;
  readonly #options: Required<Omit<LocalClusterOptions, 'baseMetricsPort' | 'netns' | 'baseBrokerPort'>> & {
    baseMetricsPort: number | null;
    netns: NetnsNetwork | null;
    baseBrokerPort: number;
  };

  constructor(options: LocalClusterOptions) {
    this.#options = {
      controllers: 3,
      brokers: 0,
      combined: false,
      basePort: 19091,
      baseMetricsPort: null,
      clusterId: 'raftka-local',
      overrides: [],
      fresh: true,
      logLevel: 'info',
      netns: null,
      ...options,
      baseBrokerPort: options.baseBrokerPort ?? (options.basePort ?? 19091) + 200,
      dataDir: resolve(options.dataDir),
    };
    this.clusterId = this.#options.clusterId;
    const ids = Array.from({ length: this.#options.controllers }, (_, i) => i + 1);
    const hostOf = (id: number) => this.#options.netns?.address(id) ?? '127.0.0.1';
    this.voters = ids.map((id) => `${id}@${hostOf(id)}:${this.#options.basePort + id - 1}`).join(',');
    for (const id of ids) {
      const dataDir = join(this.#options.dataDir, `controller-${id}`);
      this.nodes.set(id, {
        nodeId: id,
        host: hostOf(id),
        port: this.#options.basePort + id - 1,
        metricsPort: this.#options.baseMetricsPort === null ? null : this.#options.baseMetricsPort + id - 1,
        role: 'controller',
        clientPort: this.#options.combined ? this.#options.baseBrokerPort + id - 1 : null,
        dataDir,
        logFile: join(dataDir, 'controller.log'),
        process: null,
        paused: false,
      });
    }
    for (let i = 0; i < this.#options.brokers; i++) {
      const id = FIRST_BROKER_ID + i;
      const dataDir = join(this.#options.dataDir, `broker-${id}`);
      this.nodes.set(id, {
        nodeId: id,
        role: 'broker',
        host: hostOf(id),
        port: this.#options.baseBrokerPort + i,
        clientPort: this.#options.baseBrokerPort + i,
        metricsPort: this.#options.baseMetricsPort === null ? null : this.#options.baseMetricsPort + 200 + i,
        dataDir,
        logFile: join(dataDir, 'broker.log'),
        process: null,
        paused: false,
      });
    }
  }

  /** The controllers' endpoints (the quorum). */
  get endpoints(): Array<{ nodeId: number; host: string; port: number }> {
    return this.controllers.map((n) => ({ nodeId: n.nodeId, host: n.host, port: n.port }));
  }

  get controllers(): LocalNode[] {
    return [...this.nodes.values()].filter((n) => n.role === 'controller');
  }

  get brokers(): LocalNode[] {
    return [...this.nodes.values()].filter((n) => n.role === 'broker');
  }

  /** `host:port` of every broker's client listener (where Admin is served). */
  get brokerEndpoints(): string[] {
    return [...this.nodes.values()].filter((n) => n.clientPort !== null).map((n) => `${n.host}:${n.clientPort}`);
  }

  /** Ids of every node that runs a broker (brokers, and combined controllers). */
  get brokerIds(): number[] {
    return [...this.nodes.values()].filter((n) => n.clientPort !== null).map((n) => n.nodeId);
  }

  start(): void {
    if (this.#options.fresh) rmSync(this.#options.dataDir, { recursive: true, force: true });
    for (const id of this.nodes.keys()) this.startNode(id);
    // Detached children outlive a launcher that dies; never leave them behind.
    process.once('exit', () => this.killAllNow());
  }

  /** SIGKILLs every node synchronously (for exit handlers). */
  killAllNow(): void {
    for (const n of this.nodes.values()) {
      if (n.paused) n.process?.kill('SIGCONT');
      n.process?.kill('SIGKILL');
    }
  }

  startNode(id: number): void {
    const node = this.#node(id);
    if (node.process !== null) throw new Error(`${node.role} ${id} is already running`);
    mkdirSync(node.dataDir, { recursive: true });
    const roles = node.role === 'controller' && node.clientPort !== null ? 'broker,controller' : node.role;
    const args = [
      ...(this.#options.netns === null ? [] : [...this.#options.netns.exec(id).slice(1), process.execPath]),
      // Extra node flags for every node, e.g. RAFTKA_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
      ...(process.env.RAFTKA_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      CLI,
      node.role,
      ...this.#override('node.id', String(id)),
      ...this.#override('process.roles', roles),
      ...(node.clientPort !== null ? this.#override('listeners', `PLAINTEXT://${node.host}:${node.clientPort}`) : []),
      ...this.#override('cluster.id', this.clusterId),
      ...this.#override('controller.quorum.voters', this.voters),
      ...this.#override('metadata.log.dir', join(node.dataDir, 'metadata')),
      ...this.#override('log.level', this.#options.logLevel),
      ...(node.metricsPort === null ? [] : this.#override('metrics.port', String(node.metricsPort))),
      // In a namespace, 127.0.0.1 is the node's own loopback: serve metrics where the host can reach them.
      ...(node.metricsPort !== null && this.#options.netns !== null ? this.#override('metrics.host', node.host) : []),
      ...this.#options.overrides.flatMap((o) => ['--override', o]),
    ];
    const out = openSync(node.logFile, 'a');
    try {
      // `ip netns exec` execs the node, so the child's pid is the node's and signals reach it.
      const command = this.#options.netns === null ? process.execPath : 'ip';
      // Detached: a Ctrl-C in the terminal reaches only the launcher, which
      // then stops each node gracefully with SIGTERM.
      node.process = spawn(command, args, { stdio: ['ignore', out, out], detached: true });
    } finally {
      closeSync(out);
    }
    node.paused = false;
    const child = node.process;
    child.on('exit', () => {
      if (node.process === child) node.process = null;
    });
  }

  /** Sends a signal; SIGKILL and SIGTERM wait for the process to exit. */
  async signal(id: number, signal: NodeJS.Signals, exitTimeoutMs = 10_000): Promise<void> {
    const node = this.#node(id);
    const child = node.process;
    if (child === null) throw new Error(`${node.role} ${id} is not running`);
    if (signal === 'SIGSTOP') {
      child.kill('SIGSTOP');
      node.paused = true;
      return;
    }
    if (signal === 'SIGCONT') {
      child.kill('SIGCONT');
      node.paused = false;
      return;
    }
    const exited = new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
    });
    if (node.paused) child.kill('SIGCONT');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), exitTimeoutMs);
    await exited;
    clearTimeout(timer);
    node.process = null;
    node.paused = false;
  }

  /**
   * A broker's own view, read from its `/metrics` (state, epoch, fenced,
   * metadata offset); null when it does not answer or has no metrics port.
   */
  async brokerStatus(id: number, timeoutMs = 500): Promise<LocalBrokerStatus | null> {
    const node = this.#node(id);
    if (node.clientPort === null || node.metricsPort === null || node.process === null) return null;
    try {
      const res = await fetch(`http://${node.host}:${node.metricsPort}/metrics`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) return null;
      return parseBrokerMetrics(id, await res.text());
    } catch {
      return null;
    }
  }

  kill(id: number): Promise<void> {
    return this.signal(id, 'SIGKILL');
  }

  isRunning(id: number): boolean {
    return this.#node(id).process !== null;
  }

  /**
   * Gracefully stops every node (SIGTERM, then SIGKILL after a timeout):
   * brokers first, since their controlled shutdown needs an active controller.
   */
  async stop(): Promise<void> {
    const running = (role: LocalNode['role']) =>
      [...this.nodes.values()].filter((n) => n.role === role && n.process !== null);
    await Promise.all(running('broker').map((n) => this.signal(n.nodeId, 'SIGTERM')));
    // Combined nodes too, all at once: each broker part's controlled shutdown
    // needs a quorum, which stopping them one by one would lose for the last.
    await Promise.all(running('controller').map((n) => this.signal(n.nodeId, 'SIGTERM')));
  }

  #node(id: number): LocalNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  #override(key: string, value: string): string[] {
    return ['--override', `${key}=${value}`];
  }
}
