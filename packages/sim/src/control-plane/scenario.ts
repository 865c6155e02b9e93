// The `control-plane` scenario and the broker-failover measurement.
//
// Scenario: a cluster of 3 controllers and 3-5 brokers (from the seed) comes
// up, the brokers register and are unfenced, the client creates the topics;
// then, for the fault phase, random faults every 0.2-1.5 s: broker crashes
// (their connections close, so the controller fences at once) and restarts,
// controlled shutdowns with a rolling restart, pauses of any process (some
// longer than the session timeout), silent partitions between a broker and
// the controllers, the active controller crashing or being cut off
// (failover), and stretches of a lossy, duplicating, slow network. The
// invariants run after every event; at the end everything is healed and the
// cluster must converge (see ControlPlaneCluster.notConverged).

import { SeededRandom } from '@raftka/common';
import type { NodeId } from '@raftka/raft';
import { RELIABLE_NETWORK } from '../network.js';
import type { SeedResult, SimulationOptions } from '../runner.js';
import { SimulationFailure } from '../world.js';
import { ControlPlaneCluster, DEFAULT_CONTROL_PLANE_OPTIONS } from './cluster.js';

export const CONTROL_PLANE_SCENARIO = 'control-plane';
export const DEFAULT_CONTROL_PLANE_FAULT_MS = 15_000;
const SETUP_TIMEOUT_MS = 30_000;
const LIVENESS_TIMEOUT_MS = 60_000;

interface ActivePartition {
  untilMs: number;
  apply: () => void;
}

/** Faults whose end is scheduled; partitions are re-applied after each heal of the network. */
class FaultSchedule {
  readonly #cluster: ControlPlaneCluster;
  readonly #partitions: ActivePartition[] = [];

  constructor(cluster: ControlPlaneCluster) {
    this.#cluster = cluster;
  }

