// The random-fault mode over seeds 1..1000 (the other half of the 2000
// lives in random-2.test.ts, so vitest can run the halves in parallel when it has two workers).
// Crashes, restarts, partitions and a lossy, duplicating, slow network, then
// heal and require convergence. Failures print the seed and the replay command.

import { expect, test } from 'vitest';
import { runSimulation } from '../src/index.js';
import { failureReport } from './report.js';

const FIRST_SEED = 1;
const SEEDS = 1000;

test(`random faults, seeds ${FIRST_SEED}..${FIRST_SEED + SEEDS - 1}`, () => {
  console.log(`sim random: seeds ${FIRST_SEED}..${FIRST_SEED + SEEDS - 1}`);
  const summary = runSimulation({ firstSeed: FIRST_SEED, seeds: SEEDS, scenario: 'random' });
  console.log(
    `sim random: ${summary.seedsRun} seeds, ${summary.events} events, ${Math.round(summary.simTimeMs / 1000)}s simulated, ${summary.elections} elections, ${summary.committedEntries} committed entries`,
  );
  expect(summary.seedsRun).toBe(SEEDS);
  expect(summary.failures, failureReport(summary)).toEqual([]);
}, 600_000);
