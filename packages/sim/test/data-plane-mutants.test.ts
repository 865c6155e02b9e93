// The data-plane checkers must be able to fail: each mutant breaks one rule of
// the replication protocol in the simulated broker (or controller) around the
// real cores, and some seed of a small range must catch it with the invariant
// that guards that rule. Seeds are printed; replay one with
// `runDataPlaneSeed(seed, { mutants: { <name>: true }, trace: true })`.
import { describe, expect, test } from 'vitest';
import { type DataPlaneMutants, runDataPlaneSimulation } from '../src/index.js';

const CASES: { mutant: keyof DataPlaneMutants; seeds: number; invariants: string[]; what: string }[] = [
  {
    mutant: 'ackOnLocalAppend',
    seeds: 3,
    invariants: ['AckedWritesKept'],
    what: 'a leader that answers acks=all after its own append',
  },
  {
    mutant: 'skipTruncation',
    seeds: 4,
    // Crash: the log's own assertion (a batch of an older epoch after a newer one) can fire first.
    invariants: ['ReplicasAgree', 'AckedWritesKept', 'NoDuplicates', 'Liveness', 'Crash'],
    what: 'a follower that never learns its log diverged (no truncation)',
  },
  {
    mutant: 'hwWithoutMaximalIsr',
    seeds: 8,
    invariants: ['AckedWritesKept'],
    what: 'an HW over the committed ISR only, ignoring a pending addition (KIP-497)',
  },
  { mutant: 'noDedup', seeds: 3, invariants: ['NoDuplicates'], what: 'a leader that stores idempotent retries again' },
  {
    mutant: 'staleMetadataAfterRestart',
    seeds: 6,
    invariants: ['FencedLeaderAcceptsNoWrite', 'Liveness', 'AckedWritesKept', 'ReplicasAgree', 'Crash'],
    what: 'a restarted broker that leads on its previous life’s metadata',
  },
  {
    mutant: 'uncleanElection',
    seeds: 4,
    invariants: ['AckedWritesKept', 'ReplicasAgree'],
    what: 'a controller that elects a replica outside the ISR',
  },
];

describe('data-plane checkers catch mutants', () => {
  test('beyond the bound does not hide bugs: acks on the local append caught with power losses at any time', () => {
    const summary = runDataPlaneSimulation({
      firstSeed: 1,
      seeds: 3,
      unboundedPowerLoss: true,
      mutants: { ackOnLocalAppend: true },
    });
    console.log(
      `mutant ackOnLocalAppend, unbounded power losses: ${summary.failures.map((f) => `${f.seed}:${f.invariant}`).join(' ')}`,
    );
    expect(summary.failures.map((f) => f.invariant)).toEqual(['AckedWritesKept', 'AckedWritesKept', 'AckedWritesKept']);
  }, 120_000);

  for (const { mutant, seeds, invariants, what } of CASES) {
    test(`${mutant}: ${what}`, () => {
      const summary = runDataPlaneSimulation({ firstSeed: 1, seeds, mutants: { [mutant]: true } });
      console.log(
        `mutant ${mutant}: seeds 1..${seeds}, caught by ${summary.failures.map((f) => `${f.seed}:${f.invariant}`).join(' ')}`,
      );
      expect(summary.failures.length).toBeGreaterThan(0);
      for (const f of summary.failures) {
        expect(invariants, f.message).toContain(f.invariant);
        expect(f.replayCommand).toContain(`--seed ${f.seed}`);
      }
      expect(summary.failures.map((f) => f.invariant)).toContain(invariants[0]);
    }, 120_000);
  }
});
