// A simulated control plane: controllers (Raft voters running the real
// ControllerEngine and QuorumController), brokers (Raft observers with the
// KIP-631 lifecycle) and an admin client, in one World. It offers the faults
// the scenarios use (crash, restart, pause, controlled shutdown, partitions
// between brokers and controllers, a lossy network), runs the control-plane
// invariants after every event, and checks liveness after healing: an active
// controller, every broker registered and unfenced, every topic created,
// every partition led, and every node at the active controller's image.

import { assert, type SeededRandom } from '@raftka/common';
import type { CreatableTopic, QuorumController, QuorumControllerOptions } from '@raftka/metadata';
import { DEFAULT_RAFT_CONFIG, type NodeId, type RaftConfig } from '@raftka/raft';
import { describeRaftMessage } from '../cluster.js';
import { type NetworkFaults, RELIABLE_NETWORK } from '../network.js';
import { type SimMessage, World } from '../world.js';
import { AdminClient, type AdminOp } from './admin-client.js';
import { BrokerProcess } from './broker-process.js';
import { ControllerProcess } from './controller-process.js';
import { type ControlPlaneInvariant, ControlPlaneInvariants } from './invariants.js';
import { type ControlPlaneMessage, describeControlPlaneMessage, isRaftMessage } from './messages.js';
import type { RaftProcess } from './raft-process.js';

export interface ControlPlaneOptions {
  seed: number;
  controllers: number;
  brokers: number;
  trace: boolean;
  /** Raft settings for controllers and broker observers (Kafka's defaults unless overridden). */
  raft: Partial<Omit<RaftConfig, 'nodeId' | 'voters'>>;
  snapshotEveryEntries: number;
  brokerSessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  isrShrinkProbability: number;
  eventsMax: number;
  /** Cluster configs the admin client sets first. */
  clusterConfigs: Readonly<Record<string, string>>;
  topics: readonly CreatableTopic[];
  /** unclean.leader.election.interval.ms */
  uncleanLeaderElectionIntervalMs: number;
  /** Substitute QuorumController (mutants in the checker tests). */
  createController?: (options: QuorumControllerOptions) => QuorumController;
}

export const FIRST_BROKER_ID = 101;
export const CLIENT_ID = 1000;

export const DEFAULT_CONTROL_PLANE_OPTIONS: Omit<ControlPlaneOptions, 'seed'> = {
  controllers: 3,
  brokers: 4,
  trace: false,
  raft: {},
  snapshotEveryEntries: 200,
  brokerSessionTimeoutMs: 9000,
  heartbeatIntervalMs: 2000,
  isrShrinkProbability: 0.02,
  eventsMax: 1_000_000,
  // Preferred-leader rebalancing every 5 s instead of 300 s, so it runs during the faults.
  clusterConfigs: { 'leader.imbalance.check.interval.seconds': '5' },
  uncleanLeaderElectionIntervalMs: 5000,
  topics: [
    { name: 'orders', numPartitions: 6, replicationFactor: 3 },
    { name: 'payments', numPartitions: 4, replicationFactor: 2 },
    { name: 'audit', numPartitions: 2, replicationFactor: 3, configs: { 'unclean.leader.election.enable': 'true' } },
  ],
};

function describeMessage(message: SimMessage): string {
  return isRaftMessage(message)
    ? describeRaftMessage(message)
    : describeControlPlaneMessage(message as ControlPlaneMessage);
}

export class ControlPlaneCluster {
  readonly world: World;
  readonly random: SeededRandom;
  readonly controllers: ControllerProcess[] = [];
  readonly brokers: BrokerProcess[] = [];
  readonly client: AdminClient;
  readonly invariants: ControlPlaneInvariants;
  readonly options: ControlPlaneOptions;
  readonly voterIds: NodeId[];
  /** Brokers stopped by a controlled shutdown, restarted after a while (a rolling restart). */
  controlledShutdowns = 0;
  restartAfterShutdown = true;

