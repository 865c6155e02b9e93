// The nemesis: plays a fault schedule against a cluster through a
// FaultApplier, the one seam between "what to break" and "how to break it
// here". LocalClusterApplier breaks a LocalCluster (signals to child
// processes; nftables/iptables rules inside each node's network namespace
// when the cluster runs in namespaces); DockerApplier breaks a docker
// compose cluster (container kill/pause/start, network disconnect, and
// packet filters inside a container's namespace via nsenter). Every fault
// start and heal is recorded in the history as a `nemesis` op, so a reader
// can line anomalies up with what was happening.
import { execFileSync } from 'node:child_process';
import type { LocalCluster } from '../local-cluster.js';
import type { NetnsNetwork } from '../netns.js';
import { nodeClients, quorumStatus } from '../quorum-status.js';
import { waitFor } from '../wait.js';
import type { History } from './history.js';
import { describeFault, type FaultKind, NETWORK_FAULTS, type ScheduledFault } from './schedule.js';

export interface FaultApplier {
  /** One line for the terminal: what it controls and how. */
  readonly description: string;
  readonly controllerIds: readonly number[];
  readonly brokerIds: readonly number[];
  supports(kind: FaultKind): boolean;
  /** The active controller's id, or null when none is known. */
  activeController(): Promise<number | null>;
  /** SIGKILL; resolves when the process is gone. */
  kill(id: number): Promise<void>;
  /** Starts a stopped node (a no-op for a running one). */
  start(id: number): Promise<void>;
  pause(id: number): Promise<void>;
  resume(id: number): Promise<void>;
  /** Controlled shutdown (SIGTERM), then start again. */
  restart(id: number): Promise<void>;
  /** Node `to` stops hearing node `from`: packets from `from` arriving at `to` are dropped. */
  cut(from: number, to: number): Promise<void>;
  /** Takes a node off the network entirely. */
  isolate(id: number): Promise<void>;
  /** Removes every cut and isolation. */
  healNetwork(): Promise<void>;
  /** Everything back: network healed, paused nodes resumed, stopped nodes started. */
  healAll(): Promise<void>;
  close(): Promise<void>;
}

/** Packet filters inside a network namespace, entered by a command prefix. */
export class Firewall {
  static readonly TABLE = 'raftka_chaos';
  readonly tool: 'nft' | 'iptables';

  constructor(tool?: 'nft' | 'iptables') {
    this.tool = tool ?? Firewall.detect() ?? 'nft';
  }

  /** Which packet filter tool is installed (nft preferred), or null. */
  static detect(): 'nft' | 'iptables' | null {
    for (const tool of ['nft', 'iptables'] as const) {
      try {
        execFileSync(tool, ['--version'], { stdio: 'ignore' });
        return tool;
      } catch {
        // not installed
      }
    }
    return null;
  }

  /** Drops packets from `sourceAddress` arriving in the namespace `enter` leads into. */
  drop(enter: readonly string[], sourceAddress: string): void {
    const [cmd, ...prefix] = enter;
    if (this.tool === 'nft') {
      const t = Firewall.TABLE;
      const script = [
        `add table inet ${t}`,
        `add chain inet ${t} input { type filter hook input priority 0 ; }`,
        `add rule inet ${t} input ip saddr ${sourceAddress} drop`,
        '',
      ].join('\n');
      run(cmd as string, [...prefix, 'nft', '-f', '-'], script);
    } else {
      run(cmd as string, [...prefix, 'iptables', '-w', '-A', 'INPUT', '-s', sourceAddress, '-j', 'DROP']);
    }
  }

  /** Removes every rule this class added in that namespace. */
  clear(enter: readonly string[]): void {
    const [cmd, ...prefix] = enter;
    try {
      if (this.tool === 'nft') run(cmd as string, [...prefix, 'nft', 'delete', 'table', 'inet', Firewall.TABLE]);
      else run(cmd as string, [...prefix, 'iptables', '-w', '-F', 'INPUT']);
    } catch {
      // No table: nothing was cut there.
    }
  }
}

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
}

