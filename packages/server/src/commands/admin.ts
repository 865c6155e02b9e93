// The admin commands, after Kafka's kafka-topics.sh, kafka-configs.sh,
// kafka-leader-election.sh and kafka-cluster.sh: `raftka topics
// create|delete|describe|list|alter`, `raftka configs describe|alter`,
// `raftka cluster describe`, `raftka elect-leaders`. They talk to the
// controllers' Admin service through AdminClient (any controller will do: a
// standby forwards to the active one), default to the local cluster's
// controllers, print aligned tables, or with --json one JSON object.
//
// Per-item errors (TOPIC_ALREADY_EXISTS for one of three topics) are printed
// with Kafka's error name and code and make the command exit 1, like Kafka's
// tools; the other items still succeed.
import type { ApiError, ConfigResource, ElectLeadersRequest, TopicDescription, TopicPartition } from '@raftka/metadata';
// Types only: the gRPC client loads when a command runs, so `raftka config docs` stays light.
import type { AdminClient, ClusterDescription } from '@raftka/transport';
import { type Command, Option } from 'commander';

export const DEFAULT_BOOTSTRAP = '127.0.0.1:19091,127.0.0.1:19092,127.0.0.1:19093';

export interface AdminIo {
  out: (text: string) => void;
  /** Set when a per-item error was printed: the command then exits 1. */
  failed: boolean;
}

interface CommonOptions {
  bootstrap: string;
  clusterId: string;
  json?: boolean;
  timeoutMs: number;
}

/** Aligned columns, header first; every cell is already text. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function errorText(error: ApiError | null): string {
  return error === null ? '' : `${error.errorName} (${error.code}): ${error.message}`;
}

const list = (values: readonly number[]) => values.join(',');

export function formatTopics(topics: readonly TopicDescription[]): string {
  const rows: string[][] = [];
  for (const t of topics) {
    if (t.error !== null) {
      rows.push([t.name, '-', '-', '-', '-', '-', '-', errorText(t.error)]);
      continue;
    }
    for (const p of t.partitions) {
      rows.push([
        t.name,
        String(p.partition),
        p.leader < 0 ? 'none' : String(p.leader),
        String(p.leaderEpoch),
        list(p.replicas),
        list(p.isr),
        list(p.offlineReplicas),
        '',
      ]);
    }
  }
  return formatTable(['TOPIC', 'PARTITION', 'LEADER', 'EPOCH', 'REPLICAS', 'ISR', 'OFFLINE', 'ERROR'], rows);
}

export function formatCluster(d: ClusterDescription): string {
  const brokers = formatTable(
    ['BROKER', 'STATE', 'RACK', 'EPOCH', 'ENDPOINTS', 'METADATA OFFSET'],
    d.brokers.map((b) => [
      String(b.brokerId),
      b.state,
      b.rack ?? '',
      String(b.brokerEpoch),
      b.endpoints.map((e) => `${e.name}://${e.host}:${e.port}`).join(','),
      String(b.metadataOffset),
    ]),
  );
  const controllers = formatTable(
    ['CONTROLLER', 'ENDPOINT', 'ROLE', 'LOG END OFFSET', 'LAG'],
    d.controllers.map((c) => [
      String(c.nodeId),
      `${c.host}:${c.port}`,
      c.leader ? 'active' : 'standby',
      String(c.logEndOffset),
      c.lag < 0 ? 'unknown' : String(c.lag),
    ]),
  );
  return [
    `cluster ${d.clusterId}: active controller ${d.controllerId}, epoch ${d.epoch}, high watermark ${d.highWatermark}`,
    '',
    brokers,
    '',
    controllers,
  ].join('\n');
}

/** `cluster describe --json`: the shape promised in docs/operations.md. */
export function clusterJson(d: ClusterDescription): object {
  return {
    clusterId: d.clusterId,
    controllerId: d.controllerId,
    epoch: d.epoch,
    highWatermark: d.highWatermark,
    brokers: d.brokers.map((b) => ({
      id: b.brokerId,
      state: b.state,
      rack: b.rack,
      epoch: b.brokerEpoch,
      endpoints: b.endpoints.map((e) => ({ name: e.name, host: e.host, port: e.port })),
    })),
    controllers: d.controllers.map((c) => ({
      id: c.nodeId,
      endpoint: `${c.host}:${c.port}`,
      leader: c.leader,
      epoch: d.epoch,
      logEndOffset: c.logEndOffset,
      lag: c.lag,
    })),
  };
}

