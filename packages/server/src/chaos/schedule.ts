// The fault schedule of a chaos run, generated from a seed alone: which
// fault, on which broker, when, and for how long, with fault-free stretches
// between faults (so the cluster shows it recovers, and the workload makes
// progress between faults; Jepsen's nemesis packages do the same). Only
// facts known before the run go into the schedule; the one runtime fact,
// which controller is active, is looked up when the fault starts. The same
// seed and options always give the same schedule, which is how a failing
// run is replayed.
import { SeededRandom } from '@raftka/common';

export const FAULT_KINDS = [
  'kill-broker',
  'kill-controller',
  'kill-two-brokers',
  'pause-broker',
  'pause-controller',
  'partition-brokers',
  'partition-controllers',
  'partition-one-way',
  'isolate-broker',
  'rolling-restart',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** What each fault does, for help texts and docs. */
export const FAULT_DESCRIPTIONS: Record<FaultKind, string> = {
  'kill-broker': 'SIGKILL one broker, restart it when the fault ends',
  'kill-controller': 'SIGKILL the active controller, restart it when the fault ends',
  'kill-two-brokers':
    'SIGKILL one broker, restart it halfway, and at once SIGKILL a second one (before the first caught up)',
  'pause-broker': 'SIGSTOP one broker, SIGCONT it when the fault ends',
  'pause-controller': 'SIGSTOP the active controller, SIGCONT it when the fault ends',
  'partition-brokers': 'cut one broker off from the other brokers, both ways (controllers still reach it)',
  'partition-controllers': 'cut one broker off from every controller, both ways (the other brokers still reach it)',
  'partition-one-way': 'one broker stops hearing another (packets from the second to the first are dropped)',
  'isolate-broker': 'take one broker off the network entirely',
  'rolling-restart': 'controlled shutdown (SIGTERM) and restart of every broker in turn, waiting for full ISR between',
};

/** Option words for `--faults`: a group name stands for several kinds. */
export const FAULT_GROUPS: Record<string, readonly FaultKind[]> = {
  kill: ['kill-broker', 'kill-controller', 'kill-two-brokers'],
  pause: ['pause-broker', 'pause-controller'],
  partition: ['partition-brokers', 'partition-controllers', 'partition-one-way', 'isolate-broker'],
  restart: ['rolling-restart'],
  all: FAULT_KINDS,
};

/** Kinds that need network control (namespaces or containers), not just signals. */
export const NETWORK_FAULTS: ReadonlySet<FaultKind> = new Set(FAULT_GROUPS.partition);

/** Parses `kill,pause,partition-one-way` into fault kinds. */
export function parseFaultKinds(spec: string): FaultKind[] {
  const kinds = new Set<FaultKind>();
  for (const word of spec
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean)) {
    const group = FAULT_GROUPS[word];
    if (group) for (const k of group) kinds.add(k);
    else if ((FAULT_KINDS as readonly string[]).includes(word)) kinds.add(word as FaultKind);
    else {
      throw new Error(`unknown fault "${word}"; use ${[...Object.keys(FAULT_GROUPS), ...FAULT_KINDS].join(', ')}`);
    }
  }
  return [...kinds];
}

export interface ScheduledFault {
  /** 1, 2, ... in start order. */
  id: number;
  kind: FaultKind;
  /** When the fault starts, in ms from the start of the run. */
  startMs: number;
  /** How long it lasts before it is healed (a rolling restart takes as long as it takes). */
  durationMs: number;
  /**
   * The brokers it hits, in order: kill-two-brokers [first, second];
   * partition-one-way [deaf, unheard]; controller faults [] (the active one
   * is looked up at the time).
   */
  brokers: number[];
}

export interface ScheduleOptions {
  seed: number;
  /** Length of the fault phase, ms; no fault starts after durationMs - faultMaxMs. */
  durationMs: number;
  kinds: readonly FaultKind[];
  brokerIds: readonly number[];
  /** Quiet time before the first fault (the workload warms up). Default 5 s. */
  warmupMs?: number;
  /** Range of one fault's duration. Default 4-12 s. */
  faultMinMs?: number;
  faultMaxMs?: number;
  /** Range of the fault-free stretch after each fault. Default 4-10 s. */
  quietMinMs?: number;
  quietMaxMs?: number;
}

/**
 * The schedule for a seed. Faults never overlap: each one is healed and
 * followed by a quiet stretch before the next starts. Kinds rotate through
 * a seeded shuffle so that a short run still covers every enabled kind.
 */
export function generateSchedule(options: ScheduleOptions): ScheduledFault[] {
  const rng = new SeededRandom(options.seed);
  const warmupMs = options.warmupMs ?? 5_000;
  const faultMinMs = options.faultMinMs ?? 4_000;
  const faultMaxMs = options.faultMaxMs ?? 12_000;
  const quietMinMs = options.quietMinMs ?? 4_000;
  const quietMaxMs = options.quietMaxMs ?? 10_000;
  if (faultMinMs > faultMaxMs || quietMinMs > quietMaxMs) throw new Error('min above max in the schedule options');
  const brokers = [...options.brokerIds];
  const kinds = options.kinds.filter((k) => {
    if (k === 'kill-two-brokers' || k === 'partition-brokers' || k === 'partition-one-way') return brokers.length >= 2;
    if (k === 'kill-controller' || k === 'pause-controller') return true;
    return brokers.length >= 1;
  });
  const faults: ScheduledFault[] = [];
  if (kinds.length === 0) return faults;
  let bag: FaultKind[] = [];
  let t = warmupMs;
  // Bounded: each iteration advances t by at least faultMinMs + quietMinMs (or 1 ms).
  for (let i = 0; i < 100_000; i++) {
    const durationMs = rng.int(faultMinMs, faultMaxMs + 1);
    if (t + durationMs > options.durationMs) break;
    if (bag.length === 0) bag = shuffle(rng, kinds);
    const kind = bag.pop() as FaultKind;
    const [a, b] = shuffle(rng, brokers);
    const targets =
      kind === 'kill-controller' || kind === 'pause-controller' || kind === 'rolling-restart'
        ? []
        : kind === 'kill-two-brokers' || kind === 'partition-one-way'
          ? [a as number, b as number]
          : [a as number];
    faults.push({ id: faults.length + 1, kind, startMs: t, durationMs, brokers: targets });
    t += Math.max(1, durationMs + rng.int(quietMinMs, quietMaxMs + 1));
  }
  return faults;
}

function shuffle<T>(rng: SeededRandom, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** One line per fault, for the terminal and the history. */
export function describeFault(f: ScheduledFault): string {
  const who =
    f.kind === 'partition-one-way'
      ? ` (broker ${f.brokers[0]} stops hearing broker ${f.brokers[1]})`
      : f.brokers.length > 0
        ? ` brokers ${f.brokers.join(',')}`
        : '';
  return `#${f.id} ${f.kind}${who} at ${(f.startMs / 1000).toFixed(1)} s for ${(f.durationMs / 1000).toFixed(1)} s`;
}
