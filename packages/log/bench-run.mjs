// Runs the log benchmark from the compiled package: `npx tsc -b packages/log && node packages/log/bench-run.mjs [--json] [sizeGiB]`.
import { tmpdir } from 'node:os';
import { runLogBench } from './dist/index.js';

const json = process.argv.includes('--json');
const size = Number(process.argv.find((a) => /^\d+(\.\d+)?$/.test(a)) ?? 1);
await runLogBench({ dir: tmpdir(), json, sizeGiB: size });
