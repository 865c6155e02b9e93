// A simulated controller quorum: N voters and M observers running Raft cores
// in one World, a client that keeps proposing unique values, the invariant
// checkers wired to every event, and the operations scenarios use (crash,
// restart, wipe, partition, resign, heal). The liveness check lives here too:
// once every fault is healed, the quorum must elect a leader and every log and
// state machine must converge within a bounded simulated time.

import { assert, SeededRandom } from '@raftka/common';
import { DEFAULT_RAFT_CONFIG, type NodeId, type RaftConfig, type RaftMessage, RaftNode } from '@raftka/raft';
import { ALL_INVARIANTS, type InvariantName, RaftInvariants } from './invariants.js';
import { RELIABLE_NETWORK } from './network.js';
import { RaftControllerNode, type RaftCoreFactory } from './raft-node.js';
import { encodeRecord } from './state-machine.js';
import { type SimMessage, World } from './world.js';

export interface ClusterOptions {
  seed: number;
  voters: number;
  observers: number;
  trace: boolean;
  createCore: RaftCoreFactory;
  /** Overrides of the simulator's Raft timeouts and sizes. */
  raft: Partial<Omit<RaftConfig, 'nodeId' | 'voters'>>;
  snapshotEveryEntries: number;
  invariants: readonly InvariantName[];
  eventsMax: number;
  /** Mean time between client proposals. */
  clientIntervalMs: number;
  /** Each fsync takes 0..this many ms (uniform); 0 makes persisting instantaneous. */
  fsyncLatencyMaxMs: number;
}

/**
 * Kafka's simulation uses these timeouts (election 1000, backoff max 100); the
 * byte limits are tiny so catch-up takes many fetches and snapshots many chunks.
 */
export const SIM_RAFT_CONFIG: Omit<RaftConfig, 'nodeId' | 'voters'> = {
  ...DEFAULT_RAFT_CONFIG,
  electionTimeoutMs: 1000,
  electionBackoffMaxMs: 100,
  fetchTimeoutMs: 2000,
  requestTimeoutMs: 2000,
  fetchMaxWaitMs: 500,
  fetchMaxBytes: 1024,
  snapshotChunkBytes: 96,
};

export const realRaftCore: RaftCoreFactory = (config, persisted, random, nowMs) =>
  new RaftNode(config, persisted, random, nowMs);

export const DEFAULT_CLUSTER_OPTIONS: Omit<ClusterOptions, 'seed'> = {
  voters: 3,
  observers: 0,
  trace: false,
  createCore: realRaftCore,
  raft: {},
  snapshotEveryEntries: 25,
  invariants: ALL_INVARIANTS,
  eventsMax: 500_000,
  clientIntervalMs: 40,
  fsyncLatencyMaxMs: 0,
};

const KEYS = 16;

export function describeRaftMessage(message: SimMessage): string {
  const m = message as RaftMessage;
  switch (m.type) {
    case 'VoteRequest':
      return `epoch=${m.candidateEpoch} last=${m.lastOffset}@${m.lastOffsetEpoch}${m.preVote ? ' pre' : ''}`;
    case 'VoteResponse':
      return `epoch=${m.epoch} for=${m.candidateEpoch} granted=${m.voteGranted}${m.preVote ? ' pre' : ''}`;
    case 'FetchRequest':
      return `epoch=${m.currentLeaderEpoch} offset=${m.fetchOffset} lastEpoch=${m.lastFetchedEpoch}`;
    case 'FetchResponse':
      return `err=${m.errorCode} epoch=${m.epoch} leader=${m.leaderId} offset=${m.fetchOffset} hw=${m.highWatermark} n=${m.entries.length}${m.divergingEpoch ? ` diverging=${m.divergingEpoch.endOffset}@${m.divergingEpoch.epoch}` : ''}${m.snapshotId ? ` snapshot=${m.snapshotId.endOffset}` : ''}`;
    case 'FetchSnapshotRequest':
      return `snapshot=${m.snapshotId.endOffset} position=${m.position}`;
    case 'FetchSnapshotResponse':
      return `err=${m.errorCode} snapshot=${m.snapshotId.endOffset} position=${m.position}/${m.size}`;
    case 'BeginQuorumEpochRequest':
    case 'EndQuorumEpochRequest':
      return `epoch=${m.leaderEpoch}`;
    default:
      return `epoch=${m.epoch} leader=${m.leaderId}`;
  }
}

