// Faults for `raftka bench failover --docker-project`: a docker compose
// cluster's containers killed, stopped, started and cut off the network
// through the Docker Engine API (HTTP on DOCKER_HOST's unix socket or TCP).
//
// Why not the chaos suite's DockerApplier, which runs `docker compose` and
// `docker network` commands: those run synchronously (execFileSync), and
// docker-compose v1 (python, Debian's) needs about a second to start. The
// bench's sampler and probe live on the same event loop, so while a command
// ran nothing was sampled: every partition's new leader showed up in the
// same sample (p50 = p99 = max), a controlled shutdown (`compose stop`) froze
// the bench for its whole duration, and the fault time was taken a second or
// more before the signal landed. Here every call is an async HTTP request of
// a few milliseconds, made with the container ids resolved once up front.
//
// A broker taken off the network keeps its address and aliases: the compose
// file gives each node a fixed IP it listens on (and the voters are given by
// IP), and `docker network connect` without them hands out another address,
// after which nobody can reach the broker's listener again.
import { request } from 'node:http';
import type { FaultApplier } from '../chaos/nemesis.js';
import type { FaultKind } from '../chaos/schedule.js';

/** Where the Docker Engine API answers: a unix socket or host:port (plain HTTP). */
export type DockerEndpoint = { socketPath: string } | { host: string; port: number };

/** DOCKER_HOST as the docker CLI reads it (unix:// or tcp://; TLS is not supported here). */
export function dockerEndpoint(dockerHost = process.env.DOCKER_HOST): DockerEndpoint {
  if (dockerHost === undefined || dockerHost === '') return { socketPath: '/var/run/docker.sock' };
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  const m = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(dockerHost);
  if (m !== null) {
    if (process.env.DOCKER_TLS_VERIFY !== undefined && process.env.DOCKER_TLS_VERIFY !== '')
      throw new Error('DOCKER_TLS_VERIFY is set: the bench talks plain HTTP to the engine; use its unix socket');
    return { host: m[1] as string, port: Number(m[2]) };
  }
  throw new Error(`DOCKER_HOST=${dockerHost}: expected unix:///path or tcp://host:port`);
}

export class DockerApiError extends Error {
  constructor(
    readonly status: number,
    readonly path: string,
    message: string,
  ) {
    super(`docker engine ${path}: ${status} ${message}`);
  }
}

/** A minimal Docker Engine API client: JSON in, JSON out, one request per call. */
export class DockerEngine {
  readonly #endpoint: DockerEndpoint;
  readonly #timeoutMs: number;

  constructor(endpoint: DockerEndpoint = dockerEndpoint(), timeoutMs = 120_000) {
    this.#endpoint = endpoint;
    this.#timeoutMs = timeoutMs;
  }

