// The control plane of a controller process: the metadata state machine
// (@raftka/metadata's ControllerEngine on the Raft log), the BrokerLifecycle
// and Admin gRPC services, the engine's timers and the controller metrics.
//
// - Committed entries reach the engine through `MetadataStateMachine`, which
//   the RaftDriver applies them to; snapshots are images of the committed
//   metadata. The engine proposes on the Raft node itself; every engine call
//   made from outside the Ready loop is followed by `driver.kick()`.
// - BrokerLifecycle is served by the active controller. A standby refuses
//   with NOT_CONTROLLER naming the Raft leader's endpoint, so brokers go
//   there. Heartbeats arrive on one stream per broker; the stream is the
//   session: when the broker's side ends or breaks, the broker is fenced at
//   once (`brokerConnectionLost`), which is what makes a broker crash cost
//   milliseconds rather than broker.session.timeout.ms. When this controller
//   stops being active it ends every stream with NOT_CONTROLLER.
// - Heartbeats are never starved by record-producing work: the engine updates
//   their soft state at once, answers them without waiting when it can, and
//   the admin write cap never refuses them; here they are handled as soon as
//   their message arrives, with no queue in front of them.
// - Admin works on any controller: a standby forwards the call to the active
//   controller (marked as forwarded, so it is never forwarded twice). Reads
//   on the active controller use the committed image.
// - Timers: one for the engine's periodic duties (session-timeout fencing,
//   NoOp records every metadata.max.idle.interval.ms, leader rebalancing,
//   unclean elections), re-armed after every engine call; metrics refresh
//   each second.
import { assert, RaftkaError, type Random } from '@raftka/common';
import {
  type AlterConfigOp,
  type ApiError,
  type Completion,
  ControllerEngine,
  type ControllerEngineOptions,
  describeConfigs,
  describeTopics,
  type MetadataLog,
  validateConfigValue,
} from '@raftka/metadata';
import type { Logger, Metrics } from '@raftka/observability';
import type { LogEntry, NodeId, Snapshot } from '@raftka/raft';
import {
  type AdminCallContext,
  AdminClient,
  type AdminHandlers,
  adminService,
  type BrokerLifecycleHandlers,
  brokerLifecycleService,
  type ClusterDescription,
  type ExtraService,
  type HeartbeatStream,
  type HeartbeatStreamHandler,
  type HeartbeatWireRequest,
  NotControllerError,
} from '@raftka/transport';
import { ControllerMetrics } from './controller-metrics.js';
import { DeadlineTimer } from './deadline-timer.js';
import { driverNowMs, type RaftDriver, type RaftDriverHooks, type VoterEndpoint } from './raft-driver.js';
import type { StateMachine } from './state-machine.js';

/** The metadata image as the RaftDriver's state machine: replay committed records, snapshot the image. */
export class MetadataStateMachine implements StateMachine {
  readonly engine: ControllerEngine;

  constructor(engine: ControllerEngine) {
    this.engine = engine;
  }

  get appliedOffset(): number {
    return this.engine.appliedOffset + 1;
  }

  apply(entries: readonly LogEntry[]): void {
    this.engine.handleCommitted(entries, driverNowMs());
  }

  snapshot(): Uint8Array {
    const snapshot = this.engine.takeSnapshot();
    assert(snapshot !== undefined, 'a snapshot is taken only after entries were applied');
    return snapshot.data;
  }

  restore(snapshot: Snapshot): void {
    this.engine.handleSnapshot(snapshot);
  }
}

export interface ControlPlaneOptions {
  nodeId: NodeId;
  clusterId: string;
  voters: readonly VoterEndpoint[];
  logger: Logger;
  /** Registry the controller metrics go to (the node's). */
  metrics: Metrics;
  random: Random;
  /** broker.session.timeout.ms. */
  brokerSessionTimeoutMs: number;
  /** metadata.max.idle.interval.ms (0: no NoOp records). */
  maxIdleIntervalMs: number;
  /**
   * Cluster-level config defaults from the node's configuration
   * (num.partitions, default.replication.factor, min.insync.replicas, ...).
   * On becoming active, the controller writes those the cluster has no value
   * for yet; a value set later with AlterConfigs wins.
   */
  clusterDefaults?: Readonly<Record<string, string>>;
  /** More engine options (tests). */
  engine?: Partial<Omit<ControllerEngineOptions, 'log' | 'random'>>;
}

