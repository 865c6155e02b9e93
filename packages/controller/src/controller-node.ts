// The controller node: one voter of the metadata quorum as a process
// component. The Raft loop itself is the RaftDriver (raft-driver.ts); this
// file adds what makes the voter a controller: the state machine committed
// entries are applied to, the client-facing services and the /metrics
// endpoint.
//
// Two state machines (controller.state.machine):
// - `metadata` (the default): the control plane (control-plane.ts), the
//   metadata image driven by ControllerEngine, with the BrokerLifecycle and
//   Admin services. The Quorum service then answers DescribeQuorum and
//   ReadCommitted but refuses raw Appends, which would put bytes into the
//   metadata log that are no metadata record.
// - `kv`: the key-value test machine, whose records the Quorum service's
//   Append writes; the quorum tests and `raftka bench quorum` use it.
import { randomInt } from 'node:crypto';
import { SeededRandom } from '@raftka/common';
import { type MetricsServer, startMetricsServer } from '@raftka/observability';
import type { NodeId, QuorumDescription, RaftRole } from '@raftka/raft';
import type { ReadCommittedResult } from '@raftka/transport';
import { ControlPlane } from './control-plane.js';
import { RaftMetrics } from './metrics.js';
import { RaftDriver, type RaftDriverConfig, type VoterEndpoint } from './raft-driver.js';
import { KeyValueStateMachine, type StateMachine } from './state-machine.js';

export interface ControllerNodeConfig {
  nodeId: NodeId;
  /** Every RPC carries it; other clusters are refused. */
  clusterId: string;
  /** controller.quorum.voters: "1@127.0.0.1:19091,2@...,3@..." */
  voters: VoterEndpoint[];
  /** Where this node's gRPC server listens. */
  listenHost: string;
  listenPort: number;
  /** metadata.log.dir: the level database lives under it. */
  metadataLogDir: string;
  /** prom-client /metrics over HTTP; null = off (0 = ephemeral). */
  metricsPort: number | null;
  /** Timeouts etc.; Kafka key names map onto these. */
  raft: RaftDriverConfig['raft'];
  /** controller.quorum.append.linger.ms, default 25. */
  appendLingerMs: number;
  /** metadata.log.max.record.bytes.between.snapshots, default 20 MiB. */
  snapshotMaxBytesBetween: number;
  /** From @raftka/observability (pino child with nodeId, role). */
  logger: RaftDriverConfig['logger'];
  /**
   * Called when the node cannot go on (a storage write failed, an assertion
   * tripped). Default: rethrow on the next tick, crashing the process so its
   * supervisor restarts it, as Kafka halts on a metadata log IO error.
   */
  onFatalError?: (err: unknown) => void;
  /**
   * controller.state.machine: `metadata` (default) or `kv`. Ignored when a
   * StateMachine is passed to startControllerNode (that one is used).
   */
  stateMachine?: 'metadata' | 'kv';
  /** broker.session.timeout.ms, default 9000. */
  brokerSessionTimeoutMs?: number;
  /** metadata.max.idle.interval.ms, default 500 (0: no NoOp records). */
  maxIdleIntervalMs?: number;
  /** Cluster config defaults (num.partitions ...), written on becoming active where the cluster has none. */
  clusterDefaults?: Readonly<Record<string, string>>;
}

export const DEFAULT_BROKER_SESSION_TIMEOUT_MS = 9000;
export const DEFAULT_METADATA_MAX_IDLE_INTERVAL_MS = 500;

export interface ControllerStatus {
  role: RaftRole;
  epoch: number;
  leaderId: NodeId;
  highWatermark: number;
  logEndOffset: number;
}

export interface ControllerNode {
  readonly nodeId: NodeId;
  /** Actual gRPC port (listenPort may be 0 in tests). */
  readonly port: number;
  readonly metricsPort: number | null;
  status(): ControllerStatus;
  /** Append through this node if it leads; resolves when committed (HW passed it). */
  append(records: Uint8Array[]): Promise<{ epoch: number; firstOffset: number; lastOffset: number }>;
  /** The leader's full view; on other nodes their own epoch, leader and HW with empty replica lists. */
  describeQuorum(): QuorumDescription;
  /** Graceful: resign (EndQuorumEpoch) if leader, flush, close storage, stop server. */
  shutdown(): Promise<void>;
  /** The state machine committed entries are applied to. */
  readonly stateMachine: StateMachine;
  /** Committed data entries from `fromOffset` as this node has them (the Quorum service's ReadCommitted). */
  readCommitted(fromOffset: number, maxEntries: number): Promise<ReadCommittedResult>;
  /** This node's prom-client registry. */
  readonly metrics: RaftMetrics;
  /** The control plane, with controller.state.machine=metadata. */
  readonly controlPlane: ControlPlane | undefined;
}

