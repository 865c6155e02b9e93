// Seeds on which the simulator once found a bug in the Raft core (see
// FINDINGS.md). Each must now pass. The simulator has since grown new faults
// (process pauses), so these seeds now take a different path; the exact
// failing histories replay with the simulator at commit f574ec7.

import { describe, expect, test } from 'vitest';
import { runSeed } from '../src/index.js';

const REGRESSIONS = [
  {
    seed: 8559,
    voters: 5,
    observers: 1,
    finding: '#3: stale diverging FetchResponse; HW counted on a truncated entry',
  },
  { seed: 13359, voters: 3, observers: 2, finding: '#3b: stale diverging FetchResponse; truncation below the HW' },
];

describe('regression seeds from FINDINGS.md', () => {
  for (const { seed, voters, observers, finding } of REGRESSIONS) {
    test(`seed ${seed} (${finding})`, () => {
      const result = runSeed(seed, { scenario: 'random', voters, observers });
      expect(result.failure, result.replayCommand).toBeUndefined();
      expect(result.elections).toBeGreaterThan(0);
    });
  }
});
