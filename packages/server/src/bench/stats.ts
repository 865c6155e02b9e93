// Latency summaries for the benchmarks: an HDR histogram (microsecond
// resolution up to an hour) instead of sorting raw samples, so a long run
// costs constant memory.
import * as hdr from 'hdr-histogram-js';

export class LatencyRecorder {
  readonly #histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  #count = 0;

  recordMs(ms: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
    this.#count++;
  }

  get count(): number {
    return this.#count;
  }

  percentileMs(p: number): number {
    return this.#count === 0 ? Number.NaN : this.#histogram.getValueAtPercentile(p) / 1000;
  }

  get maxMs(): number {
    return this.#count === 0 ? Number.NaN : this.#histogram.maxValue / 1000;
  }
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Prints rows as an aligned two-column table. */
export function table(rows: Array<[string, string | number]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}