/**
 * Starts a controller. With `stateMachine` given, committed entries go to it
 * (no control plane); otherwise `config.stateMachine` picks one.
 */
export async function startControllerNode(
  config: ControllerNodeConfig,
  stateMachine?: StateMachine,
): Promise<ControllerNode> {
  const node = new ControllerDriver(config, stateMachine);
  await node.start();
  return node;
}

class ControllerDriver implements ControllerNode {
  readonly nodeId: NodeId;
  readonly stateMachine: StateMachine;
  readonly controlPlane: ControlPlane | undefined;
  readonly #config: ControllerNodeConfig;
  readonly #driver: RaftDriver;
  #metricsServer: MetricsServer | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(config: ControllerNodeConfig, stateMachine: StateMachine | undefined) {
    this.nodeId = config.nodeId;
    this.#config = config;
    const metrics = new RaftMetrics(config.nodeId);
    if (stateMachine === undefined && (config.stateMachine ?? 'metadata') === 'metadata') {
      this.controlPlane = new ControlPlane({
        nodeId: config.nodeId,
        clusterId: config.clusterId,
        voters: config.voters,
        logger: config.logger,
        metrics: metrics.metrics,
        random: new SeededRandom(randomInt(0, 2 ** 31)),
        brokerSessionTimeoutMs: config.brokerSessionTimeoutMs ?? DEFAULT_BROKER_SESSION_TIMEOUT_MS,
        maxIdleIntervalMs: config.maxIdleIntervalMs ?? DEFAULT_METADATA_MAX_IDLE_INTERVAL_MS,
        ...(config.clusterDefaults ? { clusterDefaults: config.clusterDefaults } : {}),
      });
      this.stateMachine = this.controlPlane.stateMachine;
    } else {
      this.stateMachine = stateMachine ?? new KeyValueStateMachine();
    }
    const controlPlane = this.controlPlane;
    this.#driver = new RaftDriver(
      {
        nodeId: config.nodeId,
        clusterId: config.clusterId,
        voters: config.voters,
        metadataLogDir: config.metadataLogDir,
        raft: config.raft,
        snapshotMaxBytesBetween: config.snapshotMaxBytesBetween,
        appendLingerMs: config.appendLingerMs,
        listener: {
          host: config.listenHost,
          port: config.listenPort,
          quorum: controlPlane ? 'read-only' : 'raw-appends',
          ...(controlPlane ? { services: controlPlane.services() } : {}),
        },
        logger: config.logger,
        metrics,
        ...(config.onFatalError ? { onFatalError: config.onFatalError } : {}),
      },
      this.stateMachine,
      controlPlane?.hooks ?? {},
    );
    controlPlane?.attach(this.#driver);
  }

  get metrics(): RaftMetrics {
    return this.#driver.metrics;
  }

  get port(): number {
    return this.#driver.port;
  }

  get metricsPort(): number | null {
    return this.#metricsServer?.port ?? null;
  }

  async start(): Promise<void> {
    const config = this.#config;
    await this.#driver.start();
    try {
      if (config.metricsPort !== null) {
        this.#metricsServer = await startMetricsServer(
          this.metrics.metrics.registry,
          config.metricsPort,
          config.listenHost,
        );
      }
    } catch (err) {
      await this.#driver.shutdown();
      throw err;
    }
    config.logger.info(
      { port: this.port, metricsPort: this.metricsPort, voters: config.voters.map((v) => v.nodeId) },
      'controller started',
    );
  }

  status(): ControllerStatus {
    return this.#driver.status();
  }

  append(records: Uint8Array[]): Promise<{ epoch: number; firstOffset: number; lastOffset: number }> {
    return this.#driver.append(records);
  }

  describeQuorum(): QuorumDescription {
    return this.#driver.describeQuorum();
  }

  readCommitted(fromOffset: number, maxEntries: number): Promise<ReadCommittedResult> {
    return this.#driver.readCommitted(fromOffset, maxEntries);
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#doShutdown();
    return this.#shutdown;
  }

  async #doShutdown(): Promise<void> {
    // Heartbeat streams end with SHUTTING_DOWN first: their brokers move to
    // the next active controller, and are not fenced for it.
    this.controlPlane?.close();
    await this.#driver.shutdown();
    await this.#metricsServer
      ?.close()
      .catch((err: unknown) => this.#config.logger.warn({ err }, 'error while closing'));
    this.#config.logger.info('controller stopped');
  }
}