  constructor(options: ControlPlaneOptions) {
    this.options = options;
    this.world = new World({
      seed: options.seed,
      trace: options.trace,
      eventsMax: options.eventsMax,
      disconnectDelayMaxMs: 10,
      describeMessage,
    });
    this.random = this.world.random.fork();
    this.invariants = new ControlPlaneInvariants((name: ControlPlaneInvariant, detail) =>
      this.world.fail(name, `${detail} (${this.describe()})`),
    );
    this.voterIds = Array.from({ length: options.controllers }, (_, i) => i + 1);
    const nodeRandom = this.world.random.fork();
    const raftConfig = (nodeId: NodeId): RaftConfig => ({
      ...DEFAULT_RAFT_CONFIG,
      ...options.raft,
      nodeId,
      voters: this.voterIds,
    });
    for (const nodeId of this.voterIds) {
      const controller = new ControllerProcess(
        {
          config: raftConfig(nodeId),
          random: nodeRandom.fork(),
          world: this.world,
          snapshotEveryEntries: options.snapshotEveryEntries,
          brokerSessionTimeoutMs: options.brokerSessionTimeoutMs,
          uncleanLeaderElectionIntervalMs: options.uncleanLeaderElectionIntervalMs,
          ...(options.createController !== undefined && { createController: options.createController }),
        },
        0,
      );
      this.controllers.push(controller);
      this.world.addNode(controller);
    }
    for (let i = 0; i < options.brokers; i++) {
      const nodeId = FIRST_BROKER_ID + i;
      const broker = new BrokerProcess(
        {
          config: raftConfig(nodeId),
          random: nodeRandom.fork(),
          world: this.world,
          snapshotEveryEntries: options.snapshotEveryEntries,
          voterIds: this.voterIds,
          heartbeatIntervalMs: options.heartbeatIntervalMs,
          sessionTimeoutMs: options.brokerSessionTimeoutMs,
          retryBackoffMs: 100,
          isrCheckIntervalMs: 500,
          isrShrinkProbability: options.isrShrinkProbability,
          onShutdown: (brokerId) => this.#shutDown(brokerId),
        },
        0,
      );
      this.brokers.push(broker);
      this.world.addNode(broker);
    }
    const configOps = Object.entries(options.clusterConfigs).map(([name, value]) => ({
      name,
      op: 'set' as const,
      value,
    }));
    const ops: AdminOp[] = [
      ...(configOps.length > 0
        ? [
            {
              kind: 'alter-configs' as const,
              resources: [{ resourceType: 'cluster' as const, resourceName: '', ops: configOps }],
            },
          ]
        : []),
      ...options.topics.map((topic) => ({ kind: 'create-topic' as const, topic })),
    ];
    this.client = new AdminClient(CLIENT_ID, this.world, this.voterIds, ops, 0);
    this.client.leaderHint = () => this.activeController()?.nodeId ?? -1;
    this.world.addNode(this.client);
    this.world.addCheck(() => this.invariants.check(this.processes));
    this.world.start();
  }

  get processes(): RaftProcess[] {
    return [...this.controllers, ...this.brokers];
  }

  get nowMs(): number {
    return this.world.nowMs;
  }

  process(nodeId: NodeId): RaftProcess {
    const p = this.processes.find((n) => n.nodeId === nodeId);
    assert(p !== undefined, () => `no process ${nodeId}`);
    return p;
  }

  broker(nodeId: NodeId): BrokerProcess {
    const b = this.brokers.find((n) => n.nodeId === nodeId);
    assert(b !== undefined, () => `no broker ${nodeId}`);
    return b;
  }

  /** The running, unpaused active controller of the highest epoch. */
  activeController(): ControllerProcess | undefined {
    let best: ControllerProcess | undefined;
    for (const c of this.controllers) {
      if (!c.up || c.paused || !c.engine.isActive) continue;
      if (best === undefined || c.engine.activeEpoch > best.engine.activeEpoch) best = c;
    }
    return best;
  }

  // --- Faults -------------------------------------------------------------------------

  crash(nodeId: NodeId): void {
    if (this.process(nodeId).up) this.world.crash(nodeId);
  }