export class RaftCluster {
  readonly world: World;
  readonly nodes: RaftControllerNode[] = [];
  readonly voterIds: NodeId[];
  readonly observerIds: NodeId[];
  readonly invariants: RaftInvariants;
  readonly random: SeededRandom;
  readonly proposedValues = new Set<string>();
  #clientRunning = false;
  #clientGeneration = 0;
  #nextValue = 0;
  proposals = 0;
  readonly options: ClusterOptions;

  constructor(options: ClusterOptions) {
    assert(options.voters >= 1, 'a quorum needs a voter');
    this.options = options;
    this.world = new World({
      seed: options.seed,
      trace: options.trace,
      eventsMax: options.eventsMax,
      disconnectDelayMaxMs: 10,
      describeMessage: describeRaftMessage,
    });
    this.random = this.world.random.fork();
    this.voterIds = Array.from({ length: options.voters }, (_, i) => i + 1);
    this.observerIds = Array.from({ length: options.observers }, (_, i) => options.voters + i + 1);
    this.invariants = new RaftInvariants(options.voters, options.invariants, (name, detail) =>
      this.world.fail(name, detail),
    );
    this.invariants.proposedValues = this.proposedValues;
    const nodeRandom = this.world.random.fork();
    // A stream of its own, so that turning fsync latency on shifts no other random choice.
    const fsyncRandom = new SeededRandom((options.seed ^ 0xf5c0_0000) >>> 0);
    const fsyncLatencyMs = (): number =>
      options.fsyncLatencyMaxMs > 0 ? fsyncRandom.int(0, options.fsyncLatencyMaxMs + 1) : 0;
    for (const nodeId of [...this.voterIds, ...this.observerIds]) {
      const config: RaftConfig = { ...SIM_RAFT_CONFIG, ...options.raft, nodeId, voters: this.voterIds };
      const node = new RaftControllerNode(
        {
          config,
          createCore: options.createCore,
          random: nodeRandom.fork(),
          send: (message) => this.world.send(message),
          snapshotEveryEntries: options.snapshotEveryEntries,
          clockSeed: options.seed,
          observer: this.invariants,
          fsyncLatencyMs,
          scheduleAt: (timeMs, label, run) => this.world.at(timeMs, label, run),
        },
        0,
      );
      this.invariants.watch(node);
      this.nodes.push(node);
      this.world.addNode(node);
    }
    this.world.addCheck(() => this.invariants.checkAll());
    this.world.start();
  }

  get allIds(): NodeId[] {
    return this.nodes.map((n) => n.nodeId);
  }

  node(nodeId: NodeId): RaftControllerNode {
    const node = this.nodes.find((n) => n.nodeId === nodeId);
    assert(node !== undefined, () => `no node ${nodeId}`);
    return node;
  }

  get nowMs(): number {
    return this.world.nowMs;
  }

  /** The running leader with the highest epoch, if any. */
  leader(): RaftControllerNode | undefined {
    let best: RaftControllerNode | undefined;
    for (const node of this.nodes) {
      if (!node.up || node.core.role !== 'leader') continue;
      if (best === undefined || node.core.epoch > best.core.epoch) best = node;
    }
    return best;
  }

  /** A leader that every running voter (of `among`, default all) follows in its epoch. */
  stableLeader(among?: readonly NodeId[]): RaftControllerNode | undefined {
    const candidates = among === undefined ? this.nodes : this.nodes.filter((n) => among.includes(n.nodeId));
    let leader: RaftControllerNode | undefined;
    for (const node of candidates) {
      if (!node.up || node.core.role !== 'leader') continue;
      if (leader === undefined || node.core.epoch > leader.core.epoch) leader = node;
    }
    if (leader === undefined) return undefined;
    const { epoch } = leader.core;
    for (const node of candidates) {
      if (!node.up || !node.isVoter) continue;
      if (node.core.epoch !== epoch || node.core.leaderId !== leader.nodeId) return undefined;
    }
    return leader;
  }

  upNodes(): RaftControllerNode[] {
    return this.nodes.filter((n) => n.up);
  }

  downNodes(): RaftControllerNode[] {
    return this.nodes.filter((n) => !n.up);
  }

