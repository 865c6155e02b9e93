// A broker node's control plane: a Raft observer of the metadata log (the
// controller package's RaftDriver, with this package's metadata state
// machine), the broker lifecycle against the active controller, the Admin
// service on the client port, and the broker's metrics.
//
//   RaftDriver (observer) --committed entries--> BrokerMetadataStateMachine
//        |                                          |-> MetadataLoader -> listeners (local changes)
//        | onRoleChange: new Raft leader            |-> applied offset -> BrokerLifecycle
//        v                                                                   |
//   ControllerChannel (RegisterBroker, BrokerHeartbeat stream) <--poll()------'
//
// The lifecycle object decides what to send and when; this driver does the
// IO, arms one timer for the lifecycle's next deadline, and logs every state
// change. It follows the active controller: the Raft leader the observer
// fetches from (a failover moves the heartbeat stream at once), or where a
// NOT_CONTROLLER answer points. SIGTERM (`shutdown()`) is a controlled
// shutdown: heartbeats ask for it until the controller has moved leadership
// away and every broker has seen that, then the node stops.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { assert, isRaftkaError, RaftkaError } from '@raftka/common';
import {
  DeadlineTimer,
  driverNowMs,
  RaftDriver,
  type RaftDriverHooks,
  type RaftRoleChange,
  type VoterEndpoint,
} from '@raftka/controller';
import type { AllocateProducerIdsResponse, AlterPartitionRequest, AlterPartitionResponse } from '@raftka/metadata';
import type { Logger, MetricsServer, Registry } from '@raftka/observability';
import { startMetricsServer } from '@raftka/observability';
import type { RaftConfig } from '@raftka/raft';
import { BrokerLifecycleClient, brokerDataService, TransportServer } from '@raftka/transport';
import { AdminProxy } from './admin-proxy.js';
import { asApiError, ControllerChannel } from './controller-channel.js';
import { DataPlaneMetrics } from './data-metrics.js';
import { BrokerLifecycle, type BrokerState, type LifecycleRequest } from './lifecycle.js';
import { type BrokerMetadataListener, BrokerMetadataStateMachine, loggingListener } from './metadata-publisher.js';
import { BrokerMetrics } from './metrics.js';
import { ReplicaManager, type ReplicaManagerConfig } from './replica-manager.js';

export interface BrokerNodeConfig {
  nodeId: number;
  clusterId: string;
  /** controller.quorum.voters; this node must not be one of them. */
  voters: VoterEndpoint[];
  /** The PLAINTEXT listener: the client port (produce, fetch, metadata, Admin). */
  listenHost: string;
  listenPort: number;
  /** Host registered with the controller; default: listenHost, or the host name for 0.0.0.0. */
  advertisedHost?: string;
  /** Port registered with the controller (advertised.listeners); default or 0: the port actually bound. */
  advertisedPort?: number;
  /** broker.rack */
  rack: string | null;
  /** metadata.log.dir: the broker keeps its copy of the metadata log here. */
  metadataLogDir: string;
  raft: Omit<RaftConfig, 'nodeId' | 'voters'>;
  snapshotMaxBytesBetween: number;
  /** broker.heartbeat.interval.ms */
  heartbeatIntervalMs: number;
  /** broker.session.timeout.ms */
  sessionTimeoutMs: number;
  /** initial.broker.registration.timeout.ms */
  initialRegistrationTimeoutMs: number;
  /** How long a controlled shutdown may wait for the controller before the broker stops anyway. Default 30000. */
  controlledShutdownTimeoutMs?: number;
  metricsPort: number | null;
  metricsHost?: string;
  /** More registries served on the same /metrics (a combined node's controller metrics). */
  extraMetricsRegistries?: readonly Registry[];
  logger: Logger;
  /**
   * false: stay fenced (in RECOVERY) until `readyToUnfence()` is called, as
   * Kafka's broker waits for log recovery. Default true.
   */
  readyToUnfence?: boolean;
  /** More metadata listeners; a logging listener is always there. */
  listeners?: readonly BrokerMetadataListener[];
  /**
   * The data plane (partitions, produce, fetch, replica fetchers). Unset: a
   * control-plane-only broker, as the lifecycle tests and bench run it.
   */
  dataPlane?: DataPlaneConfig;
  /**
   * The node cannot go on: registration timed out, or the metadata observer
   * failed. Default: log and exit the process with status 1.
   */
  onFatalError?: (err: unknown) => void;
}

