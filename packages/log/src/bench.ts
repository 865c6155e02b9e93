export interface BenchLine {
  line: string;
}
export interface LogBenchOptions {
  dir: string;
  json?: boolean;
  sizeGiB?: number;
  log?: (line: string) => void;
}
export interface LogBenchResult {
  appendMBps: number;
}
export async function runLogBench(_options: LogBenchOptions): Promise<LogBenchResult> {
  return { appendMBps: 0 };
}
