// `raftka produce`, after kafka-console-producer.sh: one record per line of
// stdin (or --file), the key before --key-separator when given, sent with
// @raftka/client's Producer; prints a summary (records per partition, offset
// ranges, failures) when the input ends, or one JSON object with --json.
// Failed records are counted and the first errors printed with Kafka's error
// names; the command then exits 1.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { RecordMetadata } from '@raftka/client';
import { isRaftkaError } from '@raftka/common';
import { type Command, Option } from 'commander';

/** The local cluster's brokers (client listeners). */
export const DEFAULT_BROKER_BOOTSTRAP = '127.0.0.1:19291,127.0.0.1:19292,127.0.0.1:19293';

export interface ProduceOptions {
  bootstrap: string;
  topic: string;
  keySeparator?: string;
  acks: string;
  file?: string;
  producerProperty: string[];
  json?: boolean;
}

export interface ProduceSummary {
  topic: string;
  sent: number;
  failed: number;
  /** partition -> [first offset, last offset] acknowledged (-1 with acks=0). */
  partitions: Record<string, { records: number; firstOffset: number; lastOffset: number }>;
  errors: string[];
}

export interface CommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** There is no auto-creation: say so at once instead of after max.block.ms. */
async function checkTopicExists(topic: string, producer: import('@raftka/client').Producer): Promise<void> {
  const layout = await producer.partitionsFor(topic).catch(() => undefined);
  if (layout === undefined) {
    throw new Error(`topic ${topic} does not exist (create it with: raftka topics create ${topic})`);
  }
}

/** Outstanding sends before reading on: a file of millions of lines is streamed, not held. */
const MAX_OUTSTANDING = 10_000;

export async function runProduce(o: ProduceOptions, io: CommandIo, stdin: Readable = process.stdin) {
  const { Producer } = await import('@raftka/client');
  const config: Record<string, string> = { acks: o.acks };
  if (o.acks !== 'all' && o.acks !== '-1') config['enable.idempotence'] = 'false';
  for (const p of o.producerProperty) {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`--producer-property expects key=value, got "${p}"`);
    config[p.slice(0, i).trim()] = p.slice(i + 1).trim();
  }
  const producer = new Producer({
    bootstrap: (o.bootstrap || DEFAULT_BROKER_BOOTSTRAP).split(','),
    config: { 'max.block.ms': 15_000, ...config },
  });
  const summary: ProduceSummary = { topic: o.topic, sent: 0, failed: 0, partitions: {}, errors: [] };
  const onAck = (md: RecordMetadata): void => {
    summary.sent++;
    const key = String(md.partition);
    const p = summary.partitions[key] ?? { records: 0, firstOffset: md.offset, lastOffset: md.offset };
    summary.partitions[key] = p;
    p.records++;
    if (md.offset >= 0) {
      p.firstOffset = p.firstOffset < 0 ? md.offset : Math.min(p.firstOffset, md.offset);
      p.lastOffset = Math.max(p.lastOffset, md.offset);
    }
  };
  const onError = (err: unknown): void => {
    summary.failed++;
    if (summary.errors.length < 5)
      summary.errors.push(isRaftkaError(err) ? `${err.errorName}: ${err.message}` : String(err));
  };
  try {
    await producer.connect();
    await checkTopicExists(o.topic, producer);
    const input = o.file !== undefined ? createReadStream(o.file) : stdin;
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    let outstanding = 0;
    let drained: (() => void) | undefined;
    const settle = (): void => {
      outstanding--;
      if (drained !== undefined && outstanding < MAX_OUTSTANDING / 2) {
        drained();
        drained = undefined;
      }
    };
    for await (const line of lines) {
      let key: string | null = null;
      let value = line;
      if (o.keySeparator !== undefined && o.keySeparator !== '') {
        const i = line.indexOf(o.keySeparator);
        if (i >= 0) {
          key = line.slice(0, i);
          value = line.slice(i + o.keySeparator.length);
        }
      }
      outstanding++;
      producer.send({ topic: o.topic, key, value }).then(
        (md) => {
          onAck(md);
          settle();
        },
        (err: unknown) => {
          onError(err);
          settle();
        },
      );
      if (outstanding >= MAX_OUTSTANDING) await new Promise<void>((r) => (drained = r));
    }
    await producer.flush();
    while (outstanding > 0) await new Promise<void>((r) => (drained = r));
  } finally {
    await producer.close().catch(() => {});
  }
  if (o.json) io.out(JSON.stringify(summary));
  else {
    const parts = Object.entries(summary.partitions)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([p, s]) =>
        s.firstOffset < 0 ? `${p}: ${s.records}` : `${p}: ${s.records} (offsets ${s.firstOffset}-${s.lastOffset})`,
      );
    io.out(`${summary.sent} record(s) sent to ${o.topic}${summary.failed > 0 ? `, ${summary.failed} failed` : ''}`);
    if (parts.length > 0) io.out(`partitions: ${parts.join(', ')}`);
  }
  for (const e of summary.errors) io.err(`error: ${e}`);
  return summary;
}

// --- Commander wiring (produce, consume, perf produce, perf consume) -----------------------

const collect = (value: string, previous: string[]) => [...previous, value];
const int = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`"${v}" is not an integer`);
  return n;
};
const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`"${v}" is not a number`);
  return n;
};

const stdio: CommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function bootstrapOption(): Option {
  return new Option('--bootstrap <host:port,...>', 'brokers to start from (any one will do)').default(
    DEFAULT_BROKER_BOOTSTRAP,
  );
}

