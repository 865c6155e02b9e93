// The chaos checker: a pure function from a history (and, optionally, the
// replicas' batch CRCs) to a verdict per check. It follows Jepsen's queue
// checker (jepsen.tests.kafka) for one topic whose partitions are the keys:
// values are unique per run, so a value names its write, and the "version
// order" of a partition is rebuilt from every offset anybody observed (reads
// of any poll, offsets of acknowledged sends). No IO here, so every anomaly
// can be planted in a synthetic history and shown to be caught.
import type { HistoryOp, ReadRecord } from './history.js';

export type CheckName =
  | 'lost'
  | 'duplicate'
  | 'inconsistent-offsets'
  | 'poll-skip'
  | 'nonmonotonic-poll'
  | 'nonmonotonic-send'
  | 'unexpected'
  | 'drain-incomplete'
  | 'replica-divergence'
  | 'recovered';

export interface CheckVerdict {
  name: CheckName;
  /** False when the check found an anomaly (informational checks are always ok). */
  ok: boolean;
  /** How many anomalies (or, for `recovered`, how many values). */
  count: number;
  /** A few concrete cases, for the reader. */
  examples: string[];
  /** What the check means, one line. */
  description: string;
  /** Informational: reported, never a failure. */
  informational?: boolean;
}

export interface ReplicaBatch {
  baseOffset: number;
  lastOffset: number;
  /** The batch's stored CRC-32C (covers attributes through records). */
  crc: number;
  /** The partition leader epoch stamped by the leader that appended it (outside the CRC). */
  leaderEpoch?: number;
}

export interface CheckInput {
  ops: readonly HistoryOp[];
  /**
   * The high watermark of each partition when the final drain started: the
   * drain must have read up to it, and replicas must agree below it.
   */
  endOffsets?: ReadonlyMap<number, number>;
  /** Per partition, per broker id: the batches of that replica's log, in offset order. */
  replicas?: ReadonlyMap<number, ReadonlyMap<number, readonly ReplicaBatch[]>>;
}

export interface CheckStats {
  sendsOk: number;
  sendsFailed: number;
  sendsUnknown: number;
  polls: number;
  valuesRead: number;
  drainedValues: number;
  /**
   * Availability: the longest stretch (ms) in which some partition
   * acknowledged no write, between its first and last acknowledged write.
   */
  longestAckGapMs: number;
}

export interface CheckResult {
  valid: boolean;
  verdicts: CheckVerdict[];
  stats: CheckStats;
}

const MAX_EXAMPLES = 8;

const DESCRIPTIONS: Record<CheckName, string> = {
  lost: 'acknowledged (acks=all) writes absent from the final drain',
  duplicate: 'values found at more than one offset (idempotence is on)',
  'inconsistent-offsets': 'offsets that held different values in different observations',
  'poll-skip': 'a consumer jumped over offsets that hold values',
  'nonmonotonic-poll': 'a consumer read an offset at or below one it had already read',
  'nonmonotonic-send': "a producer's later acknowledged send got a lower offset in the same partition",
  unexpected: 'values read that were never sent (to that partition)',
  'drain-incomplete': 'partitions the final drain did not read up to the high watermark',
  'replica-divergence': 'replicas whose batches below the high watermark differ (CRC, boundaries or missing)',
  recovered: 'writes that failed or timed out but were read anyway (allowed)',
};

class Collector {
  count = 0;
  readonly examples: string[] = [];
  add(example: string, n = 1): void {
    this.count += n;
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(example);
  }
}

