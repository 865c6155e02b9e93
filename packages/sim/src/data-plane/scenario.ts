// The data-plane simulation: three brokers running the real @raftka/replication
// cores (RF 3, min.insync.replicas=2, 3-6 partitions), a model controller,
// three idempotent acks=all producers and one acks=1 producer, all on the
// seeded network. After setup, a fault phase (20 s by default) injects a fault
// every 0.2-1.2 s: a broker killed (its page cache survives, as after
// SIGKILL) or powered off (unflushed data lost) and restarted 0-3 s later,
// pauses (some longer than the session timeout), silent partitions between
// brokers, between a broker and the controller, or around one broker, and
// stretches of a lossy, duplicating, reordering, slow network. The OS flushes
// each broker's page cache at random points. A power loss is only injected
// while no broker is impaired and every partition of the broker has its full
// ISR, so the schedule stays within RF - min.insync.replicas failures; the
// checker still handles a partition pushed beyond it (see invariants.ts). At
// the end everything heals and the cluster must converge: every partition led,
// full ISR, identical logs, every producer's batches resolved, every
// acknowledged acks=all write on every replica.
import type { SeededRandom } from '@raftka/common';
import { RELIABLE_NETWORK } from '../network.js';
import { SimulationFailure, World } from '../world.js';
import { type BrokerTimings, type DataPlaneMutants, SimBroker } from './broker.js';
import { CONTROLLER_ID, ModelController } from './controller.js';
import { DataPlaneInvariants } from './invariants.js';
import { type DataPlaneMessage, describeDataPlaneMessage } from './messages.js';
import { SimProducer } from './producer.js';

export const DATA_PLANE_SCENARIO = 'data-plane';
export const DEFAULT_DATA_PLANE_FAULT_MS = 20_000;
const SETUP_TIMEOUT_MS = 10_000;
const LIVENESS_TIMEOUT_MS = 60_000;
const BROKER_IDS = [1, 2, 3] as const;
const REPLICATION_FACTOR = 3;
const MIN_INSYNC_REPLICAS = 2;
const TRACE_TAIL_LINES = 400;

/** Kafka's timeouts scaled down; each seed picks one of these (replica lag, fetch wait, session timeout). */
const REPLICA_LAG_TIME_MAX_MS = [300, 1000, 3000] as const;
const FETCH_MAX_WAIT_MS = [20, 200, 500] as const;
const SESSION_TIMEOUT_MS = [1500, 3000, 6000] as const;

export interface DataPlaneSeedOptions {
  trace?: boolean;
  /** Simulated length of the fault phase. */
  faultMs?: number;
  mutants?: DataPlaneMutants;
  /**
   * Power losses at any time, also beyond RF - min.insync.replicas failures. The checker must then
   * excuse exactly the partitions the guarantee no longer covers, and still fail the others.
   */
  unboundedPowerLoss?: boolean;
  /** How much of a failing seed's trace to keep (default 400 lines). */
  traceTailLines?: number;
}

export interface DataPlaneSeedResult {
  seed: number;
  ok: boolean;
  invariant?: string;
  failure?: string;
  replayCommand: string;
  events: number;
  simTimeMs: number;
  traceHash: string;
  trace?: string[];
  partitions: number;
  ackedAllBatches: number;
  ackedOneBatches: number;
  lostAcksOneRecords: number;
  /** Acknowledged acks=all records lost in partitions pushed beyond the guarantee (allowed, as in Kafka). */
  lostBeyondBoundRecords: number;
  elections: number;
  isrChanges: number;
  fencings: number;
  truncations: number;
  kills: number;
  powerLosses: number;
  lostUnflushedRecords: number;
  pauses: number;
  voidedPartitions: number;
  epochBumps: number;
}

export function dataPlaneReplayCommand(seed: number, faultMs?: number): string {
  const extra = faultMs === undefined || faultMs === DEFAULT_DATA_PLANE_FAULT_MS ? '' : ` --max-sim-time-ms ${faultMs}`;
  return `pnpm raftka sim --data-plane --seed ${seed}${extra} --trace`;
}