export interface BrokerStatus {
  brokerId: number;
  state: BrokerState;
  brokerEpoch: number;
  fenced: boolean;
  metadataOffset: number;
  highWatermark: number;
  /** The Raft leader the observer follows, -1 if none known. */
  leaderId: number;
  /** Where lifecycle requests go. */
  controllerEndpoint: string;
}

export interface BrokerNode {
  readonly nodeId: number;
  /** Actual client port (listenPort may be 0 in tests). */
  readonly port: number;
  readonly metricsPort: number | null;
  readonly lifecycle: BrokerLifecycle;
  readonly metadata: BrokerMetadataStateMachine;
  readonly metrics: BrokerMetrics;
  /** The data plane, when configured. */
  readonly replicaManager: ReplicaManager | undefined;
  status(): BrokerStatus;
  /**
   * AlterPartition (Kafka API 56) at the active controller, as this broker's
   * current incarnation: the data path proposes ISR changes of partitions it
   * leads. Fails with BROKER_NOT_AVAILABLE while unregistered.
   */
  alterPartition(request: Omit<AlterPartitionRequest, 'brokerId' | 'brokerEpoch'>): Promise<AlterPartitionResponse>;
  /** AllocateProducerIds (Kafka API 67): the next block of producer ids for this broker. */
  allocateProducerIds(): Promise<AllocateProducerIdsResponse>;
  /** The data path recovered its logs: a caught-up broker may now be unfenced (with `readyToUnfence: false`). */
  readyToUnfence(): void;
  /** Controlled shutdown, then stop. Resolves when stopped; `controlled` says whether the controller agreed. */
  shutdown(): Promise<{ controlled: boolean }>;
  /** Stop at once, without a controlled shutdown (the controller fences the broker when the stream closes). */
  close(): Promise<void>;
}

/** The replica manager's settings that come from the node's configuration. */
export type DataPlaneConfig = Omit<
  ReplicaManagerConfig,
  'brokerId' | 'clusterId' | 'logger' | 'metrics' | 'controller'
>;

const DEFAULT_CONTROLLED_SHUTDOWN_TIMEOUT_MS = 30_000;
const CLIENT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Metadata lag gauges are refreshed at least this often, even when nothing is applied. */
const METRICS_REFRESH_MS = 1000;

export async function startBrokerNode(config: BrokerNodeConfig): Promise<BrokerNode> {
  const node = new BrokerDriver(config, 'observer');
  await node.start();
  return node;
}

/**
 * The broker part of a node. `observer`: it runs its own RaftDriver as an
 * observer, whose listener is the client port. `shared` (process.roles=
 * broker,controller): the node's voter RaftDriver is attached before start
 * (`stateMachine` and `hooks` go into it), and the client port gets its own
 * server.
 */
export class BrokerDriver implements BrokerNode {
  readonly nodeId: number;
  readonly lifecycle: BrokerLifecycle;
  readonly metadata: BrokerMetadataStateMachine;
  readonly metrics: BrokerMetrics;
  readonly replicaManager: ReplicaManager | undefined;
  readonly #config: BrokerNodeConfig;
  readonly #log: Logger;
  #raft!: RaftDriver;
  readonly #mode: 'observer' | 'shared';
  #clientServer: TransportServer | undefined;
  readonly #lifecycleClient: BrokerLifecycleClient;
  readonly #channel: ControllerChannel;
  readonly #admin: AdminProxy;
  #metricsServer: MetricsServer | undefined;
  readonly #timer = new DeadlineTimer(driverNowMs, () => this.#pump());
  #metricsTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #fatal = false;
  #shutdownWaiters: (() => void)[] = [];
  #stopping: Promise<void> | undefined;
  #lastRegistrationError: string | undefined;

