// The fault schedule is a function of its seed: the same seed gives the same
// faults, faults never overlap and leave quiet stretches between them, and a
// short run still covers every enabled kind.
import { describe, expect, it } from 'vitest';
import {
  describeFault,
  FAULT_KINDS,
  generateSchedule,
  parseFaultKinds,
  type ScheduleOptions,
} from '../src/chaos/schedule.js';

const seed = Number(process.env.CHAOS_SEED ?? 20261122);

const base: ScheduleOptions = {
  seed,
  durationMs: 180_000,
  kinds: FAULT_KINDS,
  brokerIds: [101, 102, 103],
};

describe(`chaos schedule (seed=${seed})`, () => {
  it('is reproducible from its seed and differs between seeds', () => {
    expect(generateSchedule(base)).toEqual(generateSchedule(base));
    expect(generateSchedule({ ...base, seed: seed + 1 })).not.toEqual(generateSchedule(base));
  });

  it('keeps faults apart with quiet stretches and inside the run', () => {
    const faults = generateSchedule({ ...base, quietMinMs: 3000, quietMaxMs: 5000 });
    expect(faults.length).toBeGreaterThan(5);
    expect(faults[0]?.startMs).toBe(5000);
    for (let i = 1; i < faults.length; i++) {
      const prev = faults[i - 1] as (typeof faults)[number];
      const gap = (faults[i]?.startMs ?? 0) - (prev.startMs + prev.durationMs);
      expect(gap).toBeGreaterThanOrEqual(3000);
      expect(gap).toBeLessThanOrEqual(5000);
    }
    for (const f of faults) expect(f.startMs + f.durationMs).toBeLessThanOrEqual(base.durationMs);
  });

  it('covers every kind in a run long enough for each once, with valid targets', () => {
    const faults = generateSchedule({ ...base, durationMs: 5000 + FAULT_KINDS.length * 24_000 });
    expect(new Set(faults.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    for (const f of faults) {
      for (const b of f.brokers) expect([101, 102, 103]).toContain(b);
      expect(new Set(f.brokers).size).toBe(f.brokers.length);
      if (f.kind === 'kill-two-brokers' || f.kind === 'partition-one-way') expect(f.brokers).toHaveLength(2);
      if (f.kind === 'kill-controller' || f.kind === 'rolling-restart') expect(f.brokers).toEqual([]);
      expect(describeFault(f)).toContain(f.kind);
    }
  });

  it('drops kinds that need two brokers when there is one', () => {
    const faults = generateSchedule({ ...base, brokerIds: [101] });
    expect(faults.some((f) => f.kind === 'kill-two-brokers' || f.kind === 'partition-one-way')).toBe(false);
    expect(faults.length).toBeGreaterThan(0);
  });

  it('parses fault groups and names', () => {
    expect(parseFaultKinds('kill')).toEqual(['kill-broker', 'kill-controller', 'kill-two-brokers']);
    expect(parseFaultKinds('pause,partition-one-way,pause-broker')).toEqual([
      'pause-broker',
      'pause-controller',
      'partition-one-way',
    ]);
    expect(parseFaultKinds('all')).toHaveLength(FAULT_KINDS.length);
    expect(() => parseFaultKinds('kill,flood')).toThrow(/unknown fault "flood"/);
  });
});