function assignments(partitions: number): number[][] {
  const ids = [...BROKER_IDS];
  return Array.from({ length: partitions }, (_, p) => {
    const rotated = [...ids.slice(p % 3), ...ids.slice(0, p % 3)];
    // Every other round, the other order of the followers.
    return Math.floor(p / 3) % 2 === 0 ? rotated : [rotated[0]!, rotated[2]!, rotated[1]!];
  });
}

class DataPlaneCluster {
  readonly world: World;
  readonly controller: ModelController;
  readonly brokers: SimBroker[];
  readonly producers: SimProducer[];
  readonly invariants: DataPlaneInvariants;
  readonly random: SeededRandom;
  readonly partitions: number;
  readonly timings: BrokerTimings;
  readonly sessionTimeoutMs: number;
  /** Of the crashes within the bound, the share that are power losses. */
  readonly powerLossShare: number;
  private readonly blocks: { untilMs: number; links: [number, number][] }[] = [];
  kills = 0;
  pauses = 0;

  constructor(seed: number, options: DataPlaneSeedOptions) {
    this.world = new World({
      seed,
      trace: options.trace === true,
      eventsMax: 3_000_000,
      disconnectDelayMaxMs: 10,
      describeMessage: (m) => describeDataPlaneMessage(m as DataPlaneMessage),
    });
    this.random = this.world.random.fork();
    this.partitions = this.random.int(3, 7);
    this.timings = {
      replicaLagTimeMaxMs: this.random.pick(REPLICA_LAG_TIME_MAX_MS),
      heartbeatIntervalMs: 500,
      fetchMaxWaitMs: this.random.pick(FETCH_MAX_WAIT_MS),
      fetchTimeoutMs: 1000,
      alterPartitionTimeoutMs: 1000,
      hwCheckpointIntervalMs: 1000,
    };
    this.sessionTimeoutMs = this.random.pick(SESSION_TIMEOUT_MS);
    this.powerLossShare = this.random.pick([0.4, 0.8]);
    const assignment = assignments(this.partitions);
    const mutants = options.mutants ?? {};
    this.controller = new ModelController(this.world, {
      brokerIds: BROKER_IDS,
      assignments: assignment,
      sessionTimeoutMs: this.sessionTimeoutMs,
      ...(mutants.uncleanElection === true && { uncleanElection: true }),
    });
    this.world.addNode(this.controller);
    const observer = {
      leaderAppend: (b: SimBroker, p: number, batch: Parameters<DataPlaneInvariants['leaderAppend']>[2]) =>
        this.invariants.leaderAppend(b, p, batch),
      followerAppend: (b: SimBroker, p: number, batch: Parameters<DataPlaneInvariants['followerAppend']>[2]) =>
        this.invariants.followerAppend(b, p, batch),
      truncated: (b: SimBroker, p: number, offset: number) => this.invariants.truncated(b, p, offset),
    };
    this.brokers = BROKER_IDS.map(
      (id) =>
        new SimBroker(
          this.world,
          id,
          CONTROLLER_ID,
          assignment,
          MIN_INSYNC_REPLICAS,
          this.timings,
          this.random.fork(),
          observer,
          mutants,
        ),
    );
    for (const b of this.brokers) this.world.addNode(b);
    const all = Array.from({ length: this.partitions }, (_, p) => p);
    const producerRandom = this.random.fork();
    const ackObserver = {
      acknowledged: (...args: Parameters<DataPlaneInvariants['acknowledged']>) => this.invariants.acknowledged(...args),
    };
    this.producers = [0, 1, 2, 3].map((i) => {
      const partitions = i === 0 ? all : all.filter((p) => producerRandom.chance(0.7) || p === i % this.partitions);
      return new SimProducer(
        this.world,
        201 + i,
        {
          producerId: i < 3 ? 5000 + i : -1,
          acks: i < 3 ? -1 : 1,
          partitions,
          controllerId: CONTROLLER_ID,
          intervalMs: [20, 90],
          requestTimeoutMs: 2000,
          brokerTimeoutMs: 1500,
        },
        producerRandom.fork(),
        ackObserver,
      );
    });
    for (const p of this.producers) this.world.addNode(p);
    this.invariants = new DataPlaneInvariants(this.world, this.controller, this.brokers, this.partitions);
    this.world.start();
    this.scheduleFlushes();
  }