  partition(durationMs: number, label: string, apply: () => void): void {
    const cluster = this.#cluster;
    const entry = { untilMs: cluster.nowMs + durationMs, apply };
    this.#partitions.push(entry);
    cluster.world.record(`partition ${label} for ${durationMs}ms`, 23, 0, 0);
    apply();
    cluster.world.at(entry.untilMs, `unpartition ${label}`, () => {
      this.#partitions.splice(this.#partitions.indexOf(entry), 1);
      cluster.world.network.heal();
      for (const p of this.#partitions) p.apply();
    });
  }
}

function setUp(cluster: ControlPlaneCluster): void {
  const ok = cluster.world.runUntil(() => cluster.notConverged() === null, cluster.nowMs + SETUP_TIMEOUT_MS);
  if (!ok) cluster.world.fail('Scenario', `setup: ${cluster.notConverged()} after ${SETUP_TIMEOUT_MS}ms`);
}

function injectFault(cluster: ControlPlaneCluster, schedule: FaultSchedule, random: SeededRandom): void {
  const { world } = cluster;
  const brokerIds = cluster.brokers.map((b) => b.nodeId);
  const controllerIds = cluster.voterIds;
  const upBroker = () => {
    const up = cluster.brokers.filter((b) => b.up && !b.paused);
    return up.length === 0 ? undefined : random.pick(up).nodeId;
  };
  const kind = random.int(0, 100);
  if (kind < 25) {
    const id = upBroker();
    if (id === undefined) return;
    cluster.crash(id);
    world.at(cluster.nowMs + random.int(100, 6000), `restart ${id}`, () => cluster.restart(id));
  } else if (kind < 40) {
    const id = upBroker();
    if (id !== undefined) cluster.controlledShutdown(id);
  } else if (kind < 55) {
    const running = cluster.processes.filter((p) => p.up && !p.paused);
    if (running.length === 0) return;
    const id = random.pick(running).nodeId;
    // Some pauses outlast the broker session timeout (9 s), so the controller fences the sleeper.
    const durationMs = random.chance(0.3) ? random.int(9000, 12_000) : random.int(200, 4000);
    cluster.pause(id);
    world.at(cluster.nowMs + durationMs, `resume ${id}`, () => cluster.resume(id));
  } else if (kind < 70) {
    const id = upBroker();
    if (id === undefined) return;
    const durationMs = random.chance(0.4) ? random.int(9000, 12_000) : random.int(500, 5000);
    schedule.partition(durationMs, `${id}|controllers`, () => world.network.partition([[id], controllerIds]));
  } else if (kind < 80) {
    const active = cluster.activeController();
    if (active === undefined) return;
    const id = active.nodeId;
    cluster.crash(id);
    world.at(cluster.nowMs + random.int(200, 5000), `restart ${id}`, () => cluster.restart(id));
  } else if (kind < 88) {
    const active = cluster.activeController();
    if (active === undefined) return;
    const id = active.nodeId;
    const others = [...controllerIds.filter((c) => c !== id), ...brokerIds];
    schedule.partition(random.int(1000, 8000), `${id}|all`, () => world.network.partition([[id], others]));
  } else if (kind < 94) {
    const id = upBroker();
    const controller = random.pick(controllerIds);
    if (id === undefined) return;
    // One way: the broker hears the controller, the controller does not hear the broker.
    schedule.partition(random.int(1000, 10_000), `${id}>${controller}`, () =>
      world.network.blockOneWay(id as NodeId, controller),
    );
  } else {
    world.network.faults = {
      dropProbability: random.next() * 0.1,
      duplicateProbability: random.next() * 0.05,
      delayMinMs: 1,
      delayMaxMs: random.int(5, 40),
      slowProbability: random.next() * 0.05,
      slowDelayMaxMs: random.int(0, 1000),
    };
    world.at(cluster.nowMs + random.int(1000, 5000), 'network reliable', () => {
      world.network.faults = { ...RELIABLE_NETWORK };
    });
  }
}

/** The fault phase, after a clean setup. */
export function runControlPlaneFaults(cluster: ControlPlaneCluster, durationMs: number): void {
  setUp(cluster);
  const random = cluster.random.fork();
  const schedule = new FaultSchedule(cluster);
  const endMs = cluster.nowMs + durationMs;
  for (let steps = 0; cluster.nowMs < endMs && steps < 1000; steps++) {
    cluster.world.runFor(random.int(200, 1500));
    if (cluster.nowMs >= endMs) break;
    injectFault(cluster, schedule, random);
  }
}

export interface ControlPlaneSeedOptions extends SimulationOptions {
  /** Substitute QuorumController (the checker tests' mutants). */
  createController?: (typeof DEFAULT_CONTROL_PLANE_OPTIONS)['createController'];
}

export function controlPlaneReplayCommand(seed: number, options: SimulationOptions): string {
  const parts = ['pnpm raftka sim', `--seed ${seed}`, `--scenario ${CONTROL_PLANE_SCENARIO}`];
  if (options.voters !== undefined) parts.push(`--voters ${options.voters}`);
  if (options.observers !== undefined) parts.push(`--observers ${options.observers}`);
  if (options.maxSimTimeMs !== undefined) parts.push(`--max-sim-time-ms ${options.maxSimTimeMs}`);
  parts.push('--trace');
  return parts.join(' ');
}

/** One seed of the control-plane scenario; never throws for a failure of the system under test. */
export function runControlPlaneSeed(seed: number, options: ControlPlaneSeedOptions = {}): SeedResult {
  const shape = new SeededRandom(seed ^ 0xc0de);
  // Every draw happens whatever the options say, so overriding one knob does not shift the others.
  const seedBrokers = shape.int(3, 6);
  const brokers = options.observers ?? seedBrokers;
  const controllers = options.voters ?? DEFAULT_CONTROL_PLANE_OPTIONS.controllers;
  if (brokers < 3 || controllers < 1) {
    throw new RangeError(`the control-plane scenario needs at least 3 brokers (RF 3 topics) and 1 controller`);
  }
  const cluster = new ControlPlaneCluster({
    ...DEFAULT_CONTROL_PLANE_OPTIONS,
    seed,
    controllers,
    brokers,
    trace: options.trace ?? false,
    // Small fetches (down to a record or two, so commit points fall inside a controller's batch),
    // small snapshot chunks and frequent snapshots: catch-up takes many round trips.
    raft: { fetchMaxBytes: shape.pick([200, 600, 4096, 65_536]), snapshotChunkBytes: 1024 },
    snapshotEveryEntries: shape.int(20, 200),
    ...(options.createController !== undefined && { createController: options.createController }),
  });
  let invariant: string | undefined;
  let failure: string | undefined;
  try {
    runControlPlaneFaults(cluster, options.maxSimTimeMs ?? DEFAULT_CONTROL_PLANE_FAULT_MS);
    cluster.requireLiveness(LIVENESS_TIMEOUT_MS);
  } catch (error) {
    if (error instanceof SimulationFailure) {
      invariant = error.invariant;
      failure = error.message;
    } else {
      invariant = 'Crash';
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      failure = `threw at t=${cluster.nowMs}ms: ${text}${error instanceof Error && error.stack ? `\n${error.stack.split('\n').slice(1, 6).join('\n')}` : ''}`;
    }
  }
  const network = cluster.world.network;
  const active = cluster.activeController();
  const result: SeedResult = {
    seed,
    scenario: CONTROL_PLANE_SCENARIO,
    voters: cluster.voterIds.length,
    observers: brokers,
    ok: failure === undefined,
    replayCommand: controlPlaneReplayCommand(seed, options),
    events: cluster.world.events,
    simTimeMs: cluster.nowMs,
    elections: cluster.controllers.reduce(
      (n, c) => n + (c.up ? c.engine.controller.counters.newActiveControllers : 0),
      0,
    ),
    committedEntries: active?.engine.appliedOffset ?? 0,
    proposals: cluster.controllers.reduce((n, c) => n + c.answered, 0),
    messagesSent: network.sent,
    messagesDropped: network.dropped,
    lostUnsyncedWrites: cluster.processes.reduce((sum, p) => sum + p.disk.lostOps, 0),
    traceHash: cluster.world.traceHash,
  };
  if (invariant !== undefined) result.invariant = invariant;
  if (failure !== undefined) result.failure = failure;
  if (options.trace) result.trace = cluster.world.traceLines;
  return result;
}

// --- Measurement ---------------------------------------------------------------------

export interface BrokerFailoverSample {
  seed: number;
  brokerId: NodeId;
  partitionsLed: number;
  /** From the crash to every partition it led having a new leader in the active controller's committed image. */
  failoverMs: number;
}

/**
 * Crashes the broker that leads the most partitions of a steady cluster
 * (Kafka's default timings, a reliable 1-5 ms network) and measures, in
 * simulated time, how long until every partition it led has a new leader
 * committed. With `connectionClose` the controllers see its connections
 * close (a process crash); without, the broker hangs silently (a pause
 * behind a partition) and only the session timeout fences it.
 */
export function measureBrokerFailover(seed: number, connectionClose: boolean): BrokerFailoverSample {
  const cluster = new ControlPlaneCluster({
    ...DEFAULT_CONTROL_PLANE_OPTIONS,
    seed,
    brokers: 4,
    isrShrinkProbability: 0,
    topics: [{ name: 'measured', numPartitions: 12, replicationFactor: 3 }],
  });
  cluster.restartAfterShutdown = false;
  setUp(cluster);
  // Settle into the steady state: full ISRs, brokers heartbeating on their own schedule.
  cluster.world.runFor(cluster.random.int(2000, 4000));
  const active = cluster.activeController();
  if (active === undefined) return cluster.world.fail('Scenario', 'no active controller in the steady state');
  const image = active.committedImage;
  const ledBy = new Map<NodeId, { topicId: string; partition: number }[]>();
  for (const topic of image.topicsById.values()) {
    topic.partitions.forEach((p, partition) => {
      const list = ledBy.get(p.leader) ?? [];
      list.push({ topicId: topic.topicId, partition });
      ledBy.set(p.leader, list);
    });
  }
  const [brokerId, led] = [...ledBy.entries()].sort((a, b) => b[1].length - a[1].length || a[0] - b[0])[0]!;
  const startMs = cluster.nowMs;
  if (connectionClose) {
    cluster.crash(brokerId);
  } else {
    cluster.pause(brokerId);
    cluster.world.network.partition([
      [brokerId],
      cluster.processes.map((p) => p.nodeId).filter((id) => id !== brokerId),
    ]);
  }
  const moved = () => {
    const now = cluster.activeController()?.committedImage;
    if (now === undefined) return false;
    return led.every(({ topicId, partition }) => {
      const leader = now.partition(topicId, partition)?.leader ?? -1;
      return leader !== -1 && leader !== brokerId;
    });
  };
  if (!cluster.world.runUntil(moved, startMs + 60_000)) {
    cluster.world.fail('Scenario', `partitions of broker ${brokerId} still without a new leader after 60 s`);
  }
  return { seed, brokerId, partitionsLed: led.length, failoverMs: cluster.nowMs - startMs };
}

export interface ControllerFailoverSample {
  seed: number;
  /** From the active controller's crash to another controller being active (its leader-change committed and applied). */
  activationMs: number;
  /** From the crash to the first broker heartbeat answered by the new active controller. */
  firstHeartbeatMs: number;
}

/**
 * Crashes the active controller of a steady cluster (default timings, a
 * reliable network, connections close) and measures, in simulated time, how
 * long until a new controller is active and until it has answered a broker.
 */
export function measureControllerFailover(seed: number): ControllerFailoverSample {
  const cluster = new ControlPlaneCluster({
    ...DEFAULT_CONTROL_PLANE_OPTIONS,
    seed,
    brokers: 3,
    isrShrinkProbability: 0,
  });
  setUp(cluster);
  cluster.world.runFor(cluster.random.int(2000, 4000));
  const old = cluster.activeController();
  if (old === undefined) return cluster.world.fail('Scenario', 'no active controller in the steady state');
  const answeredBefore = new Map(cluster.controllers.map((c) => [c.nodeId, c.answered]));
  const startMs = cluster.nowMs;
  cluster.crash(old.nodeId);
  const successor = () => {
    const active = cluster.activeController();
    return active !== undefined && active.nodeId !== old.nodeId ? active : undefined;
  };
  if (!cluster.world.runUntil(() => successor() !== undefined, startMs + 60_000)) {
    cluster.world.fail('Scenario', 'no new active controller within 60 s');
  }
  const activationMs = cluster.nowMs - startMs;
  const next = successor()!;
  const answered = () => next.up && next.answered > (answeredBefore.get(next.nodeId) ?? 0);
  if (!cluster.world.runUntil(answered, startMs + 60_000)) {
    cluster.world.fail('Scenario', 'the new active controller answered nothing within 60 s');
  }
  return { seed, activationMs, firstHeartbeatMs: cluster.nowMs - startMs };
}
