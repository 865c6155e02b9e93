// Shared by the simulation tests: a failing run's assertion message lists each
// failing seed with its replay command, so the test output is enough to
// reproduce it.
import type { SimulationSummary } from '../src/index.js';

export function failureReport(summary: SimulationSummary): string {
  return summary.failures
    .slice(0, 10)
    .map((f) => `seed ${f.seed}: ${f.message}\n  replay: ${f.replayCommand}`)
    .join('\n');
}