export interface LocalClusterApplierOptions {
  /** The cluster's network, when its nodes run in namespaces (network faults need it). */
  netns?: NetnsNetwork | null;
  firewall?: Firewall;
  /** How long a restarted broker may take to report RUNNING. Default 30 s. */
  startTimeoutMs?: number;
}

/** Faults for a LocalCluster: signals always; network faults when the nodes run in namespaces. */
export class LocalClusterApplier implements FaultApplier {
  readonly #cluster: LocalCluster;
  readonly #netns: NetnsNetwork | null;
  readonly #firewall: Firewall | null;
  readonly #quorum;
  readonly #startTimeoutMs: number;
  readonly #cutNodes = new Set<number>();
  readonly #isolated = new Set<number>();

  constructor(cluster: LocalCluster, options: LocalClusterApplierOptions = {}) {
    this.#cluster = cluster;
    this.#netns = options.netns ?? null;
    this.#firewall = this.#netns === null ? null : (options.firewall ?? (Firewall.detect() ? new Firewall() : null));
    this.#quorum = nodeClients(cluster.clusterId, cluster.endpoints, 400);
    this.#startTimeoutMs = options.startTimeoutMs ?? 30_000;
  }

  get description(): string {
    if (this.#netns === null) return 'local cluster, process signals only (no network namespaces: no partitions)';
    if (this.#firewall === null)
      return 'local cluster in network namespaces, signals and whole-node isolation (no nft/iptables)';
    return `local cluster in network namespaces, signals and ${this.#firewall.tool} partitions`;
  }

  get controllerIds(): number[] {
    return this.#cluster.controllers.map((n) => n.nodeId);
  }

  get brokerIds(): number[] {
    return this.#cluster.brokers.map((n) => n.nodeId);
  }

  supports(kind: FaultKind): boolean {
    if (!NETWORK_FAULTS.has(kind)) return true;
    if (this.#netns === null) return false;
    return kind === 'isolate-broker' || this.#firewall !== null;
  }

  async activeController(): Promise<number | null> {
    const s = await quorumStatus(this.#quorum);
    return s.leaderId === -1 ? null : s.leaderId;
  }

  async kill(id: number): Promise<void> {
    if (this.#cluster.isRunning(id)) await this.#cluster.kill(id);
  }

  async start(id: number): Promise<void> {
    if (this.#cluster.isRunning(id)) return;
    this.#cluster.startNode(id);
  }

  async pause(id: number): Promise<void> {
    if (this.#cluster.isRunning(id)) await this.#cluster.signal(id, 'SIGSTOP');
  }

  async resume(id: number): Promise<void> {
    if (this.#cluster.nodes.get(id)?.paused) await this.#cluster.signal(id, 'SIGCONT');
  }

  async restart(id: number): Promise<void> {
    if (this.#cluster.isRunning(id)) await this.#cluster.signal(id, 'SIGTERM', 30_000);
    this.#cluster.startNode(id);
    const node = this.#cluster.nodes.get(id);
    if (node?.role === 'broker' && node.metricsPort !== null) {
      await waitFor(
        `broker ${id} RUNNING after restart`,
        async () => {
          const s = await this.#cluster.brokerStatus(id);
          return s !== null && s.state === 'RUNNING' && !s.fenced;
        },
        { timeoutMs: this.#startTimeoutMs, intervalMs: 100 },
      );
    }
  }

  async cut(from: number, to: number): Promise<void> {
    const netns = this.#needNetns();
    if (this.#firewall === null) throw new Error('no nft or iptables: cannot cut links between two nodes');
    this.#firewall.drop(netns.exec(to), netns.address(from));
    this.#cutNodes.add(to);
  }

  async isolate(id: number): Promise<void> {
    this.#needNetns().isolate(id);
    this.#isolated.add(id);
  }

  async healNetwork(): Promise<void> {
    const netns = this.#netns;
    if (netns === null) return;
    for (const id of this.#isolated) netns.heal(id);
    this.#isolated.clear();
    for (const id of this.#cutNodes) this.#firewall?.clear(netns.exec(id));
    this.#cutNodes.clear();
  }

  async healAll(): Promise<void> {
    await this.healNetwork();
    for (const n of this.#cluster.nodes.values()) {
      if (n.paused) await this.resume(n.nodeId);
      if (!this.#cluster.isRunning(n.nodeId)) this.#cluster.startNode(n.nodeId);
    }
  }

  async close(): Promise<void> {
    for (const c of this.#quorum.values()) c.close();
  }

  #needNetns(): NetnsNetwork {
    if (this.#netns === null) throw new Error('network faults need the cluster in network namespaces');
    return this.#netns;
  }
}

export interface DockerApplierOptions {
  /** `docker compose -p` project name. */
  project: string;
  /** Compose file(s), when not the default. */
  composeFiles?: string[];
  controllerIds: number[];
  brokerIds: number[];
  /** Service name of a node; default `controller-<id>` / `broker-<id>`. */
  serviceOf?: (id: number, role: 'controller' | 'broker') => string;
  /** The network the nodes share, for disconnect; default `<project>_default`. */
  network?: string;
  /** Finds the active controller (e.g. Admin describeCluster through a broker); unset: no controller faults. */
  activeController?: () => Promise<number | null>;
  /** The compose command: `docker compose` (v2 plugin) or `docker-compose` (v1); default whichever works. */
  composeCommand?: string[];
  firewall?: Firewall;
}

/**
 * Faults for a docker compose cluster on this host: kill/start, pause/
 * unpause, network disconnect/connect for isolation, and one-way cuts with
 * nft/iptables run inside the container's network namespace (nsenter), which
 * needs root on the docker host.
 */
export class DockerApplier implements FaultApplier {
  readonly #o: DockerApplierOptions;
  readonly #firewall: Firewall | null;
  readonly #cutNodes = new Set<number>();
  /** Nodes taken off the network, with the address to reconnect them at. */
  readonly #disconnected = new Map<number, string>();
  readonly #paused = new Set<number>();
  #composeCommand: string[] | null;

  constructor(options: DockerApplierOptions) {
    this.#o = options;
    this.#firewall = options.firewall ?? (Firewall.detect() ? new Firewall() : null);
    this.#composeCommand = options.composeCommand ?? null;
  }

  get description(): string {
    return `docker compose project ${this.#o.project}: container kill/pause/start, network disconnect${
      this.#firewall === null ? '' : `, ${this.#firewall.tool} cuts via nsenter`
    }`;
  }

  get controllerIds(): number[] {
    return this.#o.controllerIds;
  }

  get brokerIds(): number[] {
    return this.#o.brokerIds;
  }

  supports(kind: FaultKind): boolean {
    if (kind === 'kill-controller' || kind === 'pause-controller') return this.#o.activeController !== undefined;
    if (kind === 'isolate-broker' || !NETWORK_FAULTS.has(kind)) return true;
    return this.#firewall !== null && process.getuid?.() === 0;
  }

  async activeController(): Promise<number | null> {
    return (await this.#o.activeController?.()) ?? null;
  }

  #service(id: number): string {
    const role = this.#o.controllerIds.includes(id) ? 'controller' : 'broker';
    return this.#o.serviceOf?.(id, role) ?? `${role}-${id}`;
  }

  #compose(...args: string[]): string {
    if (this.#composeCommand === null) {
      try {
        run('docker', ['compose', 'version']);
        this.#composeCommand = ['docker', 'compose'];
      } catch {
        this.#composeCommand = ['docker-compose'];
      }
    }
    const [cmd, ...sub] = this.#composeCommand;
    const files = (this.#o.composeFiles ?? []).flatMap((f) => ['-f', f]);
    return run(cmd as string, [...sub, '-p', this.#o.project, ...files, ...args]);
  }

  #container(id: number): string {
    const c = this.#compose('ps', '-q', this.#service(id)).trim();
    if (c === '') throw new Error(`no container for ${this.#service(id)}`);
    return c;
  }

  #address(id: number): string {
    const net = this.#o.network ?? `${this.#o.project}_default`;
    return run('docker', [
      'inspect',
      '-f',
      `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`,
      this.#container(id),
    ]).trim();
  }

  #enter(id: number): string[] {
    const pid = run('docker', ['inspect', '-f', '{{.State.Pid}}', this.#container(id)]).trim();
    return ['nsenter', '-t', pid, '-n'];
  }

  async kill(id: number): Promise<void> {
    this.#paused.delete(id);
    this.#compose('kill', '-s', 'SIGKILL', this.#service(id));
  }

  async start(id: number): Promise<void> {
    this.#compose('start', this.#service(id));
  }

  async pause(id: number): Promise<void> {
    this.#compose('pause', this.#service(id));
    this.#paused.add(id);
  }

  async resume(id: number): Promise<void> {
    if (!this.#paused.delete(id)) return;
    this.#compose('unpause', this.#service(id));
  }

  async restart(id: number): Promise<void> {
    this.#compose('stop', '-t', '30', this.#service(id));
    this.#compose('start', this.#service(id));
  }

  async cut(from: number, to: number): Promise<void> {
    if (this.#firewall === null) throw new Error('no nft or iptables on this host: cannot cut links');
    this.#firewall.drop(this.#enter(to), this.#address(from));
    this.#cutNodes.add(to);
  }

  async isolate(id: number): Promise<void> {
    // Reconnected without --ip the node would get another address, but it listens on (and the
    // others dial) its fixed one; without --alias its service name would no longer resolve.
    const address = this.#address(id);
    run('docker', ['network', 'disconnect', this.#o.network ?? `${this.#o.project}_default`, this.#container(id)]);
    this.#disconnected.set(id, address);
  }

  async healNetwork(): Promise<void> {
    for (const [id, address] of this.#disconnected) {
      const net = this.#o.network ?? `${this.#o.project}_default`;
      const ip = address === '' ? [] : ['--ip', address];
      run('docker', ['network', 'connect', ...ip, '--alias', this.#service(id), net, this.#container(id)]);
    }
    this.#disconnected.clear();
    for (const id of this.#cutNodes) this.#firewall?.clear(this.#enter(id));
    this.#cutNodes.clear();
  }

  async healAll(): Promise<void> {
    await this.healNetwork();
    for (const id of [...this.#paused]) await this.resume(id);
    for (const id of [...this.#o.controllerIds, ...this.#o.brokerIds]) await this.start(id);
  }

  async close(): Promise<void> {}
}

export interface NemesisOptions {
  applier: FaultApplier;
  schedule: readonly ScheduledFault[];
  history?: History | null;
  log?: (line: string) => void;
  /** Between the steps of a rolling restart: until every partition is back in full ISR. */
  waitForFullIsr?: () => Promise<void>;
  /** Stops the schedule early (the remaining faults are skipped, the current one healed). */
  signal?: AbortSignal;
}

export interface NemesisReport {
  applied: Array<{ fault: ScheduledFault; startedMs: number; healedMs: number; target: string; error?: string }>;
  skipped: ScheduledFault[];
}

/**
 * Plays the schedule in real time: each fault starts at its startMs (or
 * right after the previous one healed, if that ran late), lasts its
 * duration, and is healed before the next. Resolves when the schedule is
 * done; a fault that cannot be applied is logged and skipped, not fatal.
 */
export async function runNemesis(options: NemesisOptions): Promise<NemesisReport> {
  const { applier, history } = options;
  const log = options.log ?? (() => {});
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const report: NemesisReport = { applied: [], skipped: [] };
  const record = (fault: string) => {
    history?.add({ process: -1, f: 'nemesis', type: 'info', fault });
    history?.flush();
  };
  for (const fault of options.schedule) {
    if (options.signal?.aborted) {
      report.skipped.push(fault);
      continue;
    }
    if (!applier.supports(fault.kind)) {
      report.skipped.push(fault);
      continue;
    }
    await sleep(fault.startMs - now(), options.signal);
    if (options.signal?.aborted) {
      report.skipped.push(fault);
      continue;
    }
    const startedMs = now();
    let target = '';
    let error: string | undefined;
    const hit: Hit = { controller: null };
    try {
      // A fault that starts late (the previous one overran, e.g. a rolling restart) says so.
      const late = startedMs - fault.startMs > 1000 ? ` (started late, at ${(startedMs / 1000).toFixed(1)} s)` : '';
      record(`start ${describeFault(fault)}${late}`);
      log(`nemesis: start ${describeFault(fault)}${late}`);
      const started = await startFault(applier, fault, hit, options, log, record);
      target = started.target;
      await sleep(started.remainingMs, options.signal);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      log(`nemesis: fault #${fault.id} ${fault.kind} failed: ${error}`);
    }
    try {
      await healFault(applier, fault, hit);
    } catch (err) {
      error = `${error ?? ''} heal: ${err instanceof Error ? err.message : String(err)}`;
      log(`nemesis: heal of #${fault.id} failed: ${error}`);
    }
    record(`heal #${fault.id} ${fault.kind}`);
    log(`nemesis: healed #${fault.id} ${fault.kind} after ${((now() - startedMs) / 1000).toFixed(1)} s`);
    report.applied.push({ fault, startedMs, healedMs: now(), target, ...(error === undefined ? {} : { error }) });
  }
  return report;
}

/** What a fault hit that the schedule could not know: the active controller of the moment. */
interface Hit {
  controller: number | null;
}

/** Starts a fault; returns what it hit and how long to wait before healing it. */
async function startFault(
  a: FaultApplier,
  fault: ScheduledFault,
  hit: Hit,
  options: NemesisOptions,
  log: (line: string) => void,
  record: (fault: string) => void,
): Promise<{ target: string; remainingMs: number }> {
  const [first, second] = fault.brokers as [number, number];
  const others = (id: number) => a.brokerIds.filter((b) => b !== id);
  const whole = { target: '', remainingMs: fault.durationMs };
  switch (fault.kind) {
    case 'kill-broker':
      await a.kill(first);
      return whole;
    case 'kill-two-brokers': {
      // Halfway, the first comes back and, before it can catch up, the second dies.
      await a.kill(first);
      await sleep(fault.durationMs / 2, options.signal);
      await a.start(first);
      await a.kill(second);
      record(`#${fault.id} kill-two-brokers: restarted broker ${first}, killed broker ${second}`);
      log(`nemesis: #${fault.id} restarted broker ${first} and killed broker ${second}`);
      return { target: '', remainingMs: fault.durationMs / 2 };
    }
    case 'kill-controller':
    case 'pause-controller': {
      // Right after another fault an election may still be running: wait for its winner.
      const id = await waitFor('an active controller to hit', async () => (await a.activeController()) ?? undefined, {
        timeoutMs: 20_000,
        intervalMs: 200,
      });
      hit.controller = id;
      if (fault.kind === 'kill-controller') await a.kill(id);
      else await a.pause(id);
      record(`#${fault.id} ${fault.kind}: controller ${id}`);
      log(`nemesis: #${fault.id} hit active controller ${id}`);
      return { target: ` (controller ${id})`, remainingMs: fault.durationMs };
    }
    case 'pause-broker':
      await a.pause(first);
      return whole;
    case 'partition-brokers':
      for (const o of others(first)) {
        await a.cut(first, o);
        await a.cut(o, first);
      }
      return whole;
    case 'partition-controllers':
      for (const c of a.controllerIds) {
        await a.cut(first, c);
        await a.cut(c, first);
      }
      return whole;
    case 'partition-one-way':
      await a.cut(second, first);
      return whole;
    case 'isolate-broker':
      await a.isolate(first);
      return whole;
    case 'rolling-restart':
      for (const b of a.brokerIds) {
        await a.restart(b);
        record(`#${fault.id} rolling-restart: broker ${b} restarted`);
        await options.waitForFullIsr?.();
      }
      return { target: '', remainingMs: 0 };
  }
}

async function healFault(a: FaultApplier, fault: ScheduledFault, hit: Hit): Promise<void> {
  switch (fault.kind) {
    case 'kill-broker':
    case 'kill-two-brokers':
      for (const b of fault.brokers) await a.start(b);
      return;
    case 'kill-controller':
    case 'pause-controller': {
      const id = hit.controller;
      if (id === null) return;
      if (fault.kind === 'kill-controller') await a.start(id);
      else await a.resume(id);
      return;
    }
    case 'pause-broker':
      for (const b of fault.brokers) await a.resume(b);
      return;
    case 'partition-brokers':
    case 'partition-controllers':
    case 'partition-one-way':
    case 'isolate-broker':
      await a.healNetwork();
      return;
    case 'rolling-restart':
      for (const b of a.brokerIds) await a.start(b);
      return;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