  restart(nodeId: NodeId): void {
    if (!this.process(nodeId).up) this.world.restart(nodeId);
  }

  pause(nodeId: NodeId): void {
    const p = this.process(nodeId);
    if (!p.up || p.paused) return;
    p.pause();
    this.world.record(`pause ${nodeId}`, 20, nodeId, 0);
  }

  resume(nodeId: NodeId): void {
    const p = this.process(nodeId);
    if (!p.up || !p.paused) return;
    this.world.record(`resume ${nodeId}`, 21, nodeId, 0);
    p.resume(this.nowMs);
  }

  controlledShutdown(brokerId: NodeId): void {
    const b = this.broker(brokerId);
    if (!b.up || b.paused) return;
    if (b.beginControlledShutdown(this.nowMs)) this.world.record(`controlled-shutdown ${brokerId}`, 22, brokerId, 0);
  }

  /** The controller said ShouldShutDown: the process syncs, exits, and comes back after a while. */
  #shutDown(brokerId: NodeId): void {
    this.world.at(this.nowMs, `shutdown ${brokerId}`, () => {
      const b = this.broker(brokerId);
      if (!b.up) return;
      this.controlledShutdowns++;
      b.disk.sync();
      this.world.crash(brokerId);
      if (!this.restartAfterShutdown) return;
      this.world.at(this.nowMs + this.random.int(200, 3000), `restart ${brokerId}`, () => this.restart(brokerId));
    });
  }

  healAll(): void {
    this.world.network.heal();
    this.world.network.faults = { ...RELIABLE_NETWORK };
    for (const p of this.processes) {
      if (!p.up) this.world.restart(p.nodeId);
      else if (p.paused) this.resume(p.nodeId);
    }
    this.world.record('heal', 9, 0, 0);
  }

  setNetworkFaults(faults: NetworkFaults): void {
    this.world.network.faults = faults;
  }

  // --- Liveness -----------------------------------------------------------------------

  /** Why the cluster has not converged yet, or null when it has. */
  notConverged(): string | null {
    const active = this.activeController();
    if (active === undefined) return 'no active controller';
    const image = active.committedImage;
    if (!this.client.done) return 'admin operations not all done';
    for (const p of this.processes) {
      if (!p.up || p.paused) return `node ${p.nodeId} is not running`;
    }
    for (const b of this.brokers) {
      const registration = image.broker(b.nodeId);
      if (registration === undefined || registration.fenced || registration.inControlledShutdown) {
        return `broker ${b.nodeId} is not active in the committed image`;
      }
      if (b.lifecycle !== 'registered' || b.fencedByController || registration.brokerEpoch !== b.brokerEpoch) {
        return `broker ${b.nodeId} does not know it is unfenced`;
      }
    }
    for (const topic of image.topicsById.values()) {
      const offline = topic.partitions.findIndex((p) => p.leader === -1);
      if (offline >= 0) return `${topic.name}-${offline} has no leader`;
      // Preferred-leader rebalancing has had its chance (it runs every few seconds here).
      const imbalanced = topic.partitions.findIndex((p) => p.leader !== p.replicas[0]);
      if (imbalanced >= 0) return `${topic.name}-${imbalanced} is not led by its preferred replica`;
    }
    for (const p of this.processes) {
      const other = p.committedMetadataImage();
      if (other === undefined || other.offset !== image.offset) return `node ${p.nodeId} is not at the active image`;
    }
    return null;
  }

  /** Heals everything and requires convergence within `timeoutMs`, else fails "no liveness". */
  requireLiveness(timeoutMs: number): void {
    this.healAll();
    if (this.world.runUntil(() => this.notConverged() === null, this.nowMs + timeoutMs)) return;
    this.world.fail(
      'Liveness',
      `no liveness: ${this.notConverged()} ${timeoutMs}ms after healing (${this.describe()})`,
    );
  }

  describe(): string {
    return [...this.processes, this.client].map((n) => n.describe()).join(', ');
  }
}
