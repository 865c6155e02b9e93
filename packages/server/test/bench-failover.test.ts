// `raftka bench failover`: the option parsers and summaries, the chart on its
// own, and a tiny real run through the CLI (12 partitions, SIGKILL and
// restart of a broker, on loopback) that checks the JSON last line and that
// the chart files are written. No figures are asserted: the machine is
// shared, and speed is the benchmark's to print.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBytes, parseScenarios, summarize } from '../src/bench/failover.js';
import { writeTimelineChart } from '../src/bench/failover-chart.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'raftka-bench-failover-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench failover options', () => {
  it('parses scenarios in run order, and all', () => {
    expect(parseScenarios('restart,kill')).toEqual(['kill', 'restart']);
    expect(parseScenarios('all')).toEqual(['kill', 'restart', 'shutdown', 'controller', 'isolate']);
    expect(() => parseScenarios('kill,reboot')).toThrow(/unknown scenario "reboot"/);
  });

  it('parses sizes', () => {
    expect(parseBytes('1GiB')).toBe(2 ** 30);
    expect(parseBytes('64MiB')).toBe(64 * 2 ** 20);
    expect(parseBytes('500MB')).toBe(500e6);
    expect(parseBytes('4096')).toBe(4096);
    expect(() => parseBytes('lots')).toThrow(/not a size/);
  });

  it('summarizes per-partition times with exact percentiles and counts the missing', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(summarize(values, 2)).toEqual({ count: 100, p50Ms: 50, p99Ms: 99, maxMs: 100, missing: 2 });
    expect(summarize([7])).toEqual({ count: 1, p50Ms: 7, p99Ms: 7, maxMs: 7, missing: 0 });
    expect(summarize([]).count).toBe(0);
  });
});

describe('bench failover chart', () => {
  it('renders the timeline to SVG and PNG with every fault labelled', async () => {
    const base = join(out, 'unit-chart');
    const paths = await writeTimelineChart(
      {
        title: 'test',
        partitions: [
          { tSeconds: 0, underReplicated: 0, offline: 0 },
          { tSeconds: 1, underReplicated: 4, offline: 1 },
          { tSeconds: 2, underReplicated: 0, offline: 0 },
        ],
        throughput: [
          { tSeconds: 0, recordsPerSec: 100 },
          { tSeconds: 1, recordsPerSec: 20 },
        ],
        faults: [
          { tSeconds: 0.9, label: 'SIGKILL broker 101' },
          { tSeconds: 1.5, label: 'restart broker 101' },
        ],
      },
      base,
    );
    const svg = readFileSync(paths.svg, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('SIGKILL broker 101');
    expect(svg).toContain('restart broker 101');
    expect(readFileSync(paths.png).subarray(1, 4).toString()).toBe('PNG');
  });
});

describe('bench failover, a tiny real run', () => {
  it('kills and restarts a broker of a 12-partition topic and prints the JSON figures last', async () => {
    const dir = join(out, 'run');
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [
          CLI,
          'bench',
          'failover',
          '--json',
          '--partitions',
          '12',
          '--scenarios',
          'kill,restart',
          '--catch-up-bytes',
          '1MiB',
          '--pause-ms',
          '500',
          '--probe-interval-ms',
          '100',
          '--base-port',
          '24591',
          '--no-netns',
          '--out',
          dir,
        ],
        { timeout: 150_000, maxBuffer: 16 * 2 ** 20 },
        (err, so, se) => (err ? reject(new Error(`${err.message}\n${so}\n${se}`)) : resolve(so)),
      );
    });
    const lines = stdout.trim().split('\n');
    const result = JSON.parse(lines[lines.length - 1] as string);
    for (const key of [
      'leaderElectionP50Ms',
      'leaderElectionP99Ms',
      'produceUnavailableP50Ms',
      'produceUnavailableP99Ms',
      'urpRecoverySeconds',
    ]) {
      expect(typeof result[key], key).toBe('number');
    }
    // Not run here: null, not a made-up zero.
    expect(result.controlledShutdownFailedProduces).toBeNull();
    expect(result.partitions).toBe(12);
    expect(result.scenarios.map((s: { scenario: string }) => s.scenario)).toEqual(['kill', 'restart']);
    const [kill, restart] = result.scenarios;
    // Every partition the killed broker led got a new leader and a write; with RF 3 on 3 brokers, the
    // restarted broker holds a replica of all 12 and rejoined every ISR.
    expect(kill.partitions).toBeGreaterThan(0);
    expect(kill.leaderElection.count).toBe(kill.partitions);
    expect(kill.produceUnavailable.missing).toBe(0);
    expect(kill.leaderKnownToBrokers.count + kill.leaderKnownToBrokers.missing).toBe(kill.partitions);
    expect(restart.fullIsr).toMatchObject({ count: 12, missing: 0 });
    expect(restart.catchUpBytes).toBeGreaterThan(2 ** 20);
    expect(result.probeRecordsAcked).toBeGreaterThan(0);
    // The table and the files.
    expect(stdout).toMatch(/scenario\s+target\s+partitions/);
    expect(readFileSync(result.chartSvg, 'utf8')).toContain('SIGKILL broker');
    expect(readFileSync(result.chartPng).subarray(1, 4).toString()).toBe('PNG');
    const timeline = JSON.parse(readFileSync(result.timelineFile, 'utf8'));
    expect(timeline.faults.map((f: { label: string }) => f.label)).toEqual([
      expect.stringMatching(/^SIGKILL broker 10[123]$/),
      expect.stringMatching(/^restart broker 10[123]$/),
    ]);
    expect(timeline.timeline.length).toBeGreaterThan(5);
  }, 180_000);
});
