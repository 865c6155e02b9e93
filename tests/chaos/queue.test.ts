// The chaos suite's short run, part of `pnpm test`: 3 controllers and 3
// brokers in network namespaces, idempotent acks=all producers and assigned
// consumers on a 6-partition RF 3 topic with min.insync.replicas=2, while a
// seeded schedule kills, pauses, partitions and restarts nodes; then heal,
// URP 0, final drain, replica CRCs, and every check must pass. Replay a
// failure with CHAOS_SEED=<seed> (the seed is in the test name), or run the
// same schedule by hand: `raftka chaos --seed <seed> --duration 90s`.
import { FAULT_KINDS, runChaos } from '@raftka/server';
import { describe, expect, it } from 'vitest';
import { requireNetns } from './helpers.js';

const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);

describe(`chaos queue workload (seed=${seed})`, () => {
  it('loses no acknowledged write, duplicates none, keeps consumers in order and replicas identical under faults', async () => {
    requireNetns();
    const lines: string[] = [];
    const result = await runChaos({
      seed,
      durationMs: 90_000,
      kinds: FAULT_KINDS,
      basePort: 21491,
      netnsTag: 'cq',
      netnsSubnet: 62,
      timings: { warmupMs: 4000, faultMinMs: 3000, faultMaxMs: 7000, quietMinMs: 3000, quietMaxMs: 5000 },
      ratePerProducer: 40,
      recoveryTimeoutMs: 60_000,
      log: (l) => lines.push(l),
    });
    console.log(lines.join('\n'));
    expect(result.applierDescription).toMatch(/network namespaces, signals and (nft|iptables) partitions/);
    expect(result.unsupportedKinds).toEqual([]);
    // Several kinds of faults really happened, and every one applied and healed.
    expect(result.nemesis.applied.length).toBeGreaterThanOrEqual(6);
    expect(new Set(result.nemesis.applied.map((a) => a.fault.kind)).size).toBeGreaterThanOrEqual(5);
    expect(result.nemesis.applied.filter((a) => a.error !== undefined)).toEqual([]);
    // The workload made progress and the end state was checked in full.
    expect(result.check.stats.sendsOk).toBeGreaterThan(2000);
    expect(result.check.stats.drainedValues).toBeGreaterThanOrEqual(result.check.stats.sendsOk);
    expect(result.recovered).toBe(true);
    expect(result.drainComplete).toBe(true);
    expect(result.replicasCompared).toBe(true);
    const failed = result.check.verdicts.filter((v) => !v.ok);
    expect(failed).toEqual([]);
    expect(result.check.valid).toBe(true);
  }, 420_000);
});