  /** Resolves with the parsed body (null when empty) for 2xx and the `ok` statuses; rejects otherwise. */
  call(method: string, path: string, body?: unknown, ok: readonly number[] = []): Promise<unknown> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          ...this.#endpoint,
          method,
          path,
          headers: {
            host: 'docker',
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': payload.length }),
          },
          timeout: this.#timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if ((status >= 200 && status < 300) || ok.includes(status)) {
              try {
                resolve(text.trim() === '' ? null : JSON.parse(text));
              } catch {
                resolve(text);
              }
              return;
            }
            let message = text.trim();
            try {
              message = (JSON.parse(text) as { message?: string }).message ?? message;
            } catch {
              // Not JSON: keep the text.
            }
            reject(new DockerApiError(status, path, message));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`docker engine ${path}: no answer in ${this.#timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

interface ContainerSummary {
  Id: string;
  Labels: Record<string, string>;
}

interface EndpointSettings {
  IPAddress?: string;
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string } | null;
}

export interface ComposeFaultApplierOptions {
  project: string;
  /** The compose network the nodes talk on (default `<project>_raftka`). */
  network?: string;
  controllerIds: readonly number[];
  brokerIds: readonly number[];
  /** Compose service of a node (default `controller-<id>` / `broker-<id>`, as in docker-compose.yml). */
  serviceOf?: (id: number, role: 'controller' | 'broker') => string;
  activeController?: () => Promise<number | null>;
  /** A broker's controlled shutdown may take this long before the engine SIGKILLs it (the compose file's 45 s). */
  stopGraceSeconds?: number;
  engine?: DockerEngine;
}

/** FaultApplier over the Docker Engine API for a running compose project; see the header. */
export class ComposeFaultApplier implements FaultApplier {
  readonly #o: ComposeFaultApplierOptions;
  readonly #engine: DockerEngine;
  readonly #containers: ReadonlyMap<number, string>;
  readonly #network: string;
  /** Nodes taken off the network, with what to reconnect them with. */
  readonly #disconnected = new Map<number, EndpointSettings>();
  readonly #paused = new Set<number>();

  private constructor(o: ComposeFaultApplierOptions, engine: DockerEngine, containers: Map<number, string>) {
    this.#o = o;
    this.#engine = engine;
    this.#containers = containers;
    this.#network = o.network ?? `${o.project}_raftka`;
  }

  /** Finds every node's container by its compose labels; fails when one is missing. */
  static async connect(o: ComposeFaultApplierOptions): Promise<ComposeFaultApplier> {
    const engine = o.engine ?? new DockerEngine();
    const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${o.project}`] }));
    const list = (await engine.call('GET', `/containers/json?all=1&filters=${filters}`)) as ContainerSummary[];
    const byService = new Map(list.map((c) => [c.Labels['com.docker.compose.service'], c.Id]));
    const containers = new Map<number, string>();
    const missing: string[] = [];
    for (const [role, ids] of [
      ['controller', o.controllerIds],
      ['broker', o.brokerIds],
    ] as const) {
      for (const id of ids) {
        const service = o.serviceOf?.(id, role) ?? `${role}-${id}`;
        const c = byService.get(service);
        if (c === undefined) missing.push(service);
        else containers.set(id, c);
      }
    }
    if (missing.length > 0)
      throw new Error(
        `compose project ${o.project}: no container for ${missing.join(', ')} (is it up? is the project name right?)`,
      );
    return new ComposeFaultApplier(o, engine, containers);
  }

  get description(): string {
    return `docker compose project ${this.#o.project} through the Docker Engine API: container kill/stop/start, network disconnect from ${this.#network}`;
  }

  get controllerIds(): readonly number[] {
    return this.#o.controllerIds;
  }

  get brokerIds(): readonly number[] {
    return this.#o.brokerIds;
  }

  supports(kind: FaultKind): boolean {
    if (kind === 'kill-controller' || kind === 'pause-controller') return this.#o.activeController !== undefined;
    // Link cuts need a packet filter inside the container's namespace (the chaos suite's DockerApplier does that).
    return kind !== 'partition-brokers' && kind !== 'partition-controllers' && kind !== 'partition-one-way';
  }

  async activeController(): Promise<number | null> {
    return (await this.#o.activeController?.()) ?? null;
  }

  #id(node: number): string {
    const c = this.#containers.get(node);
    if (c === undefined) throw new Error(`node ${node} is not in compose project ${this.#o.project}`);
    return c;
  }

  /**
   * Each broker's /metrics as the host reaches it: the host port published
   * for the container's `containerPort` (9308 in the compose file), or the
   * container's address on the compose network when it is not published.
   */
  async brokerMetricsEndpoints(containerPort = 9308): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const id of this.#o.brokerIds) {
      const info = (await this.#engine.call('GET', `/containers/${this.#id(id)}/json`)) as {
        NetworkSettings?: {
          Ports?: Record<string, { HostIp: string; HostPort: string }[] | null>;
          Networks?: Record<string, EndpointSettings>;
        };
      };
      const published = info.NetworkSettings?.Ports?.[`${containerPort}/tcp`]?.[0]?.HostPort;
      const address = info.NetworkSettings?.Networks?.[this.#network]?.IPAddress;
      if (published !== undefined && published !== '') out.set(id, `127.0.0.1:${published}`);
      else if (address) out.set(id, `${address}:${containerPort}`);
    }
    return out;
  }

  /** SIGKILL; resolves once the container has stopped. */
  async kill(id: number): Promise<void> {
    this.#paused.delete(id);
    const c = this.#id(id);
    // 409: not running already.
    await this.#engine.call('POST', `/containers/${c}/kill?signal=SIGKILL`, undefined, [409]);
    await this.#engine.call('POST', `/containers/${c}/wait?condition=not-running`);
  }

  /** SIGTERM (a broker's controlled shutdown) and wait for the exit; the exit code (0 = controlled shutdown complete). */
  async stop(id: number): Promise<number | null> {
    this.#paused.delete(id);
    const c = this.#id(id);
    const grace = this.#o.stopGraceSeconds ?? 45;
    // 304: already stopped.
    await this.#engine.call('POST', `/containers/${c}/stop?t=${grace}`, undefined, [304]);
    const info = (await this.#engine.call('GET', `/containers/${c}/json`)) as { State?: { ExitCode?: number } };
    return info.State?.ExitCode ?? null;
  }

  async start(id: number): Promise<void> {
    // 304: running already.
    await this.#engine.call('POST', `/containers/${this.#id(id)}/start`, undefined, [304]);
  }

  async pause(id: number): Promise<void> {
    await this.#engine.call('POST', `/containers/${this.#id(id)}/pause`);
    this.#paused.add(id);
  }

  async resume(id: number): Promise<void> {
    if (!this.#paused.delete(id)) return;
    await this.#engine.call('POST', `/containers/${this.#id(id)}/unpause`);
  }

  async restart(id: number): Promise<void> {
    await this.stop(id);
    await this.start(id);
  }

  async cut(_from: number, _to: number): Promise<void> {
    throw new Error('link cuts are not supported through the Docker Engine API; use the chaos suite');
  }

  /** Disconnects the container from the compose network, remembering its address and aliases. */
  async isolate(id: number): Promise<void> {
    const c = this.#id(id);
    const info = (await this.#engine.call('GET', `/containers/${c}/json`)) as {
      NetworkSettings?: { Networks?: Record<string, EndpointSettings> };
    };
    const ep = info.NetworkSettings?.Networks?.[this.#network];
    if (ep === undefined) throw new Error(`node ${id} is not on network ${this.#network}`);
    await this.#engine.call('POST', `/networks/${encodeURIComponent(this.#network)}/disconnect`, { Container: c });
    this.#disconnected.set(id, ep);
  }

  async healNetwork(): Promise<void> {
    for (const [id, ep] of this.#disconnected) {
      const address = ep.IPAMConfig?.IPv4Address || ep.IPAddress;
      await this.#engine.call('POST', `/networks/${encodeURIComponent(this.#network)}/connect`, {
        Container: this.#id(id),
        EndpointConfig: {
          ...(address ? { IPAMConfig: { IPv4Address: address } } : {}),
          // Compose's aliases (the service name, which Prometheus scrapes by) and the container's short id.
          Aliases: ep.Aliases ?? [],
        },
      });
      this.#disconnected.delete(id);
    }
  }

  async healAll(): Promise<void> {
    await this.healNetwork();
    for (const id of [...this.#paused]) await this.resume(id);
    for (const id of this.#containers.keys()) await this.start(id);
  }

  async close(): Promise<void> {
    // A bench that stopped halfway must not leave a broker off the network or paused.
    if (this.#disconnected.size > 0 || this.#paused.size > 0) {
      await this.healNetwork().catch(() => undefined);
      for (const id of [...this.#paused]) await this.resume(id).catch(() => undefined);
    }
  }
}
