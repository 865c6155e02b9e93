// `raftka sim`: the deterministic simulator from the command line. Exits
// non-zero when any seed breaks an invariant, printing each failing seed with
// the command that replays it.
import { runDataPlaneSimulation, runSimulation } from '@raftka/sim';

export interface SimCommandOptions {
  seeds?: number;
  seed?: number;
  firstSeed?: number;
  voters?: number;
  observers?: number;
  scenario?: string;
  maxSimTimeMs?: number;
  trace?: boolean;
  timeBudgetMs?: number;
  json?: boolean;
  /** The data-plane simulation (brokers running the replication cores) instead of a Raft scenario. */
  dataPlane?: boolean;
}

export function runSimCommand(o: SimCommandOptions): number {
  if (o.dataPlane) return runDataPlaneCommand(o);
  const started = performance.now();
  const summary = runSimulation({
    ...(o.seeds !== undefined && { seeds: o.seeds }),
    ...(o.seed !== undefined && { seed: o.seed }),
    ...(o.firstSeed !== undefined && { firstSeed: o.firstSeed }),
    ...(o.voters !== undefined && { voters: o.voters }),
    ...(o.observers !== undefined && { observers: o.observers }),
    ...(o.scenario !== undefined && { scenario: o.scenario }),
    ...(o.maxSimTimeMs !== undefined && { maxSimTimeMs: o.maxSimTimeMs }),
    ...(o.trace !== undefined && { trace: o.trace }),
    ...(o.timeBudgetMs !== undefined && { timeBudgetMs: o.timeBudgetMs, wallClockMs: () => performance.now() }),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const wallMs = Math.round(performance.now() - started);
  const line =
    `sim: scenario=${summary.scenario} seeds ${summary.firstSeed}..${summary.lastSeed} (${summary.seedsRun} run) ` +
    `events=${summary.events} elections=${summary.elections} committed=${summary.committedEntries} ` +
    `simulated=${Math.round(summary.simTimeMs / 1000)}s wall=${wallMs}ms failures=${summary.failures.length}` +
    (summary.stoppedByBudget ? ' (stopped by the time budget)' : '');
  process.stdout.write(`${line}\n`);
  for (const f of summary.failures) {
    process.stdout.write(`FAILED seed=${f.seed} ${f.invariant}: ${f.message}\n  replay: ${f.replayCommand}\n`);
  }
  if (o.json) {
    const { results: _results, ...rest } = summary;
    process.stdout.write(`${JSON.stringify({ ...rest, wallMs })}\n`);
  }
  return summary.failures.length === 0 ? 0 : 1;
}

function runDataPlaneCommand(o: SimCommandOptions): number {
  const started = performance.now();
  const summary = runDataPlaneSimulation({
    ...(o.seeds !== undefined && { seeds: o.seeds }),
    ...(o.seed !== undefined && { seed: o.seed }),
    ...(o.firstSeed !== undefined && { firstSeed: o.firstSeed }),
    ...(o.maxSimTimeMs !== undefined && { faultMs: o.maxSimTimeMs }),
    ...(o.trace !== undefined && { trace: o.trace }),
    ...(o.timeBudgetMs !== undefined && { timeBudgetMs: o.timeBudgetMs, wallClockMs: () => performance.now() }),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const wallMs = Math.round(performance.now() - started);
  const t = summary.totals;
  process.stdout.write(
    `sim: data-plane seeds ${summary.firstSeed}..${summary.lastSeed} (${summary.seedsRun} run) events=${t.events} ` +
      `simulated=${Math.round(t.simTimeMs / 1000)}s ackedAll=${t.ackedAllBatches} ackedOne=${t.ackedOneBatches} ` +
      `lostAcksOneRecords=${t.lostAcksOneRecords} elections=${t.elections} isrChanges=${t.isrChanges} ` +
      `truncations=${t.truncations} kills=${t.kills} powerLosses=${t.powerLosses} ` +
      `beyondBound=${t.voidedPartitions} wall=${wallMs}ms failures=${summary.failures.length}` +
      (summary.stoppedByBudget ? ' (stopped by the time budget)' : '') +
      '\n',
  );
  for (const f of summary.failures) {
    process.stdout.write(`FAILED seed=${f.seed} ${f.invariant}: ${f.message}\n  replay: ${f.replayCommand}\n`);
  }
  if (o.json) {
    const { results: _results, ...rest } = summary;
    process.stdout.write(`${JSON.stringify({ ...rest, wallMs })}\n`);
  }
  return summary.failures.length === 0 ? 0 : 1;
}
