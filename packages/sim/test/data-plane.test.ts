// The data-plane simulation over a fixed seed range (three brokers running the
// real @raftka/replication cores under kills, power losses, pauses,
// partitions and a lossy network; invariants after every event; heal and
// converge at the end). Failures print the seed and the replay command; more
// seeds: `pnpm raftka sim --data-plane --seeds 2000`.
import { describe, expect, test } from 'vitest';
import { runDataPlaneSeed, runDataPlaneSimulation } from '../src/index.js';

const FIRST_SEED = Number(process.env.SEED ?? 1);
const SEEDS = process.env.SEED === undefined ? 30 : 1;

describe('data-plane simulation', () => {
  test(`seeds ${FIRST_SEED}..${FIRST_SEED + SEEDS - 1}: no invariant broken, converges after healing`, () => {
    console.log(`sim data-plane: seeds ${FIRST_SEED}..${FIRST_SEED + SEEDS - 1}`);
    const summary = runDataPlaneSimulation({ firstSeed: FIRST_SEED, seeds: SEEDS });
    const t = summary.totals;
    console.log(
      `sim data-plane: ${summary.seedsRun} seeds, ${t.events} events, ${Math.round(t.simTimeMs / 1000)}s simulated, ` +
        `${t.ackedAllBatches} acks=all batches acknowledged, ${t.ackedOneBatches} acks=1 (${t.lostAcksOneRecords} records lost), ` +
        `${t.elections} elections, ${t.isrChanges} ISR changes, ${t.truncations} truncations, ${t.kills} kills, ` +
        `${t.powerLosses} power losses (${t.lostUnflushedRecords} unflushed records lost), ${t.voidedPartitions} partitions beyond the bound`,
    );
    const report = summary.failures
      .slice(0, 5)
      .map((f) => `seed ${f.seed}: ${f.message}\n  replay: ${f.replayCommand}`)
      .join('\n');
    expect(summary.failures, report).toEqual([]);
    if (SEEDS > 1) {
      // The runs must exercise what they check.
      expect(t.ackedAllBatches).toBeGreaterThan(SEEDS * 100);
      expect(t.elections).toBeGreaterThan(SEEDS * 5);
      expect(t.truncations).toBeGreaterThan(SEEDS);
      expect(t.powerLosses).toBeGreaterThan(SEEDS / 5);
      expect(t.lostUnflushedRecords).toBeGreaterThan(0);
      expect(t.epochBumps).toBeGreaterThan(0);
    }
  }, 300_000);

  test('beyond the bound: power losses at any time; only partitions whose whole ISR lost data are excused', () => {
    // Seeds 1..40 with unbounded power losses push 16 partitions beyond the guarantee; these include them.
    const summary = runDataPlaneSimulation({ firstSeed: 13, seeds: 3, unboundedPowerLoss: true });
    const t = summary.totals;
    console.log(
      `sim data-plane, unbounded power losses, seeds 13..15: ${t.powerLosses} power losses, ${t.voidedPartitions} partitions beyond the bound, ${t.lostBeyondBoundRecords} acknowledged acks=all records lost there`,
    );
    expect(summary.failures.map((f) => `${f.seed}: ${f.message}`)).toEqual([]);
    expect(t.voidedPartitions).toBeGreaterThan(0);
  }, 120_000);

  test('a seed replays exactly: same trace hash with and without a text trace', () => {
    const a = runDataPlaneSeed(7, { faultMs: 8000 });
    const b = runDataPlaneSeed(7, { faultMs: 8000, trace: true });
    const c = runDataPlaneSeed(8, { faultMs: 8000 });
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.events).toBe(a.events);
    expect(b.trace?.length).toBeGreaterThan(0);
    expect(c.traceHash).not.toBe(a.traceHash);
  });
});
