// `raftka consume`, after kafka-console-consumer.sh: assigns every partition
// of --topic (or just --partition), starts at the end by default, at the
// beginning with --from-beginning, at --offset (on each chosen partition) or
// at the first record at or after --timestamp, and prints one line per
// record: partition, offset, key and value, tab-separated, or one JSON
// object per record with --json. Stops after --max-messages, after
// --timeout-ms without a record, or on Ctrl-C; prints the count to stderr.
import type { ConsumerRecord, SeekTarget } from '@raftka/client';
import { type CommandIo, DEFAULT_BROKER_BOOTSTRAP } from './produce.js';

export interface ConsumeOptions {
  bootstrap: string;
  topic: string;
  fromBeginning?: boolean;
  offset?: number;
  timestamp?: number;
  partition?: number;
  maxMessages?: number;
  /** Exit after this long without a record; absent: wait forever. */
  timeoutMs?: number;
  json?: boolean;
  consumerProperty: string[];
}

function text(b: Buffer | null): string | null {
  return b === null ? null : b.toString('utf8');
}

export function formatRecord(r: ConsumerRecord, json: boolean): string {
  if (json) {
    return JSON.stringify({
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      timestamp: r.timestamp,
      key: text(r.key),
      value: text(r.value),
      headers: Object.fromEntries(r.headers.map((h) => [h.key, text(h.value)])),
    });
  }
  return `${r.partition}\t${r.offset}\t${text(r.key) ?? 'null'}\t${text(r.value) ?? 'null'}`;
}

export async function runConsume(o: ConsumeOptions, io: CommandIo, signal?: AbortSignal): Promise<number> {
  const given = [o.fromBeginning, o.offset !== undefined, o.timestamp !== undefined].filter(Boolean).length;
  if (given > 1) throw new Error('give at most one of --from-beginning, --offset, --timestamp');
  const { Admin, Consumer } = await import('@raftka/client');
  const bootstrap = (o.bootstrap || DEFAULT_BROKER_BOOTSTRAP).split(',');
  const admin = new Admin({ bootstrap });
  let partitions: number[];
  try {
    const md = await admin.metadata([o.topic]);
    const t = md.topics.find((x) => x.name === o.topic);
    if (t === undefined || t.error !== null) throw new Error(`topic ${o.topic}: ${t?.error ?? 'not found'}`);
    partitions = t.partitions.filter((p) => p !== undefined).map((p) => p.partition);
  } finally {
    await admin.close();
  }
  if (o.partition !== undefined) {
    if (!partitions.includes(o.partition)) throw new Error(`topic ${o.topic} has no partition ${o.partition}`);
    partitions = [o.partition];
  }
  const config: Record<string, string> = {};
  for (const p of o.consumerProperty) {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`--consumer-property expects key=value, got "${p}"`);
    config[p.slice(0, i).trim()] = p.slice(i + 1).trim();
  }
  const consumer = new Consumer({ bootstrap, config });
  let count = 0;
  try {
    const tps = partitions.map((partition) => ({ topic: o.topic, partition }));
    consumer.assign(tps);
    const target: SeekTarget = o.fromBeginning
      ? 'earliest'
      : o.offset !== undefined
        ? { offset: o.offset }
        : o.timestamp !== undefined
          ? { timestamp: o.timestamp }
          : 'latest';
    for (const tp of tps) await consumer.seek(tp, target);
    let lastRecordMs = Date.now();
    const max = o.maxMessages ?? Number.POSITIVE_INFINITY;
    while (count < max && !signal?.aborted) {
      if (o.timeoutMs !== undefined && Date.now() - lastRecordMs >= o.timeoutMs) break;
      const waitMs = o.timeoutMs !== undefined ? Math.min(500, o.timeoutMs) : 500;
      const records = await consumer.poll(waitMs);
      if (records.length > 0) lastRecordMs = Date.now();
      for (const r of records) {
        if (count >= max) break;
        io.out(formatRecord(r, Boolean(o.json)));
        count++;
      }
    }
  } finally {
    await consumer.close();
  }
  io.err(`Processed a total of ${count} messages`);
  return count;
}