  constructor(config: BrokerNodeConfig, mode: 'observer' | 'shared') {
    this.#config = config;
    this.#mode = mode;
    this.nodeId = config.nodeId;
    this.#log = config.logger.child({ component: 'broker' });
    const isVoter = config.voters.some((v) => v.nodeId === config.nodeId);
    if (isVoter !== (mode === 'shared')) {
      throw new RaftkaError(
        'INVALID_CONFIG',
        isVoter
          ? `broker ${config.nodeId} is a voter; a broker-only node observes`
          : `node ${config.nodeId} runs a controller but is not a voter`,
      );
    }
    this.metrics = new BrokerMetrics(config.nodeId);
    this.metadata = new BrokerMetadataStateMachine(config.nodeId);
    this.metadata.addListener(loggingListener(this.#log.child({ component: 'metadata' })));
    for (const listener of config.listeners ?? []) this.metadata.addListener(listener);
    if (config.dataPlane !== undefined) {
      // Opens (and if needed recovers) every partition log before the broker registers.
      this.replicaManager = new ReplicaManager({
        ...config.dataPlane,
        brokerId: config.nodeId,
        clusterId: config.clusterId,
        logger: config.logger,
        metrics: new DataPlaneMetrics(this.metrics.metrics),
        controller: {
          alterPartition: (request) => this.alterPartition(request),
          allocateProducerIds: () => this.allocateProducerIds(),
          activeControllerId: () => this.#raft?.raft?.leaderId ?? -1,
          brokerEpoch: () => this.lifecycle.brokerEpoch,
        },
      });
      this.metadata.addListener(this.replicaManager);
    }
    const incarnationId = randomUUID();
    const advertisedHost =
      config.advertisedHost ??
      (config.listenHost === '0.0.0.0' || config.listenHost === '::' ? hostname() : config.listenHost);
    this.lifecycle = new BrokerLifecycle({
      brokerId: config.nodeId,
      incarnationId,
      rack: config.rack,
      // The port is filled in once the server is bound (listenPort may be 0).
      listeners: [{ name: 'PLAINTEXT', host: advertisedHost, port: config.listenPort }],
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      sessionTimeoutMs: config.sessionTimeoutMs,
      initialRegistrationTimeoutMs: config.initialRegistrationTimeoutMs,
      // With a data plane the broker asks to be unfenced only once its partitions act on the caught-up image.
      ...(config.dataPlane !== undefined
        ? { readyToUnfence: false }
        : config.readyToUnfence !== undefined
          ? { readyToUnfence: config.readyToUnfence }
          : {}),
    });
    this.#lifecycleClient = new BrokerLifecycleClient({
      clusterId: config.clusterId,
      bootstrapEndpoints: config.voters.map((v) => `${v.host}:${v.port}`),
      requestTimeoutMs: config.sessionTimeoutMs / 2,
      retryTimeoutMs: config.sessionTimeoutMs,
    });
    this.#channel = new ControllerChannel({
      brokerId: config.nodeId,
      clusterId: config.clusterId,
      voters: config.voters,
      requestTimeoutMs: config.sessionTimeoutMs / 2,
      onHeartbeatResponse: (sequence, outcome) => {
        if (outcome.ok) this.metrics.heartbeats.inc({ result: 'ok' });
        else this.metrics.heartbeats.inc({ result: outcome.error.errorName });
        if (!outcome.ok) this.#log.warn({ error: outcome.error }, 'heartbeat refused');
        this.lifecycle.onHeartbeatResponse(sequence, outcome, driverNowMs());
        this.#pump();
      },
      onStreamFailed: (error) => this.#onStreamFailed(error),
    });
    this.#admin = new AdminProxy({
      clusterId: config.clusterId,
      voters: config.voters,
      activeController: () => {
        const leaderId = this.#raft?.raft?.leaderId ?? -1;
        return leaderId >= 0 ? this.#raft.endpointOf(leaderId) : undefined;
      },
    });
    if (mode === 'shared') return;
    this.#raft = new RaftDriver(
      {
        nodeId: config.nodeId,
        clusterId: config.clusterId,
        voters: config.voters,
        metadataLogDir: config.metadataLogDir,
        raft: config.raft,
        snapshotMaxBytesBetween: config.snapshotMaxBytesBetween,
        appendLingerMs: 0,
        listener: { host: config.listenHost, port: config.listenPort, services: this.#clientServices() },
        logger: config.logger,
        onFatalError: (err) => this.#failed(err),
      },
      this.metadata,
      this.hooks,
    );
  }

  /** The services on the client port: Admin (forwarded to the active controller) and, with a data plane, Broker. */
  #clientServices() {
    const services = [this.#admin.service()];
    const rm = this.replicaManager;
    if (rm !== undefined) {
      services.push(
        brokerDataService(this.#config.clusterId, {
          produce: (r) => this.#timed('produce', String(r.acks), () => rm.produce(r)),
          fetch: (r, cancelled) =>
            this.#timed(r.replica_id >= 0 ? 'fetch_follower' : 'fetch_consumer', '', () => rm.fetch(r, cancelled)),
          listOffsets: (r) => this.#timed('list_offsets', '', () => rm.listOffsets(r)),
          metadata: (r) => this.#timed('metadata', '', () => rm.metadata(r)),
          initProducerId: () => this.#timed('init_producer_id', '', () => rm.initProducerId()),
        }),
      );
    }
    return services;
  }

  async #timed<T>(api: string, acks: string, call: () => Promise<T>): Promise<T> {
    const m = this.replicaManager?.config.metrics;
    const started = performance.now();
    try {
      const result = await call();
      m?.requests.inc({ api, error: 'NONE' });
      return result;
    } catch (err) {
      m?.requests.inc({ api, error: isRaftkaError(err) ? err.errorName : 'UNKNOWN_SERVER_ERROR' });
      throw err;
    } finally {
      m?.requestDuration.observe({ api, acks }, (performance.now() - started) / 1000);
    }
  }

  /** What the RaftDriver calls back: a new leader moves the heartbeat stream; applied metadata is reported. */
  get hooks(): RaftDriverHooks {
    return {
      onRoleChange: (change) => this.#onRoleChange(change),
      onIdle: () => this.#onMetadataApplied(),
    };
  }

  /** Shared mode: the node's voter driver, whose state machine feeds `metadata`. Before `start()`. */
  attach(driver: RaftDriver): void {
    assert(this.#mode === 'shared' && this.#raft === undefined, 'attach() is for a shared driver, once');
    this.#raft = driver;
  }

  get port(): number {
    return this.#clientServer?.port ?? this.#raft.port;
  }

  get metricsPort(): number | null {
    return this.#metricsServer?.port ?? null;
  }

  /** Observer mode: starts the Raft driver too. Shared mode: the owner starts the driver first. */
  async start(): Promise<void> {
    if (this.#mode === 'observer') {
      await this.#raft.start();
    } else {
      assert(this.#raft !== undefined, 'a shared broker needs attach() before start()');
      this.#clientServer = await TransportServer.start({
        nodeId: this.nodeId,
        clusterId: this.#config.clusterId,
        host: this.#config.listenHost,
        port: this.#config.listenPort,
        maxMessageBytes: CLIENT_MAX_MESSAGE_BYTES,
        services: this.#clientServices(),
      });
    }
    // Register the port actually bound (0 in tests means "any").
    const advertisedPort = this.#config.advertisedPort ?? 0;
    this.lifecycle.setListeners(
      this.lifecycle.listeners.map((l) => ({ ...l, port: advertisedPort > 0 ? advertisedPort : this.port })),
    );
    if (this.#config.metricsPort !== null) {
      this.#metricsServer = await startMetricsServer(
        combinedRegistry([
          this.metrics.metrics.registry,
          this.#raft.metrics.metrics.registry,
          ...(this.#config.extraMetricsRegistries ?? []),
        ]),
        this.#config.metricsPort,
        this.#config.metricsHost ?? '127.0.0.1',
      );
    }
    this.#log.info(
      {
        port: this.port,
        metricsPort: this.metricsPort,
        incarnationId: this.lifecycle.options.incarnationId,
        rack: this.#config.rack,
        listeners: this.lifecycle.listeners,
        voters: this.#config.voters.map((v) => v.nodeId),
      },
      'broker started; registering with the active controller',
    );
    this.lifecycle.start(driverNowMs());
    this.#metricsTimer = setInterval(() => this.#refreshMetrics(), METRICS_REFRESH_MS);
    this.#metricsTimer.unref();
    this.#pump();
  }

  // --- Events ----------------------------------------------------------------------

  #onRoleChange(change: RaftRoleChange): void {
    if (this.#closed || change.leaderId < 0 || !change.leaderEndpoint) return;
    if (this.#channel.setActiveController(change.leaderEndpoint)) {
      this.metrics.controllerChanges.inc();
      this.#log.info(
        { leaderId: change.leaderId, epoch: change.epoch, endpoint: change.leaderEndpoint },
        'new active controller; moving the heartbeat stream to it',
      );
      this.lifecycle.controllerChanged(driverNowMs());
      this.#pump();
    }
  }

  #onMetadataApplied(): void {
    if (this.#closed) return;
    this.#refreshMetrics();
    const before = this.lifecycle.inflightId;
    this.lifecycle.setMetadataOffset(this.metadata.lastAppliedOffset, driverNowMs());
    // Only pump when the offset may have made a heartbeat due; the NoOp every 500 ms keeps this path hot.
    if (before === undefined && this.lifecycle.nextDeadlineMs() <= driverNowMs()) this.#pump();
  }

  #onStreamFailed(error: RaftkaError): void {
    if (this.#closed) return;
    this.metrics.heartbeats.inc({ result: error.errorName });
    const moved = this.#channel.noteFailure(error);
    this.#log.info(
      { error: error.message, errorName: error.errorName, controller: this.#channel.target, moved },
      'heartbeat stream closed',
    );
    // After a backoff: when every controller is down, each attempt fails at once.
    this.lifecycle.connectionLost(asApiError(error), driverNowMs());
    this.#pump();
  }

  // --- The lifecycle pump ---------------------------------------------------------------

  #pump(): void {
    if (this.#closed || this.#fatal) return;
    const now = driverNowMs();
    this.lifecycle.setMetadataOffset(this.metadata.lastAppliedOffset, now);
    const request = this.lifecycle.poll(now);
    if (request) this.#send(request);
    this.#observeState();
    const failure = this.lifecycle.failure;
    if (failure) {
      this.#failed(failure);
      return;
    }
    this.#armTimer();
  }

  #send(r: LifecycleRequest): void {
    if (r.kind === 'heartbeat') {
      this.#channel.sendHeartbeat(r.id, r.request);
      return;
    }
    const target = this.#channel.target;
    this.#channel.register(r.request).then(
      (response) => {
        this.metrics.registrations.inc({ result: 'ok' });
        this.#log.info(
          { brokerEpoch: response.brokerEpoch, controller: target, incarnationId: r.request.incarnationId },
          'registered with the active controller',
        );
        this.lifecycle.onRegistrationResponse(r.id, { ok: true, response }, driverNowMs());
        this.#pump();
      },
      (err: unknown) => {
        const error = isRaftkaError(err) ? err : new RaftkaError('UNKNOWN_SERVER_ERROR', String(err));
        this.metrics.registrations.inc({ result: error.errorName });
        this.#channel.noteFailure(error);
        // Retries come every 100 ms while no controller is active: log a change, not every attempt.
        const level = error.message === this.#lastRegistrationError ? 'debug' : 'info';
        this.#lastRegistrationError = error.message;
        this.#log[level](
          { errorName: error.errorName, error: error.message, controller: target, next: this.#channel.target },
          'registration not accepted yet; retrying',
        );
        this.lifecycle.onRegistrationResponse(r.id, { ok: false, error: asApiError(error) }, driverNowMs());
        this.#pump();
      },
    );
  }

  #armTimer(): void {
    this.#timer.arm(this.lifecycle.nextDeadlineMs());
  }

  #observeState(): void {
    for (const change of this.lifecycle.takeStateChanges()) {
      this.#log.info(
        {
          from: change.from,
          to: change.to,
          reason: change.reason,
          brokerEpoch: this.lifecycle.brokerEpoch,
          metadataOffset: this.lifecycle.metadataOffset,
        },
        `broker state ${change.from} -> ${change.to}`,
      );
      this.metrics.setState(change.to);
      if (change.to === 'RECOVERY' && this.replicaManager !== undefined) {
        // Caught up on metadata: the partitions act on the current image, and the broker may be
        // unfenced while their logs open in the background. Kafka keeps a broker fenced until its
        // logs are loaded; with thousands of partitions that took longer than a restart should
        // (the bench controller's broker stayed in RECOVERY), and unfencing early only lets the
        // controller count this broker again: it joins an ISR only once its leader saw it catch up,
        // which needs the log open.
        this.replicaManager.start();
        this.readyToUnfence();
      }
      if (change.to === 'SHUTTING_DOWN') for (const w of this.#shutdownWaiters.splice(0)) w();
    }
    this.metrics.brokerEpoch.set(this.lifecycle.brokerEpoch);
    this.metrics.fenced.set(this.lifecycle.fenced ? 1 : 0);
  }

  #refreshMetrics(): void {
    if (this.#closed || !this.#raft.raft) return;
    const applied = this.metadata.lastAppliedOffset;
    const hw = this.#raft.raft.highWatermark;
    this.metrics.metadataLastAppliedOffset.set(applied);
    this.metrics.metadataHighWatermark.set(hw);
    this.metrics.metadataLagOffsets.set(Math.max(0, hw - 1 - applied));
    const appendTimeMs = this.metadata.lastAppliedAppendTimeMs;
    if (appendTimeMs >= 0) this.metrics.metadataLagMs.set(Math.max(0, Date.now() - appendTimeMs));
  }

  // --- Queries -------------------------------------------------------------------------

  status(): BrokerStatus {
    const raft = this.#raft.raft;
    return {
      brokerId: this.nodeId,
      state: this.lifecycle.state,
      brokerEpoch: this.lifecycle.brokerEpoch,
      fenced: this.lifecycle.fenced,
      metadataOffset: this.metadata.lastAppliedOffset,
      highWatermark: raft?.highWatermark ?? 0,
      leaderId: raft?.leaderId ?? -1,
      controllerEndpoint: this.#channel.target,
    };
  }

  // --- Calls for the data path ------------------------------------------------------------

  async alterPartition(
    request: Omit<AlterPartitionRequest, 'brokerId' | 'brokerEpoch'>,
  ): Promise<AlterPartitionResponse> {
    const brokerEpoch = this.#currentEpoch();
    return this.#lifecycleClient.alterPartition({ ...request, brokerId: this.nodeId, brokerEpoch });
  }

  async allocateProducerIds(): Promise<AllocateProducerIdsResponse> {
    const brokerEpoch = this.#currentEpoch();
    return this.#lifecycleClient.allocateProducerIds({ brokerId: this.nodeId, brokerEpoch });
  }

  readyToUnfence(): void {
    this.lifecycle.readyToUnfence(driverNowMs());
    this.#pump();
  }

  #currentEpoch(): number {
    const epoch = this.lifecycle.brokerEpoch;
    if (this.#closed || epoch < 0) {
      throw new RaftkaError('BROKER_NOT_AVAILABLE', `broker ${this.nodeId} is not registered`);
    }
    return epoch;
  }

  // --- Shutdown ------------------------------------------------------------------------

  async shutdown(): Promise<{ controlled: boolean }> {
    if (this.#closed) return { controlled: false };
    const timeoutMs = this.#config.controlledShutdownTimeoutMs ?? DEFAULT_CONTROLLED_SHUTDOWN_TIMEOUT_MS;
    const started = driverNowMs();
    if (this.lifecycle.beginControlledShutdown(started)) {
      this.#log.info({ timeoutMs }, 'controlled shutdown: asking the active controller to move leadership away');
      this.#pump();
    }
    let controlled = this.lifecycle.state === 'SHUTTING_DOWN';
    if (!controlled) {
      controlled = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        this.#shutdownWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    }
    if (controlled) {
      this.#log.info({ tookMs: Math.round(driverNowMs() - started) }, 'controlled shutdown complete');
    } else {
      this.#log.warn({ timeoutMs }, 'controlled shutdown did not complete in time; stopping anyway');
    }
    await this.close();
    return { controlled };
  }

  close(): Promise<void> {
    this.#stopping ??= this.#doClose();
    return this.#stopping;
  }

  async #doClose(): Promise<void> {
    this.#closed = true;
    this.#timer.cancel();
    if (this.#metricsTimer) clearInterval(this.#metricsTimer);
    // Logs are closed cleanly (checkpoints, clean-shutdown marker) before the process goes.
    await this.replicaManager?.close();
    await this.#channel.close();
    this.#admin.close();
    this.#lifecycleClient.close();
    // A shared driver belongs to the node; it stops it after the broker part.
    const results = await Promise.allSettled([
      this.#mode === 'observer' ? this.#raft.shutdown() : this.#clientServer?.close(),
      this.#metricsServer?.close(),
    ]);
    for (const r of results) if (r.status === 'rejected') this.#log.warn({ err: r.reason }, 'error while closing');
    this.#log.info('broker stopped');
  }

  #failed(err: unknown): void {
    if (this.#fatal) return;
    this.#fatal = true;
    this.#log.fatal({ err, errorName: isRaftkaError(err) ? err.errorName : undefined }, 'broker failed');
    if (this.#config.onFatalError) {
      this.#config.onFatalError(err);
      return;
    }
    void this.close().finally(() => process.exit(1));
  }
}

/** One `/metrics` body from several registries, each keeping its own default labels. */
function combinedRegistry(registries: readonly Registry[]): Registry {
  const first = registries[0] as Registry;
  return {
    contentType: first.contentType,
    metrics: async () => (await Promise.all(registries.map((r) => r.metrics()))).join('\n'),
  } as unknown as Registry;
}
