// Node configuration: Kafka-style `key=value` properties from a file and from
// `--override key=value` flags, validated against one schema. The schema is
// the single source of truth for names, types, defaults and units: the
// validator, `raftka config keys` and docs/configuration.md all read it, so a
// key cannot be documented one way and parsed another.
//
// Keys use Kafka's names where Kafka has one. Raftka-only keys say so in their
// description. Bad or missing values fail fast with one message listing every
// problem, before the node touches its data directory.
import { join } from 'node:path';
import { RaftkaError } from '@raftka/common';
import { CONFIG_SCHEMA as METADATA_CONFIG_SCHEMA, validateConfigValue } from '@raftka/metadata';

export type ConfigType = 'int' | 'string' | 'list' | 'boolean' | 'voters' | 'roles';

export interface ConfigKey {
  name: string;
  type: ConfigType;
  /** undefined = required. null = optional with no value. */
  default: string | number | boolean | null | undefined;
  unit?: 'ms' | 'bytes' | 'count';
  min?: number;
  max?: number;
  /** Applies to which role's processes. */
  roles: Array<'controller' | 'broker'>;
  description: string;
}

const MiB = 1024 * 1024;

export const CONFIG_SCHEMA: readonly ConfigKey[] = [
  {
    name: 'node.id',
    type: 'int',
    default: undefined,
    min: 0,
    max: 2 ** 31 - 1,
    roles: ['controller', 'broker'],
    description: 'Id of this node, unique in the cluster. A controller id must appear in controller.quorum.voters.',
  },
  {
    name: 'process.roles',
    type: 'roles',
    default: undefined,
    roles: ['controller', 'broker'],
    description:
      'What this process runs: `controller` (a voter of the metadata quorum), `broker` (a Raft observer of it), or `broker,controller` (both in one process).',
  },
  {
    name: 'cluster.id',
    type: 'string',
    default: 'raftka-local',
    roles: ['controller', 'broker'],
    description:
      'Cluster this node belongs to. Carried on every RPC; requests from another cluster are refused with INVALID_CLUSTER_ID. Recorded in meta.properties on first start; a node refuses to start on a data directory of another cluster.',
  },
  {
    name: 'controller.quorum.voters',
    type: 'voters',
    default: undefined,
    roles: ['controller', 'broker'],
    description:
      'The static voter set, as `id@host:port` separated by commas, e.g. `1@127.0.0.1:19091,2@127.0.0.1:19092`.',
  },
  {
    name: 'listeners',
    type: 'string',
    default: null,
    roles: ['controller', 'broker'],
    description:
      "Where this node listens, as comma-separated `NAME://host:port`: `CONTROLLER://` for the controller (a voter defaults to its own entry in controller.quorum.voters), `PLAINTEXT://` for a broker's client port (required for the broker role: produce, fetch, metadata and the Admin service). Host 0.0.0.0 listens everywhere and registers the host name unless advertised.listeners says otherwise.",
  },
  {
    name: 'advertised.listeners',
    type: 'string',
    default: null,
    roles: ['broker'],
    description:
      'The `PLAINTEXT://host:port` a broker registers, which clients and other brokers then connect to, when it differs from where it listens (a container behind a published port, a NAT). Unset: the PLAINTEXT listener, with the host name for 0.0.0.0. Port 0 means the port actually bound.',
  },
  {
    name: 'metadata.log.dir',
    type: 'string',
    default: undefined,
    roles: ['controller', 'broker'],
    description: 'Directory holding the metadata Raft log, the quorum state and snapshots (a LevelDB database).',
  },
  {
    name: 'controller.quorum.election.timeout.ms',
    type: 'int',
    default: 1000,
    unit: 'ms',
    min: 10,
    roles: ['controller'],
    description: 'A candidate that has not won within a random time in [T, 2T) starts a new election.',
  },
  {
    name: 'controller.quorum.fetch.timeout.ms',
    type: 'int',
    default: 2000,
    unit: 'ms',
    min: 10,
    roles: ['controller', 'broker'],
    description:
      'A voter with no successful fetch from the leader for this long starts a pre-vote. The leader resigns after 1.5x this without fetches from a majority (check-quorum).',
  },
  {
    name: 'controller.quorum.election.backoff.max.ms',
    type: 'int',
    default: 1000,
    unit: 'ms',
    min: 1,
    roles: ['controller'],
    description: 'Cap of the exponential, randomized backoff after a lost election.',
  },
  {
    name: 'controller.quorum.request.timeout.ms',
    type: 'int',
    default: 2000,
    unit: 'ms',
    min: 10,
    roles: ['controller', 'broker'],
    description: 'Deadline of a Raft RPC (Vote, BeginQuorumEpoch, EndQuorumEpoch, FetchSnapshot).',
  },
  {
    name: 'controller.quorum.fetch.max.wait.ms',
    type: 'int',
    default: 500,
    unit: 'ms',
    min: 0,
    roles: ['controller', 'broker'],
    description:
      'Raftka-only. How long the leader holds a fetch that has nothing new (long poll). Kafka hard-codes 500 ms. Must be at most half of controller.quorum.fetch.timeout.ms.',
  },
  {
    name: 'controller.quorum.fetch.max.bytes',
    type: 'int',
    default: 8 * MiB,
    unit: 'bytes',
    min: 1024,
    roles: ['controller', 'broker'],
    description: 'Raftka-only. Upper bound of the entries returned by one metadata fetch.',
  },
  {
    name: 'controller.quorum.snapshot.chunk.bytes',
    type: 'int',
    default: MiB,
    unit: 'bytes',
    min: 1024,
    roles: ['controller', 'broker'],
    description: 'Raftka-only. Size of one FetchSnapshot chunk.',
  },
  {
    name: 'controller.quorum.append.linger.ms',
    type: 'int',
    default: 25,
    unit: 'ms',
    min: 0,
    roles: ['controller'],
    description:
      'Upper bound on how long an append waits to be batched. Unlike Kafka, an append to an idle leader is written at once; appends that arrive while a batch is being committed gather until it commits or this time passes (group commit), then go out as one batch with one sync.',
  },
  {
    name: 'metadata.log.max.record.bytes.between.snapshots',
    type: 'int',
    default: 20 * MiB,
    unit: 'bytes',
    min: 1024,
    roles: ['controller', 'broker'],
    description:
      'A node snapshots its state machine after this many bytes of records were applied since the last snapshot.',
  },
  {
    name: 'broker.rack',
    type: 'string',
    default: null,
    roles: ['broker'],
    description:
      'Rack (or zone) of this broker, sent with its registration; replica placement spreads a partition over racks.',
  },
  {
    name: 'broker.heartbeat.interval.ms',
    type: 'int',
    default: 2000,
    unit: 'ms',
    min: 10,
    roles: ['broker'],
    description:
      'How often a broker heartbeats to the active controller, reporting its metadata offset (and asking to be unfenced or to shut down).',
  },
  {
    name: 'broker.session.timeout.ms',
    type: 'int',
    default: 9000,
    unit: 'ms',
    min: 20,
    roles: ['controller', 'broker'],
    description:
      'The active controller fences a broker it has not heard from for this long (at once when its heartbeat stream breaks). A broker gives up a heartbeat unanswered for half of it and sends another. Must exceed broker.heartbeat.interval.ms.',
  },
  {
    name: 'initial.broker.registration.timeout.ms',
    type: 'int',
    default: 60000,
    unit: 'ms',
    min: 10,
    roles: ['broker'],
    description:
      'A starting broker retries its registration with the active controller for this long, then exits with an error.',
  },
  {
    name: 'log.dirs',
    type: 'string',
    default: null,
    roles: ['broker'],
    description:
      'Directory of the partition logs (one directory `<topic>-<partition>` per replica). Unset: a `partitions` directory under metadata.log.dir. One directory only (Kafka accepts a list).',
  },
  {
    name: 'replica.lag.time.max.ms',
    type: 'int',
    default: 30000,
    unit: 'ms',
    min: 10,
    roles: ['broker'],
    description:
      'A leader proposes a follower out of the ISR when the follower has not caught up to the leader for this long (and back in once it has caught up to the high watermark).',
  },
  {
    name: 'replica.fetch.wait.max.ms',
    type: 'int',
    default: 500,
    unit: 'ms',
    min: 0,
    roles: ['broker'],
    description: 'How long a follower fetch waits at the leader for replica.fetch.min.bytes of new data (long poll).',
  },
  {
    name: 'replica.fetch.min.bytes',
    type: 'int',
    default: 1,
    unit: 'bytes',
    min: 1,
    roles: ['broker'],
    description: 'A follower fetch is answered once this many bytes are available, or after replica.fetch.wait.max.ms.',
  },
  {
    name: 'replica.fetch.max.bytes',
    type: 'int',
    default: MiB,
    unit: 'bytes',
    min: 1024,
    roles: ['broker'],
    description:
      'Bytes a follower asks for per partition in one fetch (at least one whole batch is returned even if larger).',
  },
  {
    name: 'replica.fetch.response.max.bytes',
    type: 'int',
    default: 10 * MiB,
    unit: 'bytes',
    min: 1024,
    roles: ['broker'],
    description: 'Bytes a follower asks for in one fetch over all its partitions.',
  },
  {
    name: 'replica.fetch.backoff.ms',
    type: 'int',
    default: 50,
    unit: 'ms',
    min: 0,
    roles: ['broker'],
    description:
      'How long a follower waits before fetching a partition again after an error, or after a failed fetch from its leader. Kafka defaults to 1000; Raftka uses 50 so that a follower that learned of a new leader before the leader did retries within milliseconds.',
  },
  {
    name: 'replica.socket.timeout.ms',
    type: 'int',
    default: 30000,
    unit: 'ms',
    min: 100,
    roles: ['broker'],
    description:
      'How long a follower fetch may take beyond replica.fetch.wait.max.ms before it is given up and retried.',
  },
  {
    name: 'replica.high.watermark.checkpoint.interval.ms',
    type: 'int',
    default: 5000,
    unit: 'ms',
    min: 100,
    roles: ['broker'],
    description:
      "How often the broker writes every replica's high watermark to its log directory's `replication-offset-checkpoint` (one file, not fsynced).",
  },
  {
    name: 'producer.id.expiration.ms',
    type: 'int',
    default: 86400000,
    unit: 'ms',
    min: 1,
    roles: ['broker'],
    description:
      "How long a partition leader keeps an idempotent producer's state after that producer's last write; a later write with its id then starts a new sequence (Kafka's UNKNOWN_PRODUCER_ID case).",
  },
  {
    name: 'producer.id.expiration.check.interval.ms',
    type: 'int',
    default: 600000,
    unit: 'ms',
    min: 1,
    roles: ['broker'],
    description: 'How often the broker removes producer state older than producer.id.expiration.ms.',
  },
  {
    name: 'log.retention.check.interval.ms',
    type: 'int',
    default: 300000,
    unit: 'ms',
    min: 100,
    roles: ['broker'],
    description: 'How often the broker deletes segments past retention.ms / retention.bytes.',
  },
  {
    name: 'controller.state.machine',
    type: 'string',
    default: 'metadata',
    roles: ['controller'],
    description:
      'Raftka-only. What the controllers replicate: `metadata` (the control plane: brokers, topics, configs) or `kv` (a key-value test machine written through the Quorum service, for the quorum tests and `raftka bench quorum`). All controllers of a cluster must agree.',
  },
  {
    name: 'metadata.max.idle.interval.ms',
    type: 'int',
    default: 500,
    unit: 'ms',
    min: 0,
    roles: ['controller'],
    description:
      'The active controller appends a NoOp record after this long without other writes, so the high watermark keeps moving and brokers can tell they are caught up; 0 turns it off.',
  },
  {
    name: 'metrics.port',
    type: 'int',
    default: null,
    min: 0,
    max: 65535,
    roles: ['controller', 'broker'],
    description: 'Raftka-only. Port of the Prometheus `/metrics` endpoint; unset disables it, 0 picks a free port.',
  },
  {
    name: 'metrics.host',
    type: 'string',
    default: '127.0.0.1',
    roles: ['controller', 'broker'],
    description: 'Raftka-only. Address the `/metrics` endpoint binds to.',
  },
  {
    name: 'log.level',
    type: 'string',
    default: 'info',
    roles: ['controller', 'broker'],
    description: 'Raftka-only. pino log level: fatal, error, warn, info, debug or trace.',
  },
];

