// A node with process.roles=broker,controller: one process, one Raft voter,
// both roles. The controller part is the controller package's ControlPlane
// (engine, BrokerLifecycle and Admin services) on the CONTROLLER listener; the
// broker part is a BrokerDriver in `shared` mode on the PLAINTEXT listener. Both
// apply the same committed entries from the one voter RaftDriver: its state
// machine hands each Ready's entries to the controller's machine, then to the
// broker's. The broker part registers with the active controller over gRPC,
// like any broker, even when that controller is this process.
//
// Shutdown runs the broker's controlled shutdown first (it needs an active
// controller, possibly this one), then resigns and stops the voter.
import { randomInt } from 'node:crypto';
import { RaftkaError, SeededRandom } from '@raftka/common';
import {
  ControlPlane,
  DEFAULT_METADATA_MAX_IDLE_INTERVAL_MS,
  RaftDriver,
  RaftMetrics,
  type StateMachine,
  type VoterEndpoint,
} from '@raftka/controller';
import type { LogEntry, Snapshot } from '@raftka/raft';
import { BrokerDriver, type BrokerNode, type BrokerNodeConfig } from './broker-node.js';
import type { BrokerMetadataStateMachine } from './metadata-publisher.js';

export interface CombinedNodeConfig extends BrokerNodeConfig {
  /** The CONTROLLER listener (the voter's endpoint in controller.quorum.voters by default). */
  controllerHost: string;
  controllerPort: number;
  /** controller.quorum.append.linger.ms */
  appendLingerMs: number;
  /** metadata.max.idle.interval.ms */
  maxIdleIntervalMs?: number;
  /** Cluster config defaults the active controller writes where the cluster has none. */
  clusterDefaults?: Readonly<Record<string, string>>;
}

export interface CombinedNode {
  readonly nodeId: number;
  readonly broker: BrokerNode;
  readonly controlPlane: ControlPlane;
  readonly raft: RaftDriver;
  /** Controlled shutdown of the broker part, then the voter resigns and stops. */
  shutdown(): Promise<{ controlled: boolean }>;
}

/** Committed entries to the controller's machine, then to the broker's; snapshots are the controller's. */
class CombinedStateMachine implements StateMachine {
  readonly #controller: StateMachine;
  readonly #broker: BrokerMetadataStateMachine;

  constructor(controller: StateMachine, broker: BrokerMetadataStateMachine) {
    this.#controller = controller;
    this.#broker = broker;
  }

  get appliedOffset(): number {
    return this.#controller.appliedOffset;
  }

  apply(entries: readonly LogEntry[]): void {
    this.#controller.apply(entries);
    this.#broker.apply(entries);
  }

  snapshot(): Uint8Array {
    return this.#controller.snapshot();
  }

  restore(snapshot: Snapshot): void {
    this.#controller.restore(snapshot);
    // Both read the image format the controller snapshots.
    this.#broker.restore(snapshot);
  }
}

export async function startCombinedNode(config: CombinedNodeConfig): Promise<CombinedNode> {
  if (!config.voters.some((v: VoterEndpoint) => v.nodeId === config.nodeId)) {
    throw new RaftkaError('INVALID_CONFIG', `node ${config.nodeId} runs a controller but is not a voter`);
  }
  const metrics = new RaftMetrics(config.nodeId);
  const controlPlane = new ControlPlane({
    nodeId: config.nodeId,
    clusterId: config.clusterId,
    voters: config.voters,
    logger: config.logger,
    metrics: metrics.metrics,
    random: new SeededRandom(randomInt(0, 2 ** 31)),
    brokerSessionTimeoutMs: config.sessionTimeoutMs,
    maxIdleIntervalMs: config.maxIdleIntervalMs ?? DEFAULT_METADATA_MAX_IDLE_INTERVAL_MS,
    ...(config.clusterDefaults ? { clusterDefaults: config.clusterDefaults } : {}),
  });
  const broker = new BrokerDriver(config, 'shared');
  const cpHooks = controlPlane.hooks;
  const brokerHooks = broker.hooks;
  const driver: RaftDriver = new RaftDriver(
    {
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      voters: config.voters,
      metadataLogDir: config.metadataLogDir,
      raft: config.raft,
      snapshotMaxBytesBetween: config.snapshotMaxBytesBetween,
      appendLingerMs: config.appendLingerMs,
      listener: {
        host: config.controllerHost,
        port: config.controllerPort,
        quorum: 'read-only',
        services: controlPlane.services(),
      },
      logger: config.logger,
      metrics,
      ...(config.onFatalError ? { onFatalError: config.onFatalError } : {}),
    },
    new CombinedStateMachine(controlPlane.stateMachine, broker.metadata),
    {
      onRoleChange: (change) => {
        cpHooks.onRoleChange?.(change);
        brokerHooks.onRoleChange?.(change);
      },
      onIdle: () => {
        cpHooks.onIdle?.();
        brokerHooks.onIdle?.();
      },
    },
  );
  controlPlane.attach(driver);
  broker.attach(driver);
  await driver.start();
  try {
    await broker.start();
  } catch (err) {
    controlPlane.close();
    await driver.shutdown();
    throw err;
  }
  let stopping: Promise<{ controlled: boolean }> | undefined;
  return {
    nodeId: config.nodeId,
    broker,
    controlPlane,
    raft: driver,
    shutdown() {
      stopping ??= (async () => {
        const result = await broker.shutdown();
        // Heartbeat streams end with SHUTTING_DOWN first: their brokers move to the next active controller.
        controlPlane.close();
        await driver.shutdown();
        return result;
      })();
      return stopping;
    },
  };
}
