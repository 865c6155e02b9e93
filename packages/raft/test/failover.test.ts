// Failover time in simulated milliseconds (timers only: the test network
// delivers instantly), over many seeds, for the three ways a leader goes away.
// Simulated time is deterministic, so the bounds below are exact properties of
// the timer design, not wall-clock measurements; the figures are printed.
//
//   npx vitest run packages/raft/test/failover.test.ts

import { describe, expect, it } from 'vitest';
import { Cluster } from './harness.js';

const SEEDS = 60;

function measure(how: 'disconnect' | 'silent' | 'resign', voters: number[], seed: number): number {
  const c = new Cluster({ voters, seed });
  c.traceMessages = false;
  c.run(5000);
  const old = c.leader();
  expect(old, `seed=${seed}: no initial leader`).toBeDefined();
  c.propose(old!.id, ['x']);
  c.run(700); // mid long-poll, like a real quiet moment
  const start = c.nowMs;
  if (how === 'resign') {
    old!.node.resign(c.nowMs);
    c.process(old!);
  } else {
    c.crash(old!.id, how === 'disconnect');
  }
  c.stabilize();
  for (let i = 0; i < 20_000; i++) {
    const next = c.leader();
    if (next !== undefined && next.id !== old!.id && next.node.highWatermark > 0) {
      const committedOwnEpoch = next.node.highWatermark === next.node.logEndOffset;
      if (committedOwnEpoch) return c.nowMs - start;
    }
    c.run(1);
  }
  throw new Error(`seed=${seed}: no new leader`);
}

function summary(values: number[]): { min: number; median: number; p90: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { min: sorted[0]!, median: at(0.5), p90: at(0.9), max: sorted.at(-1)! };
}

describe('failover time (simulated ms, default timers)', () => {
  for (const voters of [
    [1, 2, 3],
    [1, 2, 3, 4, 5],
  ]) {
    it(`${voters.length} voters`, () => {
      const seeds = Array.from({ length: SEEDS }, (_, i) => i + 1);
      const disconnect = summary(seeds.map((s) => measure('disconnect', voters, s)));
      const silent = summary(seeds.map((s) => measure('silent', voters, s)));
      const resign = summary(seeds.map((s) => measure('resign', voters, s)));
      console.log(`${voters.length} voters, ${SEEDS} seeds`, { disconnect, silent, resign });
      // Connection close and graceful resign need no timer at all.
      expect(disconnect.max).toBe(0);
      expect(resign.max).toBe(0);
      // The last fetch was answered at most one long poll (500) before the crash;
      // then fetch timeout (2000) and the pre-vote jitter (< 100 ms per voter).
      expect(silent.min).toBeGreaterThanOrEqual(2000 - 500);
      expect(silent.p90).toBeLessThan(2000 + 100 * voters.length);
    });
  }
});
