// Broker failover time in the control-plane simulation (simulated time, Kafka's
// default timings, a reliable 1-5 ms network): from a broker's crash to every
// partition it led having a new leader in the active controller's committed
// image. With the connection-close signal the controller fences at once;
// without it (a hung process behind a partition) the broker session timeout
// (9 s) decides. The figures are printed; the bounds checked are the
// mechanism's (deterministic simulated time, not wall clock).

import { describe, expect, test } from 'vitest';
import { measureBrokerFailover, measureControllerFailover } from '../src/index.js';

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `min ${sorted[0]} / median ${at(0.5)} / p90 ${at(0.9)} / max ${sorted[sorted.length - 1]} ms`;
}

describe('broker failover (simulated time)', () => {
  test('crash with connection close: seeds 1..40', () => {
    const samples = Array.from({ length: 40 }, (_, i) => measureBrokerFailover(i + 1, true));
    const ms = samples.map((s) => s.failoverMs);
    console.log(
      `broker crash, connection closes: ${summary(ms)} (partitions led: ${samples.map((s) => s.partitionsLed).join(',')})`,
    );
    // Fenced on the close signal, not the session: a disconnect notice, one commit round trip.
    for (const s of samples) expect(s.failoverMs, `seed ${s.seed}`).toBeLessThan(1000);
  });

  test('silent hang (no close signal): seeds 1..20', () => {
    const samples = Array.from({ length: 20 }, (_, i) => measureBrokerFailover(i + 1, false));
    const ms = samples.map((s) => s.failoverMs);
    console.log(`broker hangs silently: ${summary(ms)}`);
    // The session timeout (9 s) after the last heartbeat (at most 2 s before the hang) fences it.
    for (const s of samples) {
      expect(s.failoverMs, `seed ${s.seed}`).toBeGreaterThan(9000 - 2000 - 1);
      expect(s.failoverMs, `seed ${s.seed}`).toBeLessThan(9000 + 1000);
    }
  });

  test('active controller crash: seeds 1..20', () => {
    const samples = Array.from({ length: 20 }, (_, i) => measureControllerFailover(i + 1));
    console.log(`controller crash -> new active controller: ${summary(samples.map((s) => s.activationMs))}`);
    console.log(`controller crash -> first answer from it: ${summary(samples.map((s) => s.firstHeartbeatMs))}`);
    // Its followers see the connection close and campaign at once: no fetch timeout (2 s) is waited out.
    for (const s of samples) expect(s.activationMs, `seed ${s.seed}`).toBeLessThan(2000);
  });
});
