// The entry point the CLI calls (`raftka sim`): runs one scenario over a range
// of seeds, each in a fresh simulated cluster, and summarises. A failing seed
// is reported with the exact command that replays it. The package never reads
// the host clock: a wall-clock budget works only through an injected
// `wallClockMs`, and results depend on nothing but the options and the seed.

import { SeededRandom } from '@raftka/common';
import { DEFAULT_CLUSTER_OPTIONS, RaftCluster } from './cluster.js';
import { CONTROL_PLANE_SCENARIO, runControlPlaneSeed } from './control-plane/scenario.js';
import { ALL_INVARIANTS } from './invariants.js';
import type { RaftCoreFactory } from './raft-node.js';
import { findScenario } from './scenarios.js';
import { SimulationFailure } from './world.js';

export interface SimulationOptions {
  /** How many consecutive seeds to run, from `firstSeed` (default 1). Ignored when `seed` is set. */
  seeds?: number;
  /** Run exactly this seed (a replay). */
  seed?: number;
  firstSeed?: number;
  /** Voters per cluster; the random scenario picks 1 to 5 (mostly 3 and 5) per seed when unset. */
  voters?: number;
  /** Observers per cluster; the random scenario picks 0 to 2 per seed when unset. */
  observers?: number;
  /** One of SCENARIO_NAMES; default 'random'. */
  scenario?: string;
  /** Simulated time of the fault phase of the random scenario. */
  maxSimTimeMs?: number;
  /** Keep a text trace of every event and print it for failing seeds. */
  trace?: boolean;
  /** Stop starting new seeds once this much wall-clock time has passed (needs `wallClockMs`). */
  timeBudgetMs?: number;
  wallClockMs?: () => number;
  log?: (line: string) => void;
  /** Replace the real Raft core (tests feed deliberately broken fakes here). */
  createCore?: RaftCoreFactory;
}

export interface SeedResult {
  seed: number;
  scenario: string;
  voters: number;
  observers: number;
  ok: boolean;
  /** Which invariant broke (or 'Liveness', 'Scenario', 'Crash' for an exception). */
  invariant?: string;
  failure?: string;
  replayCommand: string;
  events: number;
  simTimeMs: number;
  elections: number;
  committedEntries: number;
  proposals: number;
  messagesSent: number;
  messagesDropped: number;
  lostUnsyncedWrites: number;
  traceHash: string;
  trace?: string[];
}

export interface SimulationSummary {
  scenario: string;
  seedsRun: number;
  firstSeed: number;
  lastSeed: number;
  failures: { seed: number; invariant: string; message: string; replayCommand: string }[];
  events: number;
  simTimeMs: number;
  elections: number;
  committedEntries: number;
  /** True when the wall-clock budget ran out before every requested seed ran. */
  stoppedByBudget: boolean;
  results: SeedResult[];
}

/** Fault-phase length of the random scenario by default: enough for several elections, cheap enough for 2000 seeds. */
export const DEFAULT_RANDOM_SIM_TIME_MS = 12_000;
const LIVENESS_TIMEOUT_MS = 30_000;
/** How much of a failing seed's trace is printed: the events leading up to the failure. */
const TRACE_TAIL_LINES = 400;
/** Mostly 3 and 5 voters, as deployed; 1, 2 and 4 for the edges of majority arithmetic (Kafka's simulation uses 1-5). */
const RANDOM_VOTER_COUNTS = [1, 2, 3, 3, 3, 3, 4, 5, 5, 5];

export function replayCommand(
  seed: number,
  scenario: string,
  voters: number,
  observers: number,
  options: SimulationOptions,
): string {
  const parts = [
    'pnpm raftka sim',
    `--seed ${seed}`,
    `--scenario ${scenario}`,
    `--voters ${voters}`,
    `--observers ${observers}`,
  ];
  if (options.maxSimTimeMs !== undefined) parts.push(`--max-sim-time-ms ${options.maxSimTimeMs}`);
  parts.push('--trace');
  return parts.join(' ');
}

