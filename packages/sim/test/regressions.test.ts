// Seeds that once broke an invariant, kept so the bug stays fixed. Each names
// the finding in FINDINGS.md it came from.
import { describe, expect, it } from 'vitest';
import { runSeed } from '../src/index.js';

const REGRESSIONS = [
  // #3: a stale FetchResponse (duplicated, or answering a slow old request)
  // with a DivergingEpoch truncated an entry the follower had re-fetched.
  { finding: 3, seed: 8559, scenario: 'random', voters: 5, observers: 1 },
  { finding: 3, seed: 20876, scenario: 'random', voters: 5, observers: 1 },
  { finding: 3, seed: 13359, scenario: 'random', voters: 3, observers: 2 },
  { finding: 3, seed: 26052, scenario: 'random', voters: 3, observers: 2 },
] as const;

describe('simulator regressions', () => {
  for (const r of REGRESSIONS) {
    it(`finding #${r.finding}: seed=${r.seed} ${r.scenario} voters=${r.voters} observers=${r.observers}`, () => {
      const result = runSeed(r.seed, { scenario: r.scenario, voters: r.voters, observers: r.observers });
      expect(result.failure === undefined ? 'ok' : `${result.invariant}: ${result.failure}`).toBe('ok');
    });
  }
});