interface HeartbeatSession {
  readonly stream: HeartbeatStream;
  brokerId: number;
  brokerEpoch: number;
}

const METRICS_REFRESH_MS = 1000;
const FORWARD_RETRY_TIMEOUT_MS = 2000;

export class ControlPlane {
  readonly engine: ControllerEngine;
  readonly stateMachine: MetadataStateMachine;
  readonly metrics: ControllerMetrics;
  readonly #options: ControlPlaneOptions;
  readonly #log: Logger;
  #driver: RaftDriver | undefined;
  readonly #sessions = new Set<HeartbeatSession>();
  /** The current heartbeat stream of each broker; only its end fences the broker. */
  readonly #streamOf = new Map<number, HeartbeatSession>();
  readonly #forwardClients = new Map<string, AdminClient>();
  readonly #timer = new DeadlineTimer(driverNowMs, () => {
    if (this.#closed) return;
    this.engine.tick(driverNowMs());
    this.#afterEngineCall();
  });
  #metricsTimer: NodeJS.Timeout | undefined;
  #bootstrappedEpoch = -1;
  #closed = false;

  constructor(options: ControlPlaneOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'control-plane' });
    const raft = () => this.#raftDriver().raft;
    const log: MetadataLog = {
      propose: (records, nowMs) => raft().propose(records, nowMs),
      get role() {
        return raft().role;
      },
      get epoch() {
        return raft().epoch;
      },
      get leaderId() {
        return raft().leaderId;
      },
    };
    this.engine = new ControllerEngine({
      ...options.engine,
      log,
      random: options.random,
      brokerSessionTimeoutMs: options.brokerSessionTimeoutMs,
      maxIdleIntervalMs: options.maxIdleIntervalMs,
    });
    this.stateMachine = new MetadataStateMachine(this.engine);
    this.metrics = new ControllerMetrics(options.metrics);
    // The engine reports each election's latency when its records commit.
    const counters = this.engine.controller.counters;
    const record = counters.recordLeaderElectionLatency.bind(counters);
    counters.recordLeaderElectionLatency = (latencyMs: number) => {
      record(latencyMs);
      this.metrics.leaderElectionLatency.observe(latencyMs / 1000);
    };
  }

  /** Hooks for the RaftDriver: leadership checks on every role change, timers when idle. */
  get hooks(): RaftDriverHooks {
    return {
      onRoleChange: () => {
        if (this.#closed) return;
        this.engine.checkLeadership();
        if (!this.engine.isActive) this.#endStreams(() => this.#notController());
        this.#afterEngineCall(false);
      },
      onIdle: () => this.#afterEngineCall(false),
    };
  }

  /** The gRPC services this controller adds to its listener. */
  services(): ExtraService[] {
    return [
      brokerLifecycleService(this.#options.clusterId, this.#brokerLifecycleHandlers()),
      adminService(this.#options.clusterId, this.#adminHandlers()),
    ];
  }

  /** Binds the driver (before it starts). */
  attach(driver: RaftDriver): void {
    assert(this.#driver === undefined, 'ControlPlane.attach called twice');
    this.#driver = driver;
    this.#metricsTimer = setInterval(() => this.#refreshMetrics(), METRICS_REFRESH_MS);
    this.#metricsTimer.unref();
  }

  /** Stops timers and ends every heartbeat stream with SHUTTING_DOWN (their brokers are not fenced for it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer.cancel();
    if (this.#metricsTimer) clearInterval(this.#metricsTimer);
    this.#endStreams(() => new RaftkaError('SHUTTING_DOWN', `controller ${this.#options.nodeId} is shutting down`));
    for (const client of this.#forwardClients.values()) client.close();
    this.#forwardClients.clear();
  }

  // --- Engine plumbing ----------------------------------------------------------------

  #raftDriver(): RaftDriver {
    assert(this.#driver !== undefined, 'ControlPlane used before attach()');
    return this.#driver;
  }

  /** After an engine call: drain what it proposed, re-arm the timer, copy counters, bootstrap defaults. */
  #afterEngineCall(kick = true): void {
    if (this.#closed) return;
    const driver = this.#raftDriver();
    if (kick) driver.kick();
    this.metrics.syncCounters(this.engine.controller.counters);
    this.#maybeBootstrapDefaults();
    this.#armTimer();
  }

  #armTimer(): void {
    this.#timer.arm(this.engine.nextDeadlineMs());
  }

  /** Writes the node's cluster defaults the cluster has no value for, once per activation. */
  #maybeBootstrapDefaults(): void {
    const defaults = this.#options.clusterDefaults;
    if (!defaults || !this.engine.isActive || this.#bootstrappedEpoch === this.engine.activeEpoch) return;
    this.#bootstrappedEpoch = this.engine.activeEpoch;
    const image = this.engine.committedImage;
    const ops: AlterConfigOp[] = [];
    for (const [name, value] of Object.entries(defaults)) {
      if (image.clusterConfigs.has(name)) continue;
      const canonical = validateConfigValue('cluster', name, value);
      if (image.effectiveConfig(null, name) !== canonical) ops.push({ name, op: 'set', value: canonical });
    }
    if (ops.length === 0) return;
    this.#log.info({ ops }, 'writing cluster defaults from the node configuration');
    this.engine.incrementalAlterConfigs(
      [{ resourceType: 'cluster', resourceName: '', ops }],
      false,
      driverNowMs(),
      (o) => {
        if (!o.ok) this.#log.warn({ error: o.error }, 'cluster defaults not written');
      },
    );
    this.#raftDriver().kick();
  }

  #refreshMetrics(): void {
    if (this.#closed) return;
    this.metrics.setImageGauges(this.engine.isActive ? this.engine.committedImage : null);
    this.metrics.heartbeatStreams.set(this.#sessions.size);
    this.metrics.syncCounters(this.engine.controller.counters);
  }

  /** Runs an engine call whose answer comes through a completion, as a promise. */
  #engineCall<T>(start: (nowMs: number, done: Completion<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      start(driverNowMs(), (outcome) =>
        outcome.ok ? resolve(outcome.response) : reject(this.#toError(outcome.error)),
      );
      this.#afterEngineCall();
    });
  }

  #toError(error: ApiError): RaftkaError {
    if (error.errorName === 'NOT_CONTROLLER') return this.#notController(error.message);
    return new RaftkaError(error.errorName, error.message);
  }

  /** NOT_CONTROLLER naming the Raft leader when it is another node (where the client should go). */
  #notController(message?: string): NotControllerError {
    const driver = this.#raftDriver();
    const leaderId = driver.raft.leaderId;
    const elsewhere = leaderId >= 0 && leaderId !== this.#options.nodeId;
    return new NotControllerError(
      elsewhere ? leaderId : -1,
      elsewhere ? driver.endpointOf(leaderId) : undefined,
      message,
    );
  }

  #requireActive(): void {
    if (this.#closed) throw new RaftkaError('SHUTTING_DOWN', `controller ${this.#options.nodeId} is shutting down`);
    if (!this.engine.isActive) throw this.#notController();
  }

  // --- BrokerLifecycle -------------------------------------------------------------------

  #brokerLifecycleHandlers(): BrokerLifecycleHandlers {
    return {
      registerBroker: async (request) => {
        this.#requireActive();
        return this.#engineCall((now, done) => this.engine.registerBroker(request, now, done));
      },
      alterPartition: async (request) => {
        this.#requireActive();
        return this.#engineCall((now, done) => this.engine.alterPartition(request, now, done));
      },
      allocateProducerIds: async (request) => {
        this.#requireActive();
        return this.#engineCall((now, done) => this.engine.allocateProducerIds(request, now, done));
      },
      openHeartbeatStream: (stream) => {
        this.#requireActive();
        return this.#openSession(stream);
      },
    };
  }

  #openSession(stream: HeartbeatStream): HeartbeatStreamHandler {
    const session: HeartbeatSession = { stream, brokerId: -1, brokerEpoch: -1 };
    this.#sessions.add(session);
    return {
      onHeartbeat: (request) => this.#onHeartbeat(session, request),
      onClose: (reason) => this.#onStreamClosed(session, reason),
    };
  }

  #onHeartbeat(session: HeartbeatSession, request: HeartbeatWireRequest): void {
    if (this.#closed) return;
    if (!this.engine.isActive) {
      this.#dropSession(session);
      session.stream.fail(this.#notController());
      return;
    }
    if (session.brokerId === -1) {
      session.brokerId = request.brokerId;
      const previous = this.#streamOf.get(request.brokerId);
      this.#streamOf.set(request.brokerId, session);
      if (previous && previous !== session) {
        // The broker reconnected: its old stream no longer speaks for it.
        this.#dropSession(previous);
        previous.stream.fail(
          new RaftkaError('INVALID_REQUEST', `superseded by a newer heartbeat stream of broker ${request.brokerId}`),
        );
      }
    } else if (session.brokerId !== request.brokerId) {
      this.#dropSession(session);
      session.stream.fail(
        new RaftkaError('INVALID_REQUEST', `a heartbeat stream carries one broker (${session.brokerId})`),
      );
      return;
    }
    session.brokerEpoch = request.brokerEpoch;
    const sequence = request.sequence;
    this.engine.brokerHeartbeat(request, driverNowMs(), (outcome) => {
      if (outcome.ok) {
        session.stream.send({ ...outcome.response, error: null, sequence });
      } else if (outcome.error.errorName === 'NOT_CONTROLLER') {
        this.#dropSession(session);
        session.stream.fail(this.#notController(outcome.error.message));
      } else {
        session.stream.send({
          isCaughtUp: false,
          isFenced: true,
          shouldShutDown: false,
          error: outcome.error,
          sequence,
        });
      }
    });
    this.#afterEngineCall();
  }

  #onStreamClosed(session: HeartbeatSession, reason: string): void {
    const current = session.brokerId >= 0 && this.#streamOf.get(session.brokerId) === session;
    this.#dropSession(session);
    if (!current || this.#closed || !this.engine.isActive) return;
    const { brokerId, brokerEpoch } = session;
    this.metrics.brokerConnectionsLost.inc();
    const startMs = driverNowMs();
    const proposedBefore = this.#raftDriver().raft.logEndOffset;
    this.engine.brokerConnectionLost(brokerId, brokerEpoch, startMs, (outcome) => {
      if (!outcome.ok) this.#log.warn({ brokerId, error: outcome.error }, 'fencing after a lost connection failed');
      else this.#log.info({ brokerId, committedAfterMs: Math.round(driverNowMs() - startMs) }, 'fence committed');
    });
    this.#afterEngineCall();
    this.#log.info(
      {
        brokerId,
        brokerEpoch,
        reason,
        records: this.#raftDriver().raft.logEndOffset - proposedBefore,
        decideMs: Math.round(driverNowMs() - startMs),
      },
      'heartbeat stream closed; fenced the broker',
    );
  }

  #dropSession(session: HeartbeatSession): void {
    this.#sessions.delete(session);
    if (session.brokerId >= 0 && this.#streamOf.get(session.brokerId) === session) {
      this.#streamOf.delete(session.brokerId);
    }
  }

  #endStreams(error: () => RaftkaError): void {
    if (this.#sessions.size === 0) return;
    const err = error();
    for (const session of [...this.#sessions]) {
      this.#dropSession(session);
      session.stream.fail(err);
    }
  }

  // --- Admin -------------------------------------------------------------------------------

  /** Runs `local` on the active controller, else forwards to it (once). */
  async #admin<T>(
    ctx: AdminCallContext,
    local: () => Promise<T> | T,
    forward: (client: AdminClient) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) throw new RaftkaError('SHUTTING_DOWN', `controller ${this.#options.nodeId} is shutting down`);
    if (this.engine.isActive) return local();
    const driver = this.#raftDriver();
    const leaderId = driver.raft.leaderId;
    const endpoint = leaderId >= 0 && leaderId !== this.#options.nodeId ? driver.endpointOf(leaderId) : undefined;
    if (ctx.forwarded || endpoint === undefined) throw this.#notController();
    return forward(this.#forwardClient(endpoint));
  }

  #forwardClient(endpoint: string): AdminClient {
    let client = this.#forwardClients.get(endpoint);
    if (!client) {
      client = new AdminClient({
        clusterId: this.#options.clusterId,
        bootstrapEndpoints: [endpoint],
        forwarded: true,
        retryTimeoutMs: FORWARD_RETRY_TIMEOUT_MS,
      });
      this.#forwardClients.set(endpoint, client);
    }
    return client;
  }

  #adminHandlers(): AdminHandlers {
    return {
      createTopics: (topics, ctx) =>
        this.#admin(
          ctx,
          () => this.#engineCall((now, done) => this.engine.createTopics(topics, now, done)),
          (c) => c.createTopics(topics),
        ),
      deleteTopics: (names, ctx) =>
        this.#admin(
          ctx,
          () => this.#engineCall((now, done) => this.engine.deleteTopics(names, now, done)),
          (c) => c.deleteTopics(names),
        ),
      createPartitions: (topics, ctx) =>
        this.#admin(
          ctx,
          () => this.#engineCall((now, done) => this.engine.createPartitions(topics, now, done)),
          (c) => c.createPartitions(topics),
        ),
      describeTopics: (names, ctx) =>
        this.#admin(
          ctx,
          () => describeTopics(this.engine.committedImage, names),
          (c) => c.describeTopics(names),
        ),
      listTopics: (ctx) =>
        this.#admin(
          ctx,
          () =>
            [...this.engine.committedImage.topicIdsByName.entries()]
              .map(([name, topicId]) => ({ name, topicId }))
              .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
          (c) => c.listTopics(),
        ),
      describeConfigs: (resources, ctx) =>
        this.#admin(
          ctx,
          () => describeConfigs(this.engine.committedImage, resources),
          (c) => c.describeConfigs(resources),
        ),
      alterConfigs: (resources, validateOnly, ctx) =>
        this.#admin(
          ctx,
          () =>
            this.#engineCall((now, done) => this.engine.incrementalAlterConfigs(resources, validateOnly, now, done)),
          (c) => c.alterConfigs(resources, validateOnly),
        ),
      electLeaders: (request, ctx) =>
        this.#admin(
          ctx,
          () => this.#engineCall((now, done) => this.engine.electLeaders(request, now, done)),
          (c) => c.electLeaders(request),
        ),
      describeCluster: (ctx) =>
        this.#admin(
          ctx,
          () => this.#describeCluster(),
          (c) => c.describeCluster(),
        ),
    };
  }

  #describeCluster(): ClusterDescription {
    const driver = this.#raftDriver();
    const quorum = driver.describeQuorum();
    const leaderEndOffset = driver.raft.logEndOffset;
    // Registrations as committed (what every node agrees on); contact and
    // offset from this active controller's soft state.
    const image = this.engine.committedImage;
    const brokers = [...image.brokers.values()]
      .sort((a, b) => a.brokerId - b.brokerId)
      .map((b) => {
        const hb = this.engine.controller.heartbeatState(b.brokerId);
        const state: 'fenced' | 'unfenced' | 'controlled-shutdown' = b.fenced
          ? 'fenced'
          : b.inControlledShutdown
            ? 'controlled-shutdown'
            : 'unfenced';
        return {
          brokerId: b.brokerId,
          state,
          rack: b.rack,
          brokerEpoch: b.brokerEpoch,
          incarnationId: b.incarnationId,
          endpoints: b.listeners,
          lastContactMs: hb === undefined || !Number.isFinite(hb.lastContactMs) ? null : hb.lastContactMs,
          metadataOffset: hb?.metadataOffset ?? -1,
        };
      });
    const controllers = this.#options.voters.map((v) => {
      const self = v.nodeId === this.#options.nodeId;
      const replica = quorum.voters.find((r) => r.nodeId === v.nodeId);
      const logEndOffset = self ? leaderEndOffset : (replica?.logEndOffset ?? -1);
      return {
        nodeId: v.nodeId,
        host: v.host,
        port: v.port,
        leader: self,
        logEndOffset,
        lag: logEndOffset < 0 ? -1 : Math.max(0, leaderEndOffset - logEndOffset),
        lastCaughtUpTimeMs: self ? driverNowMs() : Math.max(0, replica?.lastCaughtUpTimeMs ?? 0),
      };
    });
    return {
      clusterId: this.#options.clusterId,
      controllerId: this.#options.nodeId,
      epoch: quorum.epoch,
      highWatermark: quorum.highWatermark,
      brokers,
      controllers,
    };
  }
}
