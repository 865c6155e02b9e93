// The controller node: one voter of the metadata quorum as a process
// component. The Raft loop itself is the RaftDriver (raft-driver.ts); this
// file adds what makes the voter a controller: the client-facing Quorum
// service, the /metrics endpoint and the state machine committed entries are
// applied to.
import { type MetricsServer, startMetricsServer } from '@raftka/observability';
import type { NodeId, QuorumDescription, RaftRole } from '@raftka/raft';
import type { DescribeQuorumResult, ReadCommittedResult } from '@raftka/transport';
import type { RaftMetrics } from './metrics.js';
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
}

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
}

export async function startControllerNode(
  config: ControllerNodeConfig,
  stateMachine: StateMachine = new KeyValueStateMachine(),
): Promise<ControllerNode> {
  const node = new ControllerDriver(config, stateMachine);
  await node.start();
  return node;
}

class ControllerDriver implements ControllerNode {
  readonly nodeId: NodeId;
  readonly stateMachine: StateMachine;
  readonly #config: ControllerNodeConfig;
  readonly #driver: RaftDriver;
  #metricsServer: MetricsServer | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(config: ControllerNodeConfig, stateMachine: StateMachine) {
    this.nodeId = config.nodeId;
    this.#config = config;
    this.stateMachine = stateMachine;
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
          quorum: {
            append: (records) => this.append(records),
            describeQuorum: () => this.#describeForClient(),
            readCommitted: (fromOffset, maxEntries) => this.readCommitted(fromOffset, maxEntries),
          },
        },
        logger: config.logger,
        ...(config.onFatalError ? { onFatalError: config.onFatalError } : {}),
      },
      stateMachine,
    );
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

  #describeForClient(): DescribeQuorumResult {
    return { nodeId: this.nodeId, role: this.#driver.raft.role, ...this.describeQuorum() };
  }

  readCommitted(fromOffset: number, maxEntries: number): Promise<ReadCommittedResult> {
    return this.#driver.readCommitted(fromOffset, maxEntries);
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#doShutdown();
    return this.#shutdown;
  }

  async #doShutdown(): Promise<void> {
    await this.#driver.shutdown();
    await this.#metricsServer
      ?.close()
      .catch((err: unknown) => this.#config.logger.warn({ err }, 'error while closing'));
    this.#config.logger.info('controller stopped');
  }
}
