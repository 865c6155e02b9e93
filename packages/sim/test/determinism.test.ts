// A seed is a complete description of a run: running it twice must give the
// same trace hash (every event, its time and its parties), with the real Raft
// core and with the fake one, and with or without a text trace.

import { describe, expect, test } from 'vitest';
import { runSeed } from '../src/index.js';
import { soloCore } from './fakes.js';

describe('determinism', () => {
  test.each([3, 42, 1234])('seed %i: the real core gives the same trace hash twice', (seed) => {
    const first = runSeed(seed, { scenario: 'random', maxSimTimeMs: 6000 });
    const second = runSeed(seed, { scenario: 'random', maxSimTimeMs: 6000, trace: true });
    expect(second.traceHash).toBe(first.traceHash);
    expect(second.events).toBe(first.events);
    expect(second.simTimeMs).toBe(first.simTimeMs);
    expect(second.trace?.length).toBeGreaterThan(0);
  });

  test('seed 5: the fake core gives the same trace hash twice, and another seed a different one', () => {
    const options = { scenario: 'random', voters: 1, observers: 0, createCore: soloCore() };
    const a = runSeed(5, options);
    const b = runSeed(5, options);
    const c = runSeed(6, options);
    expect(b.traceHash).toBe(a.traceHash);
    expect(c.traceHash).not.toBe(a.traceHash);
  });
});