export function registerDataPlaneCommands(program: Command): void {
  program
    .command('produce')
    .description('send one record per line of stdin (or --file); key before --key-separator when given')
    .addOption(bootstrapOption())
    .requiredOption('--topic <name>', 'topic to write to')
    .option('--key-separator <sep>', 'split each line into key and value at the first <sep>')
    .addOption(new Option('--acks <acks>', 'all, 1 or 0').choices(['all', '-1', '1', '0']).default('all'))
    .option('--file <path>', 'read lines from this file instead of stdin')
    .option('--producer-property <key=value>', 'a producer config key (repeatable), e.g. linger.ms=10', collect, [])
    .option('--json', 'print the summary as one JSON object')
    .action(async (opts: ProduceOptions) => {
      const summary = await runProduce(opts, stdio);
      if (summary.failed > 0) process.exitCode = 1;
    });

  program
    .command('consume')
    .description('print records: partition, offset, key and value (tab-separated), or JSON lines')
    .addOption(bootstrapOption())
    .requiredOption('--topic <name>', 'topic to read')
    .option('--from-beginning', 'start at the earliest offset (default: the end)')
    .option('--offset <n>', 'start at this offset (on every chosen partition)', int)
    .option('--timestamp <ms>', 'start at the first record at or after this time (ms since the epoch)', int)
    .option('--partition <p>', 'read only this partition', int)
    .option('--max-messages <n>', 'exit after this many records', int)
    .option('--timeout-ms <ms>', 'exit after this long without a record', int)
    .option('--consumer-property <key=value>', 'a consumer config key (repeatable)', collect, [])
    .option('--json', 'one JSON object per record')
    .action(async (opts) => {
      const { runConsume } = await import('./consume.js');
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      await runConsume(opts, stdio, abort.signal);
    });

  const perf = program
    .command('perf')
    .description("load generators in the spirit of Kafka's kafka-producer-perf-test and kafka-consumer-perf-test");
  perf
    .command('produce')
    .description('write records as fast as possible (or --throughput) and report records/s, MB/s and latency')
    .addOption(bootstrapOption())
    .option('--admin-bootstrap <host:port,...>', 'Admin service endpoints for topic creation (default: --bootstrap)')
    .option('--topic <name>', 'topic (created when missing)', 'perf')
    .option('--partitions <n>', 'partitions of a created topic', int, 6)
    .option('--replication-factor <n>', 'replication factor of a created topic', int, 3)
    .option('--min-insync-replicas <n>', 'min.insync.replicas of a created topic', int, 2)
    .addOption(new Option('--acks <acks>', 'all, 1 or 0').choices(['all', '-1', '1', '0']).default('all'))
    .option('--record-size <bytes>', 'bytes per record value', int, 1024)
    .option('--duration <s>', 'seconds to run', num, 20)
    .option('--num-records <n>', 'stop after this many records instead', int, 0)
    .option('--throughput <n>', 'cap in records/s (-1: no cap)', num, -1)
    .option('--producers <n>', 'producer instances in this process', int, 1)
    .option(
      '--batch-size <bytes>',
      "batch.size (under the brokers' max.message.bytes, 1048588 by default)",
      int,
      1_000_000,
    )
    .option('--linger-ms <ms>', 'linger.ms', int, 5)
    .option('--buffer-memory <bytes>', 'buffer.memory (bounds records outstanding)', int, 33_554_432)
    .option('--compression <type>', 'compression.type', 'none')
    .option('--producer-property <key=value>', 'any other producer config key (repeatable)', collect, [])
    .option(
      '--in-flight-per-partition <n>',
      'batches of one partition in flight (1-5; requests stay ordered per broker)',
      int,
      5,
    )
    .option('--reporting-interval-ms <ms>', 'progress line interval', int, 5000)
    .option('--no-create', 'do not create the topic (it exists)')
    .option('--json', 'print one JSON object as the last line')
    .action(async (opts) => {
      const { runPerfProduce } = await import('./perf.js');
      const result = await runPerfProduce({ ...opts, noCreate: opts.create === false }, stdio);
      if (opts.json) stdio.out(JSON.stringify(result));
      if (result.errors > 0) process.exitCode = 1;
    });
  perf
    .command('consume')
    .description('read a topic from the beginning as fast as possible and report records/s and MB/s')
    .addOption(bootstrapOption())
    .option('--topic <name>', 'topic', 'perf')
    .option('--messages <n>', 'stop after this many records', int, 0)
    .option('--duration <s>', 'stop after this many seconds', num, 0)
    .option('--timeout-ms <ms>', 'stop after this long without a record', int, 5000)
    .option('--from-latest', 'start at the end (measure live traffic and its end-to-end latency)')
    .option('--fetch-max-bytes <bytes>', 'fetch.max.bytes', int, 52_428_800)
    .option('--max-partition-fetch-bytes <bytes>', 'max.partition.fetch.bytes', int, 4_194_304)
    .option('--fetch-max-wait-ms <ms>', 'fetch.max.wait.ms', int, 500)
    .option('--consumer-property <key=value>', 'any other consumer config key (repeatable)', collect, [])
    .option('--reporting-interval-ms <ms>', 'progress line interval', int, 5000)
    .option('--json', 'print one JSON object as the last line')
    .action(async (opts) => {
      const { runPerfConsume } = await import('./perf.js');
      const result = await runPerfConsume(opts, stdio);
      if (opts.json) stdio.out(JSON.stringify(result));
    });
}
