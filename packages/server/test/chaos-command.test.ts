// `raftka chaos` pieces that need no cluster: durations, and `--check`, which
// re-checks a recorded history (with its .final.json) offline and returns
// the exit code (0 valid, 1 anomalies).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { History } from '../src/chaos/history.js';
import { parseDurationMs, runChaosCommand } from '../src/commands/chaos.js';

function record(file: string, loseOne: boolean): void {
  const h = new History(file, 0);
  const reads: Array<[number, number, string]> = [];
  for (let i = 0; i < 10; i++) {
    const inv = h.invoke(1, 'send', { partition: 0, value: `1-${i}` });
    h.complete(inv, 'ok', { offset: i });
    if (!(loseOne && i === 7)) reads.push([0, reads.length, `1-${i}`]);
  }
  const d = h.invoke(100_000, 'drain');
  h.complete(d, 'ok', { reads });
  h.close();
  writeFileSync(`${file}.final.json`, JSON.stringify({ endOffsets: { 0: reads.length }, replicas: null }));
}

const base = {
  duration: '3m',
  faults: 'all',
  basePort: 0,
  netns: false,
  partitions: 6,
  producers: 3,
  consumers: 3,
  rate: 50,
  dockerComposeFile: [],
};

describe('raftka chaos', () => {
  it('parses durations', () => {
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(parseDurationMs('3m')).toBe(180_000);
    expect(parseDurationMs('1h')).toBe(3_600_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('45')).toBe(45_000);
    expect(() => parseDurationMs('3 minutes')).toThrow(/not a duration/);
  });

  it('--check re-checks a history file: 0 when valid, 1 on an anomaly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftka-chaos-check-'));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      record(join(dir, 'good.jsonl'), false);
      record(join(dir, 'bad.jsonl'), true);
      expect(await runChaosCommand({ ...base, check: join(dir, 'good.jsonl') })).toBe(0);
      expect(await runChaosCommand({ ...base, check: join(dir, 'bad.jsonl') })).toBe(1);
      const printed = log.mock.calls.map((c) => String(c[0])).join('\n');
      expect(printed).toMatch(/FAIL lost +1/);
      // The lost value shifted the later ones, so the acked offsets disagree with the drain too.
      expect(printed).toMatch(/FAIL inconsistent-offsets/);
    } finally {
      log.mockRestore();
    }
  });
});