  get nowMs(): number {
    return this.world.nowMs;
  }

  /** The OS writes dirty pages back at its own pace: each broker, at random points, some partitions. */
  private scheduleFlushes(): void {
    for (const b of this.brokers) {
      const meanMs = this.random.int(20, 600);
      const next = (): void => {
        this.world.at(this.nowMs + this.random.int(1, 2 * meanMs), `flush ${b.nodeId}`, () => {
          const partitions = Array.from({ length: this.partitions }, (_, p) => p).filter(() => this.random.chance(0.6));
          b.flush(partitions);
          if (!this.stopFlushing) next();
        });
      };
      next();
    }
  }
  stopFlushing = false;

  // --- network partitions ----------------------------------------------------------------

  block(durationMs: number, label: string, links: [number, number][]): void {
    const entry = { untilMs: this.nowMs + durationMs, links };
    this.blocks.push(entry);
    this.world.record(`fault ${label} for ${durationMs}ms`, 44, 0, 0);
    for (const [a, b] of links) this.world.network.blockOneWay(a, b);
    this.world.at(entry.untilMs, `heal ${label}`, () => {
      this.blocks.splice(this.blocks.indexOf(entry), 1);
      this.reapplyBlocks();
    });
  }

  private reapplyBlocks(): void {
    this.world.network.heal();
    for (const e of this.blocks) for (const [a, b] of e.links) this.world.network.blockOneWay(a, b);
  }

  healAll(): void {
    this.blocks.length = 0;
    this.world.network.heal();
    this.world.network.faults = { ...RELIABLE_NETWORK };
  }

  both(a: number, b: number): [number, number][] {
    return [
      [a, b],
      [b, a],
    ];
  }

  // --- convergence -----------------------------------------------------------------------

  notConverged(): string | null {
    for (const b of this.brokers) {
      if (!b.up || b.paused) return `broker ${b.nodeId} down or paused`;
      const reg = this.controller.registration(b.nodeId);
      if (b.brokerEpoch < 0 || reg === undefined || reg.fenced || reg.brokerEpoch !== b.brokerEpoch) {
        return `broker ${b.nodeId} not registered and unfenced`;
      }
    }
    for (let p = 0; p < this.partitions; p++) {
      const reg = this.controller.partitions[p]!;
      if (reg.leader < 0) return `p${p} has no leader`;
      if (reg.isr.length !== REPLICATION_FACTOR) return `p${p} ISR [${reg.isr}]`;
      const leader = this.brokers.find((b) => b.nodeId === reg.leader)!;
      const role = leader.roles[p]!;
      if (role.kind !== 'leader' || role.state.leaderEpoch !== reg.leaderEpoch) return `p${p} leader not acting`;
      const leo = leader.logs[p]!.logEndOffset;
      for (const b of this.brokers) {
        if (b.view[p]?.partitionEpoch !== reg.partitionEpoch) return `broker ${b.nodeId} has old metadata for p${p}`;
        if (b.logs[p]!.logEndOffset !== leo || b.hw[p] !== leo) {
          return `p${p}: broker ${b.nodeId} LEO ${b.logs[p]!.logEndOffset} HW ${b.hw[p]}, leader LEO ${leo}`;
        }
      }
    }
    for (const pr of this.producers) if (pr.unresolved > 0) return `producer ${pr.nodeId} has ${pr.unresolved} batches`;
    return null;
  }

