import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineTimer } from '../src/deadline-timer.js';

describe('DeadlineTimer', () => {
  let now = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 1000;
  });
  afterEach(() => vi.useRealTimers());

  it('fires once at the deadline, disarmed before the callback runs', () => {
    const fired: number[] = [];
    const t = new DeadlineTimer(
      () => now,
      () => fired.push(now),
    );
    t.arm(1050);
    t.arm(1050); // same deadline: not restarted
    vi.advanceTimersByTime(49);
    expect(fired).toEqual([]);
    now = 1050;
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([1050]);
    vi.advanceTimersByTime(1000);
    expect(fired).toHaveLength(1);
  });

  it('replaces the deadline, and an infinite one or cancel() disarms', () => {
    let fired = 0;
    const t = new DeadlineTimer(
      () => now,
      () => fired++,
    );
    t.arm(1100);
    t.arm(1010);
    vi.advanceTimersByTime(10);
    expect(fired).toBe(1);
    t.arm(1200);
    t.arm(Number.POSITIVE_INFINITY);
    vi.advanceTimersByTime(1000);
    expect(fired).toBe(1);
    t.arm(1020);
    t.cancel();
    vi.advanceTimersByTime(1000);
    expect(fired).toBe(1);
  });
});