function parseKeyValue(text: string, what: string): [string, string] {
  const i = text.indexOf('=');
  if (i <= 0) throw new Error(`${what} expects key=value, got "${text}"`);
  return [text.slice(0, i).trim(), text.slice(i + 1).trim()];
}

/** Kafka's --replica-assignment: partitions separated by commas, replicas by colons: "1:2:3,2:3:1". */
export function parseReplicaAssignment(text: string): number[][] {
  return text.split(',').map((p) =>
    p.split(':').map((id) => {
      const n = Number(id.trim());
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`"${id}" in --replica-assignment is not a broker id`);
      return n;
    }),
  );
}

async function client(o: CommonOptions): Promise<AdminClient> {
  const { AdminClient } = await import('@raftka/transport');
  return new AdminClient({
    clusterId: o.clusterId,
    bootstrapEndpoints: o.bootstrap
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    requestTimeoutMs: o.timeoutMs,
    retryTimeoutMs: o.timeoutMs,
  });
}

async function withClient<T>(o: CommonOptions, body: (admin: AdminClient) => Promise<T>): Promise<T> {
  const admin = await client(o);
  try {
    return await body(admin);
  } finally {
    admin.close();
  }
}

function print(io: AdminIo, o: CommonOptions, json: unknown, text: string): void {
  io.out(o.json ? JSON.stringify(json) : text);
}

/** Results with per-item errors: a table of name and outcome; exit 1 if any failed. */
function printOutcomes(
  io: AdminIo,
  o: CommonOptions,
  what: string,
  results: readonly { name: string; error: ApiError | null }[],
  json: unknown,
): void {
  if (results.some((r) => r.error !== null)) io.failed = true;
  print(
    io,
    o,
    json,
    formatTable(
      [what, 'RESULT'],
      results.map((r) => [r.name, r.error === null ? 'ok' : errorText(r.error)]),
    ),
  );
}

function resource(opts: { topic?: string; cluster?: boolean }): ConfigResource {
  if (opts.topic !== undefined && opts.cluster) throw new Error('give --topic or --cluster, not both');
  if (opts.topic !== undefined) return { resourceType: 'topic', resourceName: opts.topic };
  if (opts.cluster) return { resourceType: 'cluster', resourceName: '' };
  throw new Error('give --topic <name> or --cluster');
}

// --- Actions (exported for the tests) -------------------------------------------------

export async function topicsCreate(
  io: AdminIo,
  o: CommonOptions & { partitions: number; replicationFactor: number; config: string[]; replicaAssignment?: string },
  names: string[],
): Promise<void> {
  const configs = Object.fromEntries(o.config.map((c) => parseKeyValue(c, '--config')));
  const assignments = o.replicaAssignment ? parseReplicaAssignment(o.replicaAssignment) : undefined;
  const results = await withClient(o, (a) =>
    a.createTopics(
      names.map((name) => ({
        name,
        numPartitions: o.partitions,
        replicationFactor: o.replicationFactor,
        configs,
        ...(assignments ? { assignments } : {}),
      })),
    ),
  );
  if (results.some((r) => r.error !== null)) io.failed = true;
  print(
    io,
    o,
    { topics: results },
    formatTable(
      ['TOPIC', 'TOPIC ID', 'PARTITIONS', 'RF', 'RESULT'],
      results.map((r) => [
        r.name,
        r.topicId ?? '',
        r.error ? '' : String(r.numPartitions),
        r.error ? '' : String(r.replicationFactor),
        r.error === null ? 'created' : errorText(r.error),
      ]),
    ),
  );
}

export async function topicsDelete(io: AdminIo, o: CommonOptions, names: string[]): Promise<void> {
  const results = await withClient(o, (a) => a.deleteTopics(names));
  printOutcomes(io, o, 'TOPIC', results, { topics: results });
}