  /** Logs identical on every replica, batch by batch. */
  logsIdentical(): string | null {
    for (let p = 0; p < this.partitions; p++) {
      const [first, ...rest] = this.brokers;
      const a = first!.logs[p]!.allBatches;
      for (const b of rest) {
        const other = b.logs[p]!.allBatches;
        if (other.length !== a.length)
          return `p${p}: ${a.length} batches on ${first!.nodeId}, ${other.length} on ${b.nodeId}`;
        for (let i = 0; i < a.length; i++) {
          const x = a[i]!;
          const y = other[i]!;
          if (x.baseOffset !== y.baseOffset || x.epoch !== y.epoch || x.values.join() !== y.values.join()) {
            return `p${p}: batch ${i} differs between brokers ${first!.nodeId} and ${b.nodeId}`;
          }
        }
      }
    }
    return null;
  }
}

function injectFault(c: DataPlaneCluster, faultEndMs: number, unboundedPowerLoss: boolean): void {
  const { world, random } = c;
  const up = c.brokers.filter((b) => b.up);
  const r = random.next();
  const restartLater = (id: number) => {
    const delayMs = random.chance(0.3) ? random.int(1, 50) : random.int(50, 3000);
    world.at(Math.min(c.nowMs + delayMs, faultEndMs), `restart ${id}`, () => {
      if (!world.node(id).up) world.restart(id);
    });
  };
  if (r < 0.34 && up.length > 0) {
    const b = random.pick(up);
    // Power loss only within the bound: nobody impaired, every partition of the broker fully in sync.
    const withinBound =
      unboundedPowerLoss ||
      (!c.invariants.anyImpaired &&
        c.controller.partitions.every(
          (reg) => !reg.replicas.includes(b.nodeId) || reg.isr.length === REPLICATION_FACTOR,
        ));
    const lossy = random.chance(c.powerLossShare) && withinBound;
    const before = b.logs.map((l) => l.logEndOffset);
    b.nextCrashLosesPageCache = lossy;
    world.record(`fault ${lossy ? 'power loss' : 'kill'} ${b.nodeId}`, 45, b.nodeId, 0);
    world.crash(b.nodeId);
    if (lossy) c.invariants.poweredOff(b, before);
    else c.kills += 1;
    restartLater(b.nodeId);
  } else if (r < 0.48 && up.length > 0) {
    const b = random.pick(up);
    // Some pauses outlast the session timeout: the broker is fenced while frozen.
    const durationMs = random.chance(0.25)
      ? c.sessionTimeoutMs + random.int(500, 2000)
      : random.int(200, Math.min(2000, c.sessionTimeoutMs));
    world.record(`fault pause ${b.nodeId} for ${durationMs}ms`, 46, b.nodeId, 0);
    b.pause(c.nowMs + durationMs);
    c.pauses += 1;
  } else if (r < 0.58) {
    const b = random.pick(c.brokers);
    c.block(random.int(500, 5000), `broker ${b.nodeId} cut from the controller`, c.both(b.nodeId, CONTROLLER_ID));
  } else if (r < 0.7) {
    const [a, b] = [random.pick(c.brokers), random.pick(c.brokers)];
    if (a !== b) {
      const oneWay = random.chance(0.3);
      c.block(
        random.int(300, 4000),
        `${oneWay ? 'one-way ' : ''}${a.nodeId}-${b.nodeId}`,
        oneWay ? [[a.nodeId, b.nodeId]] : c.both(a.nodeId, b.nodeId),
      );
    }
  } else if (r < 0.76) {
    const b = random.pick(c.brokers);
    const others = world.nodes.map((n) => n.nodeId).filter((id) => id !== b.nodeId);
    c.block(
      random.int(300, 4000),
      `broker ${b.nodeId} isolated`,
      others.flatMap((o) => c.both(b.nodeId, o)),
    );
  } else if (r < 0.9) {
    world.network.faults = {
      dropProbability: random.chance(0.5) ? random.next() * 0.1 : 0,
      duplicateProbability: random.chance(0.5) ? random.next() * 0.05 : 0,
      delayMinMs: 1,
      delayMaxMs: random.int(5, 40),
      slowProbability: random.chance(0.4) ? random.next() * 0.05 : 0,
      slowDelayMaxMs: random.int(50, 400),
    };
    world.record(
      `fault network drop=${world.network.faults.dropProbability.toFixed(3)} dup=${world.network.faults.duplicateProbability.toFixed(3)}`,
      47,
      0,
      0,
    );
  } else {
    world.network.faults = { ...RELIABLE_NETWORK };
    world.record('fault network calm', 48, 0, 0);
  }
}