export interface Voter {
  nodeId: number;
  host: string;
  port: number;
}

export interface NodeConfig {
  nodeId: number;
  roles: Array<'controller' | 'broker'>;
  clusterId: string;
  voters: Voter[];
  listenHost: string;
  listenPort: number;
  metadataLogDir: string;
  electionTimeoutMs: number;
  fetchTimeoutMs: number;
  electionBackoffMaxMs: number;
  requestTimeoutMs: number;
  fetchMaxWaitMs: number;
  fetchMaxBytes: number;
  snapshotChunkBytes: number;
  appendLingerMs: number;
  snapshotMaxBytesBetween: number;
  metricsPort: number | null;
  metricsHost: string;
  logLevel: string;
  /** The broker's client listener (`PLAINTEXT://`), for the broker role; null otherwise. */
  brokerListener: { host: string; port: number } | null;
  /** advertised.listeners' PLAINTEXT entry; null: register the listener itself. */
  advertisedListener: { host: string; port: number } | null;
  brokerRack: string | null;
  brokerHeartbeatIntervalMs: number;
  brokerSessionTimeoutMs: number;
  initialBrokerRegistrationTimeoutMs: number;
  /** controller.state.machine. */
  controllerStateMachine: 'metadata' | 'kv';
  /** metadata.max.idle.interval.ms. */
  metadataMaxIdleIntervalMs: number;
  /** The broker's data plane (log.dirs, replica.*). */
  logDir: string;
  replicaLagTimeMaxMs: number;
  replicaFetchWaitMaxMs: number;
  replicaFetchMinBytes: number;
  replicaFetchMaxBytes: number;
  replicaFetchResponseMaxBytes: number;
  replicaFetchBackoffMs: number;
  replicaSocketTimeoutMs: number;
  highWatermarkCheckpointIntervalMs: number;
  retentionCheckIntervalMs: number;
  producerIdExpirationMs: number;
  producerIdExpirationCheckIntervalMs: number;
  /**
   * Cluster-level config defaults given in this node's configuration
   * (num.partitions ...; the metadata package's schema), canonical values.
   * The active controller writes those the cluster has no value for yet.
   */
  clusterDefaults: Record<string, string>;
  /** Every key with its effective value, for logging at start. */
  effective: Record<string, string>;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Parses Java-properties style text: `key=value` or `key: value`, `#`/`!` comments. */
export function parseProperties(text: string, source: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) return;
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) {
      throw new RaftkaError('INVALID_CONFIGURATION_FILE', `${source}:${i + 1}: expected key=value, got "${line}"`);
    }
    out.set(m[1] as string, (m[2] as string).trim());
  });
  return out;
}

