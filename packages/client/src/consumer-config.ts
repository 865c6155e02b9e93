// Consumer configuration under Kafka's key names and Apache Kafka 4.0's
// defaults, validated once like the producer's (config.ts): an unknown key
// or a malformed value is INVALID_CONFIG naming the key. Only the keys of an
// assign()-only consumer exist: there are no consumer groups (group.id,
// enable.auto.commit... are unknown keys and refused).
import { RaftkaError } from '@raftka/common';

export type ConsumerConfig = Readonly<Record<string, string | number | boolean | undefined>>;

export type OffsetResetStrategy = 'earliest' | 'latest' | 'none';

export interface ConsumerSettings {
  readonly bootstrapServers: readonly string[];
  readonly clientId: string;
  readonly fetchMaxWaitMs: number;
  readonly fetchMinBytes: number;
  readonly fetchMaxBytes: number;
  readonly maxPartitionFetchBytes: number;
  readonly maxPollRecords: number;
  readonly autoOffsetReset: OffsetResetStrategy;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: number;
  readonly metadataMaxAgeMs: number;
  readonly checkCrcs: boolean;
}

export const CONSUMER_DEFAULTS = {
  'bootstrap.servers': '',
  'client.id': '',
  'fetch.max.wait.ms': 500,
  'fetch.min.bytes': 1,
  'fetch.max.bytes': 52_428_800,
  'max.partition.fetch.bytes': 1_048_576,
  'max.poll.records': 500,
  'auto.offset.reset': 'latest',
  'request.timeout.ms': 30_000,
  'retry.backoff.ms': 100,
  'metadata.max.age.ms': 300_000,
  'check.crcs': true,
  'isolation.level': 'read_uncommitted',
} as const;

export type ConsumerConfigKey = keyof typeof CONSUMER_DEFAULTS;

const INT32_MAX = 0x7fffffff;

function invalid(key: string, value: unknown, why: string): RaftkaError {
  return new RaftkaError('INVALID_CONFIG', `Invalid value ${JSON.stringify(value)} for configuration ${key}: ${why}`);
}

function raw(config: ConsumerConfig, key: ConsumerConfigKey): string | number | boolean {
  return config[key] ?? CONSUMER_DEFAULTS[key];
}

function intOf(config: ConsumerConfig, key: ConsumerConfigKey, min: number, max = INT32_MAX): number {
  const r = raw(config, key);
  const value = typeof r === 'string' && r.trim() !== '' ? Number(r) : r;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalid(key, r, 'expected an integer');
  if (value < min || value > max) throw invalid(key, r, `value must be in [${min}, ${max}]`);
  return value;
}

function oneOf<T extends string>(config: ConsumerConfig, key: ConsumerConfigKey, allowed: readonly T[]): T {
  const r = String(raw(config, key)).trim().toLowerCase();
  if (!(allowed as readonly string[]).includes(r))
    throw invalid(key, raw(config, key), `String must be one of: ${allowed.join(', ')}`);
  return r as T;
}

export function validateConsumerConfig(config: ConsumerConfig = {}): ConsumerSettings {
  for (const key of Object.keys(config)) {
    if (!(key in CONSUMER_DEFAULTS) && config[key] !== undefined) {
      throw new RaftkaError('INVALID_CONFIG', `Unknown consumer configuration ${key}`);
    }
  }
  oneOf(config, 'isolation.level', ['read_uncommitted']);
  const checkCrcs = String(raw(config, 'check.crcs'));
  if (checkCrcs !== 'true' && checkCrcs !== 'false') throw invalid('check.crcs', checkCrcs, 'expected true or false');
  return {
    bootstrapServers: String(raw(config, 'bootstrap.servers'))
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    clientId: String(raw(config, 'client.id')),
    fetchMaxWaitMs: intOf(config, 'fetch.max.wait.ms', 0),
    fetchMinBytes: intOf(config, 'fetch.min.bytes', 0),
    fetchMaxBytes: intOf(config, 'fetch.max.bytes', 0),
    maxPartitionFetchBytes: intOf(config, 'max.partition.fetch.bytes', 0),
    maxPollRecords: intOf(config, 'max.poll.records', 1),
    autoOffsetReset: oneOf(config, 'auto.offset.reset', ['earliest', 'latest', 'none'] as const),
    requestTimeoutMs: intOf(config, 'request.timeout.ms', 0),
    retryBackoffMs: intOf(config, 'retry.backoff.ms', 0),
    metadataMaxAgeMs: intOf(config, 'metadata.max.age.ms', 0),
    checkCrcs: checkCrcs === 'true',
  };
}
