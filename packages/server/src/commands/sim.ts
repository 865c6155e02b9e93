// `raftka sim`: the deterministic simulator from the command line. Exits
// non-zero when any seed breaks an invariant, printing each failing seed with
// the command that replays it.
import { runSimulation } from '@raftka/sim';

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
}

export function runSimCommand(o: SimCommandOptions): number {
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