/** Runs one seed to completion; never throws for a failure of the system under test. */
export function runSeed(seed: number, options: SimulationOptions = {}): SeedResult {
  const scenarioName = options.scenario ?? 'random';
  if (scenarioName === CONTROL_PLANE_SCENARIO) return runControlPlaneSeed(seed, options);
  // Cluster shape for the random scenario comes from the seed, so a bare `--seed` replays it.
  // Every draw happens whatever the options say, so overriding one knob does not shift the others.
  const shape = new SeededRandom(seed ^ 0x5eed);
  const randomVoters = shape.pick(RANDOM_VOTER_COUNTS);
  const randomObservers = shape.int(0, 3);
  const randomSnapshotEveryEntries = shape.int(3, 60);
  const randomEarlyFetchResponses = shape.chance(0.5);
  const randomSlowFsync = shape.chance(0.5);
  const randomFsyncLatencyMaxMs = shape.int(1, 11);
  const randomPauses = shape.chance(0.5);
  const scenario = findScenario(scenarioName, {
    durationMs: options.maxSimTimeMs ?? DEFAULT_RANDOM_SIM_TIME_MS,
    pauses: randomPauses,
  });
  const isRandom = scenarioName === 'random';
  const voters = scenario.voters ?? options.voters ?? (isRandom ? randomVoters : 3);
  const observers = options.observers ?? (isRandom ? randomObservers : 0);
  const snapshotEveryEntries = isRandom ? randomSnapshotEveryEntries : DEFAULT_CLUSTER_OPTIONS.snapshotEveryEntries;
  // Half the random seeds run the leader with early fetch responses (its fsync overlaps the followers').
  const raft = isRandom && randomEarlyFetchResponses ? { leaderEarlyFetchResponses: true } : {};
  const without = new Set(scenario.withoutInvariants ?? []);
  const cluster = new RaftCluster({
    ...DEFAULT_CLUSTER_OPTIONS,
    seed,
    voters,
    observers,
    snapshotEveryEntries,
    raft,
    // Half the random seeds have fsyncs that take up to 10 ms, during which the driver waits.
    fsyncLatencyMaxMs: isRandom && randomSlowFsync ? randomFsyncLatencyMaxMs : 0,
    trace: options.trace ?? false,
    createCore: options.createCore ?? DEFAULT_CLUSTER_OPTIONS.createCore,
    invariants: ALL_INVARIANTS.filter((name) => !without.has(name)),
  });
  let invariant: string | undefined;
  let failure: string | undefined;
  try {
    scenario.run(cluster);
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
  const result: SeedResult = {
    seed,
    scenario: scenarioName,
    voters,
    observers,
    ok: failure === undefined,
    replayCommand: replayCommand(seed, scenarioName, voters, observers, options),
    events: cluster.world.events,
    simTimeMs: cluster.nowMs,
    elections: cluster.invariants.leaderByEpoch.size,
    committedEntries: cluster.invariants.committedEntries,
    proposals: cluster.proposals,
    messagesSent: network.sent,
    messagesDropped: network.dropped,
    lostUnsyncedWrites: cluster.nodes.reduce((sum, n) => sum + n.disk.lostOps, 0),
    traceHash: cluster.world.traceHash,
  };
  if (invariant !== undefined) result.invariant = invariant;
  if (failure !== undefined) result.failure = failure;
  if (options.trace) result.trace = cluster.world.traceLines;
  return result;
}

/** Runs the requested seeds and summarises; logs each failure with its replay command. */
export function runSimulation(options: SimulationOptions = {}): SimulationSummary {
  const log = options.log ?? (() => {});
  const scenario = options.scenario ?? 'random';
  const firstSeed = options.seed ?? options.firstSeed ?? 1;
  const count = options.seed !== undefined ? 1 : (options.seeds ?? 1);
  const startedMs = options.wallClockMs?.();
  const summary: SimulationSummary = {
    scenario,
    seedsRun: 0,
    firstSeed,
    lastSeed: firstSeed - 1,
    failures: [],
    events: 0,
    simTimeMs: 0,
    elections: 0,
    committedEntries: 0,
    stoppedByBudget: false,
    results: [],
  };
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    if (options.timeBudgetMs !== undefined && options.wallClockMs !== undefined && startedMs !== undefined) {
      if (options.wallClockMs() - startedMs > options.timeBudgetMs) {
        summary.stoppedByBudget = true;
        log(`time budget of ${options.timeBudgetMs}ms used up after ${summary.seedsRun} seeds`);
        break;
      }
    }
    const result = runSeed(seed, options);
    summary.results.push(result);
    summary.seedsRun++;
    summary.lastSeed = seed;
    summary.events += result.events;
    summary.simTimeMs += result.simTimeMs;
    summary.elections += result.elections;
    summary.committedEntries += result.committedEntries;
    if (!result.ok) {
      summary.failures.push({
        seed,
        invariant: result.invariant ?? 'unknown',
        message: result.failure ?? '',
        replayCommand: result.replayCommand,
      });
      log(`FAIL seed=${seed} ${result.failure}`);
      log(`  replay: ${result.replayCommand}`);
      // A replay of one seed prints its whole trace; a failure within a range, the events leading up to it.
      const lines = count === 1 ? result.trace : result.trace?.slice(-TRACE_TAIL_LINES);
      for (const line of lines ?? []) log(`  ${line}`);
    } else if (count > 1) {
      // Keep traces of failing seeds only: a long run would otherwise hold every event in memory.
      delete result.trace;
    }
    if (result.ok && count === 1) {
      for (const line of options.trace ? (summary.results[0]?.trace ?? []) : []) log(`  ${line}`);
      log(
        `ok seed=${seed} scenario=${scenario} events=${result.events} simTimeMs=${result.simTimeMs} traceHash=${result.traceHash}`,
      );
    }
  }
  log(
    `sim ${scenario}: seeds ${summary.firstSeed}..${summary.lastSeed} (${summary.seedsRun} run), ${summary.failures.length} failed, ${summary.events} events, ${Math.round(summary.simTimeMs / 1000)}s simulated, ${summary.elections} elections, ${summary.committedEntries} committed entries`,
  );
  return summary;
}
