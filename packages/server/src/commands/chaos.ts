// `raftka chaos`: a Jepsen-style run against a local cluster it starts (in
// network namespaces when it can) or a running one, with a seeded fault
// schedule; prints a verdict per check and exits 1 on any anomaly.
// `raftka chaos --check <history>` re-checks a recorded history offline.
import { existsSync, readFileSync } from 'node:fs';
import { Admin } from '@raftka/client';
import { type CheckInput, checkHistory, formatVerdicts, type ReplicaBatch } from '../chaos/checker.js';
import { readHistory } from '../chaos/history.js';
import { DockerApplier } from '../chaos/nemesis.js';
import { runChaos } from '../chaos/run.js';
import { parseFaultKinds } from '../chaos/schedule.js';

export interface ChaosCommandOptions {
  duration: string;
  seed?: number;
  bootstrap?: string;
  faults: string;
  history?: string;
  dataDir?: string;
  basePort: number;
  netns: boolean;
  partitions: number;
  producers: number;
  consumers: number;
  rate: number;
  dockerProject?: string;
  dockerComposeFile: string[];
  dockerNetwork?: string;
  check?: string;
  json?: boolean;
}

/** `90s`, `3m`, `1h`, `500ms` or plain seconds, to milliseconds. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration (e.g. 90s, 3m, 1h)`);
  const unit = m[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(Number(m[1]) * factor);
}

function recheck(file: string): boolean {
  const input: CheckInput = { ops: readHistory(file) };
  const finalFile = `${file}.final.json`;
  if (existsSync(finalFile)) {
    const final = JSON.parse(readFileSync(finalFile, 'utf8')) as {
      endOffsets: Record<string, number>;
      replicas: Record<string, Record<string, ReplicaBatch[]>> | null;
    };
    input.endOffsets = new Map(Object.entries(final.endOffsets).map(([p, o]) => [Number(p), o]));
    if (final.replicas !== null) {
      input.replicas = new Map(
        Object.entries(final.replicas).map(([p, byBroker]) => [
          Number(p),
          new Map(Object.entries(byBroker).map(([b, batches]) => [Number(b), batches])),
        ]),
      );
    }
  }
  const result = checkHistory(input);
  console.log(formatVerdicts(result));
  return result.valid;
}

export async function runChaosCommand(opts: ChaosCommandOptions): Promise<number> {
  if (opts.check !== undefined) return recheck(opts.check) ? 0 : 1;
  const seed = opts.seed ?? Math.floor(Math.random() * 1_000_000);
  // The seed comes first, so a run that dies half-way can still be replayed.
  console.log(`seed=${seed}`);
  const bootstrap = opts.bootstrap
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let applier: DockerApplier | undefined;
  let admin: Admin | undefined;
  if (opts.dockerProject !== undefined) {
    if (bootstrap === undefined) throw new Error('--docker-project needs --bootstrap (a published broker port)');
    const a = new Admin({ bootstrap, requestTimeoutMs: 2000, retryTimeoutMs: 5000 });
    admin = a;
    applier = new DockerApplier({
      project: opts.dockerProject,
      composeFiles: opts.dockerComposeFile,
      network: opts.dockerNetwork ?? `${opts.dockerProject}_raftka`,
      controllerIds: [1, 2, 3],
      brokerIds: [101, 102, 103],
      activeController: async () => {
        const id = (await a.describeCluster()).controllerId;
        return id >= 0 ? id : null;
      },
    });
  }
  try {
    const result = await runChaos({
      seed,
      durationMs: parseDurationMs(opts.duration),
      kinds: parseFaultKinds(opts.faults),
      bootstrap,
      applier,
      historyFile: opts.history,
      dataDir: opts.dataDir,
      basePort: opts.basePort,
      netns: opts.netns ? 'auto' : false,
      partitions: opts.partitions,
      producers: opts.producers,
      consumers: opts.consumers,
      ratePerProducer: opts.rate,
      log: (l) => console.log(l),
    });
    if (opts.json) {
      console.log(
        JSON.stringify({
          seed: result.seed,
          valid: result.check.valid,
          faults: result.nemesis.applied.length,
          faultErrors: result.nemesis.applied.filter((x) => x.error !== undefined).length,
          recovered: result.recovered,
          ...result.check.stats,
          verdicts: Object.fromEntries(result.check.verdicts.map((v) => [v.name, v.count])),
          historyFile: result.historyFile,
        }),
      );
    }
    return result.check.valid ? 0 : 1;
  } finally {
    await admin?.close();
  }
}