export function runDataPlaneSeed(seed: number, options: DataPlaneSeedOptions = {}): DataPlaneSeedResult {
  const faultMs = options.faultMs ?? DEFAULT_DATA_PLANE_FAULT_MS;
  const c = new DataPlaneCluster(seed, options);
  const { world } = c;
  let failure: SimulationFailure | undefined;
  let crash: unknown;
  let lostAcksOneRecords = 0;
  let lostBeyondBoundRecords = 0;
  try {
    const ready = world.runUntil(
      () =>
        c.controller.partitions.every((p) => p.leader === p.replicas[0]) &&
        c.brokers.every((b) => c.controller.isActive(b.nodeId)),
      SETUP_TIMEOUT_MS,
    );
    if (!ready) world.fail('Liveness', 'setup did not elect leaders');
    const faultEndMs = c.nowMs + faultMs;
    let nextFaultMs = c.nowMs + c.random.int(200, 1200);
    while (c.nowMs < faultEndMs) {
      world.runUntil(() => false, Math.min(nextFaultMs, faultEndMs));
      if (c.nowMs >= nextFaultMs && c.nowMs < faultEndMs) {
        injectFault(c, faultEndMs, options.unboundedPowerLoss === true);
        nextFaultMs = c.nowMs + c.random.int(200, 1200);
      }
    }
    // Heal: no more faults, producers finish what they have, every broker runs.
    world.record('heal everything', 49, 0, 0);
    c.healAll();
    for (const p of c.producers) p.running = false;
    for (const b of c.brokers) {
      if (!b.up) world.restart(b.nodeId);
      else b.wake(c.nowMs);
    }
    const converged = world.runUntil(() => c.notConverged() === null, c.nowMs + LIVENESS_TIMEOUT_MS);
    if (!converged) world.fail('Liveness', `no liveness after healing: ${c.notConverged()}`);
    const different = c.logsIdentical();
    if (different !== null) world.fail('ReplicasAgree', `after healing: ${different}`);
    ({ lostAcksOneRecords, lostBeyondBoundRecords } = c.invariants.finalCheck());
    c.stopFlushing = true;
  } catch (error) {
    if (error instanceof SimulationFailure) failure = error;
    else crash = error;
  }
  const sum = (f: (b: SimBroker) => number) => c.brokers.reduce((n, b) => n + f(b), 0);
  const ok = failure === undefined && crash === undefined;
  const message =
    failure !== undefined
      ? failure.message
      : crash !== undefined
        ? `Crash at t=${world.nowMs}ms: ${crash instanceof Error ? (crash.stack ?? crash.message) : String(crash)}`
        : undefined;
  const state = ok ? '' : `\n  ${[c.controller, ...c.brokers, ...c.producers].map((n) => n.describe()).join('\n  ')}`;
  return {
    seed,
    ok,
    ...(failure !== undefined && { invariant: failure.invariant }),
    ...(crash !== undefined && { invariant: 'Crash' }),
    ...(message !== undefined && { failure: message + state }),
    replayCommand: dataPlaneReplayCommand(seed, options.faultMs),
    events: world.events,
    simTimeMs: world.nowMs,
    traceHash: world.traceHash,
    ...(options.trace === true && {
      trace: ok ? world.traceLines : world.traceLines.slice(-(options.traceTailLines ?? TRACE_TAIL_LINES)),
    }),
    partitions: c.partitions,
    ackedAllBatches: c.invariants.acked.reduce((n, l) => n + l.filter((a) => a.acksAll).length, 0),
    ackedOneBatches: c.invariants.acked.reduce((n, l) => n + l.filter((a) => !a.acksAll).length, 0),
    lostAcksOneRecords,
    lostBeyondBoundRecords,
    elections: c.controller.elections,
    isrChanges: c.controller.isrChanges,
    fencings: c.controller.fencings,
    truncations: sum((b) => b.truncations),
    kills: c.kills,
    powerLosses: c.invariants.powerLosses,
    lostUnflushedRecords: c.invariants.lostRecords,
    pauses: c.pauses,
    voidedPartitions: c.invariants.voidedPartitions,
    epochBumps: c.producers.reduce((n, p) => n + p.epochBumps, 0),
  };
}