export async function topicsDescribe(io: AdminIo, o: CommonOptions, names: string[]): Promise<void> {
  const topics = await withClient(o, (a) => a.describeTopics(names.length === 0 ? null : names));
  if (topics.some((t) => t.error !== null)) io.failed = true;
  print(io, o, { topics }, formatTopics(topics));
}

export async function topicsList(io: AdminIo, o: CommonOptions): Promise<void> {
  const topics = await withClient(o, (a) => a.listTopics());
  print(
    io,
    o,
    { topics },
    formatTable(
      ['TOPIC', 'TOPIC ID'],
      topics.map((t) => [t.name, t.topicId]),
    ),
  );
}

export async function topicsAlter(io: AdminIo, o: CommonOptions & { partitions?: number }, name: string) {
  if (o.partitions === undefined) throw new Error('topics alter needs --partitions <total>');
  const count = o.partitions;
  const results = await withClient(o, (a) => a.createPartitions([{ name, count }]));
  printOutcomes(io, o, 'TOPIC', results, { topics: results });
}

export async function configsDescribe(io: AdminIo, o: CommonOptions & { topic?: string; cluster?: boolean }) {
  const [result] = await withClient(o, (a) => a.describeConfigs([resource(o)]));
  if (!result) throw new Error('no answer for the resource');
  if (result.error !== null) io.failed = true;
  const text =
    result.error !== null
      ? errorText(result.error)
      : formatTable(
          ['KEY', 'VALUE', 'SOURCE', 'UNIT'],
          result.entries.map((e) => [e.name, e.value, e.source, e.unit ?? '']),
        );
  print(io, o, result, text);
}

export async function configsAlter(
  io: AdminIo,
  o: CommonOptions & { topic?: string; cluster?: boolean; set: string[]; delete: string[]; validateOnly?: boolean },
) {
  const ops = [
    ...o.set.map((s) => {
      const [name, value] = parseKeyValue(s, '--set');
      return { name, op: 'set' as const, value };
    }),
    ...o.delete.map((name) => ({ name, op: 'delete' as const })),
  ];
  if (ops.length === 0) throw new Error('configs alter needs --set key=value or --delete key');
  const target = resource(o);
  const results = await withClient(o, (a) => a.alterConfigs([{ ...target, ops }], Boolean(o.validateOnly)));
  const named = results.map((r) => ({ name: r.resourceName === '' ? '(cluster)' : r.resourceName, error: r.error }));
  printOutcomes(io, o, 'RESOURCE', named, { results });
}

export async function clusterDescribe(io: AdminIo, o: CommonOptions): Promise<void> {
  const d = await withClient(o, (a) => a.describeCluster());
  print(io, o, clusterJson(d), formatCluster(d));
}

export async function electLeaders(
  io: AdminIo,
  o: CommonOptions & { preferred?: boolean; unclean?: boolean; topic?: string; partition?: number },
): Promise<void> {
  if (Boolean(o.preferred) === Boolean(o.unclean)) throw new Error('give --preferred or --unclean');
  if (o.partition !== undefined && o.topic === undefined) throw new Error('--partition needs --topic');
  let partitions: TopicPartition[] | null = null;
  if (o.topic !== undefined) {
    const topic = o.topic;
    if (o.partition !== undefined) partitions = [{ topic, partition: o.partition }];
    else {
      const [d] = await withClient(o, (a) => a.describeTopics([topic]));
      if (!d || d.error !== null) throw new Error(`topic ${topic}: ${errorText(d?.error ?? null)}`);
      partitions = d.partitions.map((p) => ({ topic, partition: p.partition }));
    }
  }
  const request: ElectLeadersRequest = { electionType: o.preferred ? 'preferred' : 'unclean', partitions };
  const results = await withClient(o, (a) => a.electLeaders(request));
  // ELECTION_NOT_NEEDED is no failure: the leader is already the one asked for.
  const failed = results.filter((r) => r.error !== null && r.error.errorName !== 'ELECTION_NOT_NEEDED');
  if (failed.length > 0) io.failed = true;
  const elected = results.filter((r) => r.error === null).length;
  const text = [
    `${elected} leader(s) elected, ${results.length - elected - failed.length} already in place, ${failed.length} failed`,
    ...(failed.length > 0
      ? [
          '',
          formatTable(
            ['TOPIC', 'PARTITION', 'ERROR'],
            failed.map((r) => [r.topic, String(r.partition), errorText(r.error)]),
          ),
        ]
      : []),
  ].join('\n');
  print(io, o, { results }, text);
}

