// Every named scenario (Kafka's RaftEventSimulationTest cases) against the
// real Raft core, over a handful of seeds each, with 3 and 5 voters. The
// invariants are checked after every event and each run ends by healing and
// requiring convergence. Failures print the seed and the replay command.

import { describe, expect, test } from 'vitest';
import { runSimulation, SCENARIOS } from '../src/index.js';
import { failureReport } from './report.js';

const SEEDS = 10;

describe('named scenarios against the real Raft core', () => {
  for (const scenario of SCENARIOS) {
    for (const voters of scenario.voters === undefined ? [3, 5] : [scenario.voters]) {
      const firstSeed = voters * 100 + 1;
      test(`${scenario.name}, ${voters} voters, seeds ${firstSeed}..${firstSeed + SEEDS - 1}`, () => {
        const summary = runSimulation({ firstSeed, seeds: SEEDS, scenario: scenario.name, voters, observers: 1 });
        expect(summary.seedsRun).toBe(SEEDS);
        expect(summary.failures, failureReport(summary)).toEqual([]);
        expect(summary.elections).toBeGreaterThanOrEqual(SEEDS);
        expect(summary.committedEntries).toBeGreaterThan(SEEDS * 20);
      });
    }
  }
});
