// A cluster of real node processes on 127.0.0.1, for `pnpm start`, the
// multi-process tests and the benchmarks. Each node is a child process running
// the compiled CLI with its own data directory and log file; the cluster can
// SIGKILL, SIGSTOP/SIGCONT, SIGTERM and restart any of them, which is how the
// tests and benchmarks inject process faults.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetnsNetwork } from './netns.js';

export interface LocalClusterOptions {
  /** Root data directory; each node gets `<dataDir>/controller-<id>`. */
  dataDir: string;
  controllers?: number;
  /** First controller port; node i listens on basePort + i - 1. */
  basePort?: number;
  /** First metrics port, or null for none. */
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

export interface LocalNode {
  nodeId: number;
  host: string;
  port: number;
  metricsPort: number | null;
  dataDir: string;
  logFile: string;
  process: ChildProcess | null;
  paused: boolean;
}

// Resolved from src/ (tests) and dist/ (the CLI) alike.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export class LocalCluster {
  readonly nodes = new Map<number, LocalNode>();
  readonly clusterId: string;
  readonly voters: string;
  readonly #options: Required<Omit<LocalClusterOptions, 'baseMetricsPort' | 'netns'>> & {
    baseMetricsPort: number | null;
    netns: NetnsNetwork | null;
  };

  constructor(options: LocalClusterOptions) {
    this.#options = {
      controllers: 3,
      basePort: 19091,
      baseMetricsPort: null,
      clusterId: 'raftka-local',
      overrides: [],
      fresh: true,
      logLevel: 'info',
      netns: null,
      ...options,
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
        dataDir,
        logFile: join(dataDir, 'controller.log'),
        process: null,
        paused: false,
      });
    }
  }

  get endpoints(): Array<{ nodeId: number; host: string; port: number }> {
    return [...this.nodes.values()].map((n) => ({ nodeId: n.nodeId, host: n.host, port: n.port }));
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
    if (node.process !== null) throw new Error(`controller ${id} is already running`);
    mkdirSync(node.dataDir, { recursive: true });
    const args = [
      ...(this.#options.netns === null ? [] : [...this.#options.netns.exec(id).slice(1), process.execPath]),
      CLI,
      'controller',
      ...this.#override('node.id', String(id)),
      ...this.#override('process.roles', 'controller'),
      ...this.#override('cluster.id', this.clusterId),
      ...this.#override('controller.quorum.voters', this.voters),
      ...this.#override('metadata.log.dir', join(node.dataDir, 'metadata')),
      ...this.#override('log.level', this.#options.logLevel),
      ...(node.metricsPort === null ? [] : this.#override('metrics.port', String(node.metricsPort))),
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
    if (child === null) throw new Error(`controller ${id} is not running`);
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

  kill(id: number): Promise<void> {
    return this.signal(id, 'SIGKILL');
  }

  isRunning(id: number): boolean {
    return this.#node(id).process !== null;
  }

  /** Gracefully stops every node (SIGTERM, then SIGKILL after a timeout). */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.nodes.values()].filter((n) => n.process !== null).map((n) => this.signal(n.nodeId, 'SIGTERM')),
    );
  }

  #node(id: number): LocalNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no controller ${id}`);
    return node;
  }

  #override(key: string, value: string): string[] {
    return ['--override', `${key}=${value}`];
  }
}