// --- Commander wiring ------------------------------------------------------------------

const collect = (value: string, previous: string[]) => [...previous, value];
const int = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`"${v}" is not an integer`);
  return n;
};

function common(command: Command): Command {
  return command
    .addOption(
      new Option('--bootstrap <host:port,...>', 'controllers to ask (any one will do)').default(DEFAULT_BOOTSTRAP),
    )
    .option('--cluster-id <id>', 'cluster id carried on every request', 'raftka-local')
    .option('--json', 'print one JSON object instead of a table')
    .option('--timeout-ms <ms>', 'give up after this long', int, 15_000);
}

function run<A extends unknown[]>(body: (io: AdminIo, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const io: AdminIo = { out: (t) => process.stdout.write(`${t}\n`), failed: false };
    await body(io, ...args);
    if (io.failed) process.exitCode = 1;
  };
}

export function registerAdminCommands(program: Command): void {
  const topics = program.command('topics').description('create, delete, describe, list and alter topics');
  common(topics.command('create <names...>').description('create topics'))
    .option('--partitions <n>', 'partition count (-1: the cluster default num.partitions)', int, -1)
    .option('--replication-factor <n>', 'replicas per partition (-1: default.replication.factor)', int, -1)
    .option('--config <key=value>', 'topic config (repeatable)', collect, [])
    .option('--replica-assignment <list>', 'explicit replicas, e.g. 1:2:3,2:3:1 (partition 0 first)')
    .action(run((io, names: string[], opts) => topicsCreate(io, opts, names)));
  common(topics.command('delete <names...>').description('delete topics')).action(
    run((io, names: string[], opts) => topicsDelete(io, opts, names)),
  );
  common(topics.command('describe [names...]').description('partitions, leaders, ISR (every topic by default)')).action(
    run((io, names: string[], opts) => topicsDescribe(io, opts, names)),
  );
  common(topics.command('list').description('topic names and ids')).action(run((io, opts) => topicsList(io, opts)));
  common(topics.command('alter <name>').description('raise the partition count'))
    .option('--partitions <n>', 'the new total partition count', int)
    .action(run((io, name: string, opts) => topicsAlter(io, opts, name)));

  const configs = program.command('configs').description('describe and alter topic and cluster configs');
  common(configs.command('describe').description('every config key with its value and source'))
    .option('--topic <name>', 'a topic')
    .option('--cluster', 'the cluster defaults')
    .action(run((io, opts) => configsDescribe(io, opts)));
  common(configs.command('alter').description('set or delete keys (incremental)'))
    .option('--topic <name>', 'a topic')
    .option('--cluster', 'the cluster defaults')
    .option('--set <key=value>', 'set a key (repeatable)', collect, [])
    .option('--delete <key>', 'delete a key, back to the default (repeatable)', collect, [])
    .option('--validate-only', 'check only, change nothing')
    .action(run((io, opts) => configsAlter(io, opts)));

  const cluster = program.command('cluster').description('the cluster as the active controller sees it');
  common(cluster.command('describe').description('brokers (state, rack, epoch, endpoints) and controllers')).action(
    run((io, opts) => clusterDescribe(io, opts)),
  );

  common(program.command('elect-leaders').description('preferred or unclean leader elections'))
    .option('--preferred', 'move leadership to the first replica where it is in the ISR')
    .option('--unclean', 'elect a replica outside the ISR for offline partitions (may lose data)')
    .option('--topic <name>', 'only this topic (default: every partition)')
    .option('--partition <n>', 'only this partition of --topic', int)
    .action(run((io, opts) => electLeaders(io, opts)));
}
