// The runner's contract with the CLI: seed ranges, the injected wall clock for
// the time budget (the package never reads the host clock), the replay command
// and the summary totals.

import { describe, expect, test } from 'vitest';
import { runSimulation } from '../src/index.js';
import { soloCore } from './fakes.js';

describe('runSimulation', () => {
  test('stops starting seeds once the injected wall clock passes the budget', () => {
    let wallMs = 0;
    const summary = runSimulation({
      firstSeed: 10,
      seeds: 100,
      scenario: 'initial-election',
      voters: 1,
      observers: 0,
      createCore: soloCore(),
      timeBudgetMs: 2500,
      // Each reading advances a second: the start, then one reading before each seed.
      wallClockMs: () => {
        wallMs += 1000;
        return wallMs;
      },
    });
    expect(summary.stoppedByBudget).toBe(true);
    expect(summary.seedsRun).toBe(2);
    expect(summary.firstSeed).toBe(10);
    expect(summary.lastSeed).toBe(11);
  });

  test('a single seed replays with its scenario and shape, and totals add up', () => {
    const lines: string[] = [];
    const summary = runSimulation({
      seed: 77,
      createCore: soloCore(),
      voters: 1,
      observers: 0,
      log: (l) => lines.push(l),
    });
    expect(summary.seedsRun).toBe(1);
    const result = summary.results[0]!;
    expect(result.replayCommand).toBe('pnpm raftka sim --seed 77 --scenario random --voters 1 --observers 0 --trace');
    expect(summary.events).toBe(result.events);
    expect(summary.committedEntries).toBe(result.committedEntries);
    expect(lines.some((l) => l.startsWith('ok seed=77'))).toBe(true);
  });

  test('an unknown scenario is an error of the caller, not a failing seed', () => {
    expect(() => runSimulation({ seed: 1, scenario: 'no-such-thing' })).toThrow(/unknown scenario/);
  });
});