export function parseVoters(value: string): Voter[] {
  const voters = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((entry) => {
      const m = /^(\d+)@(\[[^\]]+\]|[^:@]+):(\d+)$/.exec(entry);
      if (!m) throw new Error(`"${entry}" is not id@host:port`);
      const port = Number(m[3]);
      if (port < 1 || port > 65535) throw new Error(`port ${port} of "${entry}" is outside 1-65535`);
      return { nodeId: Number(m[1]), host: (m[2] as string).replace(/^\[|\]$/g, ''), port };
    });
  if (voters.length === 0) throw new Error('no voters given');
  const ids = new Set(voters.map((v) => v.nodeId));
  if (ids.size !== voters.length) throw new Error('a node id appears twice');
  return voters;
}

/**
 * Validates raw properties against the schema. Throws one RaftkaError
 * (INVALID_CONFIG) listing every problem, so a user fixes them in one go.
 */
export function resolveConfig(raw: Map<string, string>): NodeConfig {
  const problems: string[] = [];
  const known = new Map(CONFIG_SCHEMA.map((k) => [k.name, k]));
  const clusterDefaults: Record<string, string> = {};
  for (const [key, text] of raw) {
    if (known.has(key)) continue;
    if (CLUSTER_DEFAULT_KEYS.has(key)) {
      try {
        clusterDefaults[key] = validateConfigValue('cluster', key, text);
      } catch (e) {
        problems.push(`${key}=${text}: ${(e as Error).message}`);
      }
      continue;
    }
    problems.push(`unknown key "${key}"`);
  }
  const values = new Map<string, unknown>();
  for (const key of CONFIG_SCHEMA) {
    const text = raw.get(key.name);
    if (text === undefined) {
      if (key.default === undefined) problems.push(`${key.name} is required (${key.description})`);
      values.set(key.name, key.default);
      continue;
    }
    try {
      values.set(key.name, parseValue(key, text));
    } catch (e) {
      problems.push(`${key.name}=${text}: ${(e as Error).message}`);
    }
  }
  if (problems.length === 0) checkRelations(values, problems);
  if (problems.length > 0) {
    throw new RaftkaError('INVALID_CONFIG', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  const get = <T>(name: string) => values.get(name) as T;
  const voters = get<Voter[]>('controller.quorum.voters');
  const nodeId = get<number>('node.id');
  const roles = get<Array<'controller' | 'broker'>>('process.roles');
  const listeners = get<string | null>('listeners');
  const parsedListeners = listeners === null ? [] : parseListeners(listeners);
  const brokerListener = roles.includes('broker')
    ? (parsedListeners.find((l) => l.name === 'PLAINTEXT') ?? null)
    : null;
  const listen = roles.includes('controller')
    ? controllerEndpoint(parsedListeners, voters, nodeId, roles.includes('broker'))
    : (brokerListener as { host: string; port: number });
  return {
    nodeId,
    roles,
    clusterId: get('cluster.id'),
    voters,
    listenHost: listen.host,
    listenPort: listen.port,
    metadataLogDir: get('metadata.log.dir'),
    electionTimeoutMs: get('controller.quorum.election.timeout.ms'),
    fetchTimeoutMs: get('controller.quorum.fetch.timeout.ms'),
    electionBackoffMaxMs: get('controller.quorum.election.backoff.max.ms'),
    requestTimeoutMs: get('controller.quorum.request.timeout.ms'),
    fetchMaxWaitMs: get('controller.quorum.fetch.max.wait.ms'),
    fetchMaxBytes: get('controller.quorum.fetch.max.bytes'),
    snapshotChunkBytes: get('controller.quorum.snapshot.chunk.bytes'),
    appendLingerMs: get('controller.quorum.append.linger.ms'),
    snapshotMaxBytesBetween: get('metadata.log.max.record.bytes.between.snapshots'),
    metricsPort: get('metrics.port'),
    metricsHost: get('metrics.host'),
    logLevel: get('log.level'),
    brokerListener: brokerListener && { host: brokerListener.host, port: brokerListener.port },
    advertisedListener: advertisedListenerOf(get<string | null>('advertised.listeners')),
    brokerRack: get('broker.rack'),
    brokerHeartbeatIntervalMs: get('broker.heartbeat.interval.ms'),
    brokerSessionTimeoutMs: get('broker.session.timeout.ms'),
    initialBrokerRegistrationTimeoutMs: get('initial.broker.registration.timeout.ms'),
    controllerStateMachine: get('controller.state.machine'),
    metadataMaxIdleIntervalMs: get('metadata.max.idle.interval.ms'),
    logDir: get<string | null>('log.dirs') ?? join(get<string>('metadata.log.dir'), 'partitions'),
    replicaLagTimeMaxMs: get('replica.lag.time.max.ms'),
    replicaFetchWaitMaxMs: get('replica.fetch.wait.max.ms'),
    replicaFetchMinBytes: get('replica.fetch.min.bytes'),
    replicaFetchMaxBytes: get('replica.fetch.max.bytes'),
    replicaFetchResponseMaxBytes: get('replica.fetch.response.max.bytes'),
    replicaFetchBackoffMs: get('replica.fetch.backoff.ms'),
    replicaSocketTimeoutMs: get('replica.socket.timeout.ms'),
    highWatermarkCheckpointIntervalMs: get('replica.high.watermark.checkpoint.interval.ms'),
    retentionCheckIntervalMs: get('log.retention.check.interval.ms'),
    producerIdExpirationMs: get('producer.id.expiration.ms'),
    producerIdExpirationCheckIntervalMs: get('producer.id.expiration.check.interval.ms'),
    clusterDefaults,
    effective: {
      ...Object.fromEntries(
        CONFIG_SCHEMA.map((k) => [k.name, raw.get(k.name) ?? (k.default === null ? '' : String(k.default))]),
      ),
      ...clusterDefaults,
    },
  };
}

function parseValue(key: ConfigKey, text: string): unknown {
  switch (key.type) {
    case 'int': {
      if (!/^-?\d+$/.test(text)) throw new Error('not an integer');
      const n = Number(text);
      if (!Number.isSafeInteger(n)) throw new Error('too large');
      if (key.min !== undefined && n < key.min) throw new Error(`must be at least ${key.min}`);
      if (key.max !== undefined && n > key.max) throw new Error(`must be at most ${key.max}`);
      return n;
    }
    case 'boolean':
      if (text !== 'true' && text !== 'false') throw new Error('must be true or false');
      return text === 'true';
    case 'string':
      if (text === '') throw new Error('must not be empty');
      if (key.name === 'log.level' && !LOG_LEVELS.includes(text)) {
        throw new Error(`must be one of ${LOG_LEVELS.join(', ')}`);
      }
      if (key.name === 'controller.state.machine' && text !== 'metadata' && text !== 'kv') {
        throw new Error('must be metadata or kv');
      }
      return text;
    case 'list':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'voters':
      return parseVoters(text);
    case 'roles': {
      const roles = [
        ...new Set(
          text
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      ];
      if (roles.length === 0) throw new Error('no role given');
      for (const r of roles) {
        if (r !== 'controller' && r !== 'broker') throw new Error(`unknown role "${r}" (controller or broker)`);
      }
      return roles;
    }
  }
}

function checkRelations(values: Map<string, unknown>, problems: string[]): void {
  const roles = values.get('process.roles') as string[];
  const voters = values.get('controller.quorum.voters') as Voter[];
  const nodeId = values.get('node.id') as number;
  const isVoter = voters.some((v) => v.nodeId === nodeId);
  if (roles.includes('controller') && !isVoter) {
    problems.push(`node.id=${nodeId} runs a controller but is not in controller.quorum.voters`);
  }
  if (roles.includes('broker') && isVoter && !roles.includes('controller')) {
    problems.push(`node.id=${nodeId} is a voter, so process.roles must include controller`);
  }
  const fetchTimeout = values.get('controller.quorum.fetch.timeout.ms') as number;
  const maxWait = values.get('controller.quorum.fetch.max.wait.ms') as number;
  if (2 * maxWait > fetchTimeout) {
    problems.push(
      `controller.quorum.fetch.max.wait.ms=${maxWait} must be at most half of controller.quorum.fetch.timeout.ms=${fetchTimeout}, or a long poll would look like a dead leader`,
    );
  }
  const listeners = values.get('listeners') as string | null;
  let parsed: NamedListener[] = [];
  if (listeners !== null) {
    try {
      parsed = parseListeners(listeners);
    } catch (e) {
      problems.push(`listeners=${listeners}: ${(e as Error).message}`);
      return;
    }
  }
  const isBroker = roles.includes('broker');
  const isController = roles.includes('controller');
  const advertised = values.get('advertised.listeners') as string | null;
  if (advertised !== null) {
    try {
      const plaintext = parseListeners(advertised).find((l) => l.name === 'PLAINTEXT');
      if (plaintext === undefined)
        problems.push(`advertised.listeners=${advertised}: needs a PLAINTEXT://host:port entry`);
      else if (plaintext.host === '0.0.0.0' || plaintext.host === '::') {
        problems.push(`advertised.listeners=${advertised}: advertise a host clients can reach, not ${plaintext.host}`);
      }
    } catch (e) {
      problems.push(`advertised.listeners=${advertised}: ${(e as Error).message}`);
    }
  }
  if (isBroker && !parsed.some((l) => l.name === 'PLAINTEXT')) {
    problems.push(
      `node.id=${nodeId} runs a broker, so listeners must include PLAINTEXT://host:port (its client port)${isController ? ', next to CONTROLLER://host:port' : ''}`,
    );
  }
  if (isController && !isVoter && parsed.length === 0) {
    problems.push('listeners is required for a node that is not a voter');
  }
  if (isBroker && isController) {
    const controller = controllerEndpointOrNull(parsed, voters, nodeId, true);
    const broker = parsed.find((l) => l.name === 'PLAINTEXT');
    if (controller && broker && controller.port === broker.port && controller.port !== 0) {
      problems.push(`the CONTROLLER and PLAINTEXT listeners of node.id=${nodeId} share port ${broker.port}`);
    }
  }
  if (isBroker) {
    const heartbeat = values.get('broker.heartbeat.interval.ms') as number;
    const session = values.get('broker.session.timeout.ms') as number;
    if (session <= heartbeat) {
      problems.push(
        `broker.session.timeout.ms=${session} must exceed broker.heartbeat.interval.ms=${heartbeat}, or a healthy broker would be fenced between heartbeats`,
      );
    }
  }
}

interface NamedListener {
  name: 'CONTROLLER' | 'PLAINTEXT';
  host: string;
  port: number;
}

/** `CONTROLLER://host:port,PLAINTEXT://host:port`, each name at most once. */
function advertisedListenerOf(text: string | null): { host: string; port: number } | null {
  if (text === null) return null;
  const plaintext = parseListeners(text).find((l) => l.name === 'PLAINTEXT');
  return plaintext === undefined ? null : { host: plaintext.host, port: plaintext.port };
}

export function parseListeners(text: string): NamedListener[] {
  const out: NamedListener[] = [];
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(CONTROLLER|PLAINTEXT):\/\/(\[[^\]]+\]|[^:]*):(\d+)$/.exec(entry);
    if (!m) throw new Error(`"${entry}" is not CONTROLLER://host:port or PLAINTEXT://host:port`);
    const port = Number(m[3]);
    if (port > 65535) throw new Error(`port ${port} is outside 0-65535`);
    const name = m[1] as NamedListener['name'];
    if (out.some((l) => l.name === name)) throw new Error(`${name} is given twice`);
    out.push({ name, host: (m[2] as string).replace(/^\[|\]$/g, '') || '0.0.0.0', port });
  }
  if (out.length === 0) throw new Error('no listener given');
  return out;
}

function controllerEndpointOrNull(
  listeners: NamedListener[],
  voters: Voter[],
  nodeId: number,
  isBroker: boolean,
): { host: string; port: number } | null {
  const named = listeners.find((l) => l.name === 'CONTROLLER');
  if (named) return { host: named.host, port: named.port };
  // A controller-only node may name its one listener PLAINTEXT, as before brokers existed.
  const only = listeners.length === 1 && !isBroker ? listeners[0] : undefined;
  if (only) return { host: only.host, port: only.port };
  const self = voters.find((v) => v.nodeId === nodeId);
  return self ? { host: self.host, port: self.port } : null;
}

function controllerEndpoint(
  listeners: NamedListener[],
  voters: Voter[],
  nodeId: number,
  isBroker: boolean,
): { host: string; port: number } {
  const endpoint = controllerEndpointOrNull(listeners, voters, nodeId, isBroker);
  if (!endpoint) throw new RaftkaError('INVALID_CONFIG', `node ${nodeId} has no controller listener`);
  return endpoint;
}

/** Merges a properties file (if any) with `key=value` overrides; overrides win. */
export function loadRawConfig(fileText: string | null, fileName: string, overrides: string[]): Map<string, string> {
  const raw = fileText === null ? new Map<string, string>() : parseProperties(fileText, fileName);
  for (const o of overrides) {
    const i = o.indexOf('=');
    if (i <= 0) throw new RaftkaError('INVALID_CONFIG', `--override expects key=value, got "${o}"`);
    raw.set(o.slice(0, i).trim(), o.slice(i + 1).trim());
  }
  return raw;
}

/**
 * Keys of the metadata package's config schema that a cluster can default
 * (num.partitions, default.replication.factor, min.insync.replicas, the
 * leader rebalancing knobs ...). A controller's configuration may give them;
 * they are validated by that schema, not duplicated here.
 */
const CLUSTER_DEFAULT_KEYS: ReadonlySet<string> = new Set(
  METADATA_CONFIG_SCHEMA.filter((k) => k.scopes.includes('cluster')).map((k) => k.name),
);

/** The schema as a Markdown table, for docs/configuration.md, then the cluster defaults a controller may give. */
export function configTableMarkdown(): string {
  const rows = CONFIG_SCHEMA.map((k) => {
    const def = k.default === undefined ? '(required)' : k.default === null ? '(unset)' : `\`${k.default}\``;
    return `| \`${k.name}\` | ${k.type} | ${def} | ${k.unit ?? ''} | ${k.roles.join(', ')} | ${k.description} |`;
  });
  const clusterRows = METADATA_CONFIG_SCHEMA.filter((k) => k.scopes.includes('cluster')).map(
    (k) =>
      `| \`${k.name}\` | ${k.type} | \`${k.defaultValue}\` | ${k.unit ?? ''} | controller | Cluster default (see metadata.md). ${k.doc} |`,
  );
  return [
    '| key | type | default | unit | roles | meaning |',
    '|---|---|---|---|---|---|',
    ...rows,
    ...clusterRows,
  ].join('\n');
}

/** The Raft timings and limits of a node, as the Raft driver takes them. */
export function raftSettings(config: NodeConfig) {
  return {
    electionTimeoutMs: config.electionTimeoutMs,
    electionBackoffMaxMs: config.electionBackoffMaxMs,
    fetchTimeoutMs: config.fetchTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    fetchMaxWaitMs: config.fetchMaxWaitMs,
    fetchMaxBytes: config.fetchMaxBytes,
    snapshotChunkBytes: config.snapshotChunkBytes,
  };
}