export interface DataPlaneSimulationOptions extends DataPlaneSeedOptions {
  seeds?: number;
  firstSeed?: number;
  seed?: number;
  log?: (line: string) => void;
  timeBudgetMs?: number;
  wallClockMs?: () => number;
}

export interface DataPlaneSummary {
  seedsRun: number;
  firstSeed: number;
  lastSeed: number;
  failures: { seed: number; invariant: string; message: string; replayCommand: string }[];
  totals: Omit<DataPlaneSeedResult, 'seed' | 'ok' | 'invariant' | 'failure' | 'replayCommand' | 'traceHash' | 'trace'>;
  stoppedByBudget: boolean;
  results: DataPlaneSeedResult[];
}

const TOTAL_KEYS = [
  'events',
  'simTimeMs',
  'partitions',
  'ackedAllBatches',
  'ackedOneBatches',
  'lostAcksOneRecords',
  'lostBeyondBoundRecords',
  'elections',
  'isrChanges',
  'fencings',
  'truncations',
  'kills',
  'powerLosses',
  'lostUnflushedRecords',
  'pauses',
  'voidedPartitions',
  'epochBumps',
] as const;

/** Runs seeds one after another; `raftka sim --data-plane` calls this. */
export function runDataPlaneSimulation(options: DataPlaneSimulationOptions = {}): DataPlaneSummary {
  const firstSeed = options.seed ?? options.firstSeed ?? 1;
  const count = options.seed !== undefined ? 1 : (options.seeds ?? 1);
  const started = options.wallClockMs?.();
  const results: DataPlaneSeedResult[] = [];
  let stoppedByBudget = false;
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    if (options.timeBudgetMs !== undefined && started !== undefined && options.wallClockMs !== undefined) {
      if (options.wallClockMs() - started > options.timeBudgetMs) {
        stoppedByBudget = true;
        break;
      }
    }
    const result = runDataPlaneSeed(seed, options);
    results.push(result);
    if (options.log !== undefined) {
      if (!result.ok) {
        options.log(`FAIL seed=${seed} ${result.failure}\n  replay: ${result.replayCommand}`);
        if (result.trace !== undefined) for (const line of result.trace) options.log(line);
      } else {
        if (options.seed !== undefined && result.trace !== undefined)
          for (const line of result.trace) options.log(line);
        options.log(
          `seed=${seed} ok partitions=${result.partitions} acked=${result.ackedAllBatches} elections=${result.elections} powerLosses=${result.powerLosses}`,
        );
      }
    }
  }
  const totals = Object.fromEntries(
    TOTAL_KEYS.map((k) => [k, results.reduce((n, r) => n + r[k], 0)]),
  ) as DataPlaneSummary['totals'];
  return {
    seedsRun: results.length,
    firstSeed,
    lastSeed: firstSeed + results.length - 1,
    failures: results
      .filter((r) => !r.ok)
      .map((r) => ({
        seed: r.seed,
        invariant: r.invariant ?? 'Crash',
        message: r.failure ?? '',
        replayCommand: r.replayCommand,
      })),
    totals,
    stoppedByBudget,
    results,
  };
}