  crash(nodeId: NodeId): void {
    this.world.crash(nodeId);
  }

  restart(nodeId: NodeId): void {
    this.world.restart(nodeId);
  }

  /** Crash a node and lose its whole disk, then leave it down. */
  crashAndWipe(nodeId: NodeId): void {
    const node = this.node(nodeId);
    if (node.up) this.world.crash(nodeId);
    node.disk.wipe();
    this.world.record(`wipe ${nodeId}`, 7, nodeId, 0);
  }

  resign(nodeId: NodeId): void {
    this.world.record(`resign ${nodeId}`, 8, nodeId, 0);
    this.node(nodeId).resign(this.nowMs);
  }

  // --- The client -------------------------------------------------------------

  startClient(): void {
    if (this.#clientRunning) return;
    this.#clientRunning = true;
    this.#clientGeneration++;
    this.#scheduleClient(this.#clientGeneration);
  }

  stopClient(): void {
    this.#clientRunning = false;
  }

  #scheduleClient(generation: number): void {
    const delayMs = this.random.int(1, 2 * this.options.clientIntervalMs);
    this.world.at(this.nowMs + delayMs, 'client', (nowMs) => {
      if (!this.#clientRunning || generation !== this.#clientGeneration) return;
      this.#propose(nowMs);
      this.#scheduleClient(generation);
    });
  }

  /**
   * Mostly to the newest leader; sometimes to whoever a random node believes
   * leads, which may be a deposed leader still cut off in a minority.
   */
  #propose(nowMs: number): void {
    let target = this.leader();
    const up = this.upNodes();
    if (up.length > 0 && this.random.chance(0.3)) {
      const hint = this.random.pick(up).core.leaderId;
      const hinted = this.nodes.find((n) => n.nodeId === hint);
      if (hinted?.up) target = hinted;
    }
    if (target === undefined) return;
    const value = `v${this.#nextValue++}`;
    this.proposedValues.add(value);
    this.proposals++;
    target.propose([encodeRecord(`k${this.random.int(0, KEYS)}`, value)], nowMs);
  }

  // --- Healing and liveness -------------------------------------------------

  healAll(): void {
    this.world.network.heal();
    this.world.network.faults = { ...RELIABLE_NETWORK };
    for (const node of this.downNodes()) this.restart(node.nodeId);
    this.world.record('heal', 9, 0, 0);
  }

  /** Every node runs, follows one leader, and holds and has applied exactly the leader's committed log. */
  converged(): boolean {
    const leader = this.stableLeader();
    if (leader === undefined) return false;
    const hw = leader.core.highWatermark;
    if (leader.core.logEndOffset !== hw) return false;
    const historyHash = leader.stateMachine.historyHash;
    for (const node of this.nodes) {
      if (!node.up) return false;
      const core = node.core;
      if (core.epoch !== leader.core.epoch || core.leaderId !== leader.nodeId) return false;
      if (core.highWatermark !== hw || core.logEndOffset !== hw) return false;
      if (node.stateMachine.nextOffset !== hw || node.stateMachine.historyHash !== historyHash) return false;
    }
    return true;
  }

  /** Heals everything, stops the client and requires convergence within `timeoutMs`, else fails "no liveness". */
  requireLiveness(timeoutMs: number): void {
    this.stopClient();
    this.healAll();
    const deadlineMs = this.nowMs + timeoutMs;
    if (this.world.runUntil(() => this.converged(), deadlineMs)) return;
    this.world.fail('Liveness', `no liveness: not converged ${timeoutMs}ms after healing (${this.describe()})`);
  }

  /** The network's current faults, for the trace. */
  describeFaults(): string {
    const network = this.world.network;
    const f = network.faults;
    const blocked = network.describePartitions();
    return `drop=${f.dropProbability.toFixed(2)} dup=${f.duplicateProbability.toFixed(2)} delay=${f.delayMinMs}-${f.delayMaxMs}ms slow=${f.slowProbability.toFixed(2)}/${f.slowDelayMaxMs}ms blocked=[${blocked}] down=[${this.downNodes()
      .map((n) => n.nodeId)
      .join(',')}]`;
  }

  describe(): string {
    return this.nodes.map((n) => n.describe()).join(', ');
  }
}