function verdict(name: CheckName, c: Collector, informational = false): CheckVerdict {
  return {
    name,
    ok: informational || c.count === 0,
    count: c.count,
    examples: c.examples,
    description: DESCRIPTIONS[name],
    ...(informational ? { informational } : {}),
  };
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/** Checks a history; see DESCRIPTIONS for what each check means. */
export function checkHistory(input: CheckInput): CheckResult {
  const { ops } = input;
  // Completions carry their partition and value, so a producer may have
  // many sends in flight (unlike Jepsen's one op per process); a send's
  // place in its producer's order is its invoke's index.
  const attempted = new Map<number, Map<string, number>>(); // partition -> value -> invoke index
  const acked = new Map<number, Map<string, HistoryOp>>(); // partition -> value -> ok completion
  const uncertain = new Map<number, Map<string, 'fail' | 'info'>>(); // partition -> value -> outcome
  const offsetValues = new Map<number, Map<number, Set<string>>>(); // partition -> offset -> values
  const valueOffsets = new Map<number, Map<string, Set<number>>>(); // partition -> value -> offsets
  const readValues = new Map<number, Set<string>>(); // partition -> every value read
  const drained = new Map<number, Set<string>>();
  const drainedMaxOffset = new Map<number, number>();
  const sendsByProcess = new Map<number, Array<{ partition: number; offset: number; value: string; order: number }>>();
  const pollsByProcess = new Map<number, ReadRecord[][]>();
  const stats: CheckStats = {
    sendsOk: 0,
    sendsFailed: 0,
    sendsUnknown: 0,
    polls: 0,
    valuesRead: 0,
    drainedValues: 0,
    longestAckGapMs: 0,
  };
  const lastAckMs = new Map<number, number>();
  let sawDrain = false;

  const observe = (partition: number, offset: number, value: string) => {
    getOrCreate(
      getOrCreate(offsetValues, partition, () => new Map()),
      offset,
      () => new Set(),
    ).add(value);
    getOrCreate(
      getOrCreate(valueOffsets, partition, () => new Map()),
      value,
      () => new Set(),
    ).add(offset);
  };

  for (const op of ops) {
    if (op.f === 'nemesis') continue;
    if (op.type === 'invoke') {
      if (op.f === 'send' && op.partition !== undefined && op.value !== undefined) {
        getOrCreate(attempted, op.partition, () => new Map()).set(op.value, op.index);
      }
      continue;
    }
    if (op.f === 'send') {
      const { partition, value } = op;
      if (partition === undefined || value === undefined) continue;
      if (op.type === 'ok') {
        stats.sendsOk++;
        const last = lastAckMs.get(partition);
        if (last !== undefined) stats.longestAckGapMs = Math.max(stats.longestAckGapMs, op.time - last);
        lastAckMs.set(partition, Math.max(last ?? op.time, op.time));
        getOrCreate(acked, partition, () => new Map()).set(value, op);
        if (op.offset !== undefined && op.offset >= 0) {
          observe(partition, op.offset, value);
          const order = attempted.get(partition)?.get(value) ?? op.index;
          getOrCreate(sendsByProcess, op.process, () => []).push({ partition, offset: op.offset, value, order });
        }
      } else {
        if (op.type === 'fail') stats.sendsFailed++;
        else stats.sendsUnknown++;
        getOrCreate(uncertain, partition, () => new Map()).set(value, op.type);
      }
      continue;
    }
    // poll or drain: reads of any completion type are observations (a read
    // that timed out afterwards still saw what it saw), but only ok polls
    // count for the consumer-order checks, as in Jepsen.
    const reads = op.reads ?? [];
    for (const [partition, offset, value] of reads) {
      observe(partition, offset, value);
      getOrCreate(readValues, partition, () => new Set()).add(value);
      stats.valuesRead++;
      if (op.f === 'drain') {
        getOrCreate(drained, partition, () => new Set()).add(value);
        drainedMaxOffset.set(partition, Math.max(drainedMaxOffset.get(partition) ?? -1, offset));
        stats.drainedValues++;
      }
    }
    if (op.f === 'drain') sawDrain = true;
    if (op.type === 'ok') {
      stats.polls++;
      getOrCreate(pollsByProcess, op.process, () => []).push(reads);
    }
  }

  // inconsistent offsets and duplicates
  const inconsistent = new Collector();
  for (const [partition, byOffset] of offsetValues) {
    for (const [offset, values] of byOffset) {
      if (values.size > 1) inconsistent.add(`p${partition}@${offset}: ${[...values].join(', ')}`);
    }
  }
  const duplicate = new Collector();
  for (const [partition, byValue] of valueOffsets) {
    for (const [value, offsets] of byValue) {
      if (offsets.size > 1) {
        duplicate.add(
          `p${partition} ${value} at offsets ${[...offsets].sort((a, b) => a - b).join(', ')}`,
          offsets.size - 1,
        );
      }
    }
  }

  // The dense index of each offset known to hold a value: consumers must
  // advance by exactly one index per record.
  const denseIndex = new Map<number, Map<number, number>>();
  for (const [partition, byOffset] of offsetValues) {
    const sorted = [...byOffset.keys()].sort((a, b) => a - b);
    denseIndex.set(partition, new Map(sorted.map((o, i) => [o, i])));
  }
  const skip = new Collector();
  const backwards = new Collector();
  for (const [process, polls] of pollsByProcess) {
    const last = new Map<number, number>(); // partition -> last offset read
    for (const reads of polls) {
      for (const [partition, offset] of reads) {
        const prev = last.get(partition);
        last.set(partition, offset);
        if (prev === undefined) continue;
        const index = denseIndex.get(partition);
        const delta = (index?.get(offset) ?? 0) - (index?.get(prev) ?? 0);
        if (delta > 1) skip.add(`process ${process} p${partition}: ${prev} -> ${offset} (skipped ${delta - 1})`);
        else if (delta < 1) backwards.add(`process ${process} p${partition}: ${prev} -> ${offset}`);
      }
    }
  }

  const nonmonotonicSend = new Collector();
  for (const [process, sends] of sendsByProcess) {
    const last = new Map<number, { offset: number; value: string }>();
    for (const s of [...sends].sort((a, b) => a.order - b.order)) {
      const prev = last.get(s.partition);
      if (prev !== undefined && s.offset <= prev.offset) {
        nonmonotonicSend.add(
          `process ${process} p${s.partition}: ${prev.value}@${prev.offset} then ${s.value}@${s.offset}`,
        );
      }
      last.set(s.partition, s);
    }
  }

  const unexpected = new Collector();
  for (const [partition, values] of readValues) {
    const sent = attempted.get(partition);
    for (const v of values) if (!sent?.has(v)) unexpected.add(`p${partition} ${v}`);
  }

  // Lost: with a final drain, an acknowledged write must be in it (even one
  // some consumer read earlier: a read value that vanished was truncated).
  const lost = new Collector();
  const survivors = sawDrain ? drained : readValues;
  for (const [partition, values] of acked) {
    const seen = survivors.get(partition);
    for (const [value, op] of values) {
      if (!seen?.has(value))
        lost.add(`p${partition} ${value}${op.offset === undefined ? '' : ` (acked at offset ${op.offset})`}`);
    }
  }

  const recovered = new Collector();
  for (const [partition, values] of uncertain) {
    const seen = readValues.get(partition);
    for (const [value, outcome] of values) {
      if (seen?.has(value) && !acked.get(partition)?.has(value)) recovered.add(`p${partition} ${value} (${outcome})`);
    }
  }

  const drainIncomplete = new Collector();
  if (input.endOffsets !== undefined) {
    for (const [partition, end] of input.endOffsets) {
      const reached = (drainedMaxOffset.get(partition) ?? -1) + 1;
      if (reached < end) drainIncomplete.add(`p${partition}: drained to ${reached}, high watermark ${end}`);
    }
  }

  const verdicts: CheckVerdict[] = [
    verdict('lost', lost),
    verdict('duplicate', duplicate),
    verdict('inconsistent-offsets', inconsistent),
    verdict('poll-skip', skip),
    verdict('nonmonotonic-poll', backwards),
    verdict('nonmonotonic-send', nonmonotonicSend),
    verdict('unexpected', unexpected),
    ...(input.endOffsets === undefined ? [] : [verdict('drain-incomplete', drainIncomplete)]),
  ];
  if (input.replicas !== undefined) {
    verdicts.push(checkReplicas(input.replicas, input.endOffsets ?? new Map()));
  }
  verdicts.push(verdict('recovered', recovered, true));
  return { valid: verdicts.every((v) => v.ok), verdicts, stats };
}

/**
 * Replica logs agree below the high watermark: the same batches (base
 * offset, last offset, CRC) in every replica, and each replica holds them
 * all. With no known high watermark for a partition, the shortest replica's
 * end is used, which only compares the common prefix.
 */
export function checkReplicas(
  replicas: ReadonlyMap<number, ReadonlyMap<number, readonly ReplicaBatch[]>>,
  endOffsets: ReadonlyMap<number, number>,
): CheckVerdict {
  const c = new Collector();
  for (const [partition, byBroker] of [...replicas].sort((a, b) => a[0] - b[0])) {
    const brokers = [...byBroker.keys()].sort((a, b) => a - b);
    if (brokers.length < 2) continue;
    const logEnd = (batches: readonly ReplicaBatch[]) =>
      batches.length === 0 ? 0 : (batches.at(-1)?.lastOffset ?? -1) + 1;
    const hw =
      endOffsets.get(partition) ?? Math.min(...brokers.map((b) => logEnd(byBroker.get(b) as readonly ReplicaBatch[])));
    const below = (b: number) => (byBroker.get(b) ?? []).filter((x) => x.baseOffset < hw);
    const reference = brokers[0] as number;
    const ref = below(reference);
    for (const b of brokers) {
      const log = below(b);
      if (logEnd(log) < hw) {
        c.add(`p${partition} broker ${b}: log ends at ${logEnd(log)}, below the high watermark ${hw}`);
        continue;
      }
      if (b === reference) continue;
      const n = Math.max(log.length, ref.length);
      for (let i = 0; i < n; i++) {
        const x = ref[i];
        const y = log[i];
        if (
          x?.baseOffset !== y?.baseOffset ||
          x?.lastOffset !== y?.lastOffset ||
          x?.crc !== y?.crc ||
          x?.leaderEpoch !== y?.leaderEpoch
        ) {
          const show = (z: ReplicaBatch | undefined) =>
            z === undefined
              ? 'nothing'
              : `[${z.baseOffset}..${z.lastOffset}] crc ${z.crc.toString(16)}${z.leaderEpoch === undefined ? '' : ` epoch ${z.leaderEpoch}`}`;
          c.add(`p${partition} brokers ${reference} vs ${b}: batch ${i}: ${show(x)} vs ${show(y)}`);
          break;
        }
      }
    }
  }
  return verdict('replica-divergence', c);
}

/** The verdicts as an aligned table with examples, for the terminal. */
export function formatVerdicts(result: CheckResult): string {
  const lines: string[] = [];
  const s = result.stats;
  lines.push(
    `history: ${s.sendsOk} sends ok, ${s.sendsFailed} failed, ${s.sendsUnknown} unknown; ` +
      `${s.polls} polls read ${s.valuesRead} values (${s.drainedValues} in the final drain); ` +
      `longest stretch without an acknowledged write to a partition ${(s.longestAckGapMs / 1000).toFixed(1)} s`,
  );
  for (const v of result.verdicts) {
    const status = v.informational ? 'INFO' : v.ok ? 'PASS' : 'FAIL';
    lines.push(`${status.padEnd(5)}${v.name.padEnd(22)}${String(v.count).padStart(8)}  ${v.description}`);
    for (const e of v.examples) lines.push(`        ${e}`);
  }
  lines.push(result.valid ? 'VALID: no anomaly found' : 'INVALID: anomalies found (see FAIL lines)');
  return lines.join('\n');
}
