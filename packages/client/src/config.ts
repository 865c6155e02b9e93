// Producer configuration under Kafka's own key names (`acks`, `linger.ms`,
// `enable.idempotence`...), so that a Java producer's properties carry over.
// validateProducerConfig turns the user's map into typed settings once, at
// construction, and names the offending key in an INVALID_CONFIG error; the
// accumulator and (later) the sender read only the typed settings.
//
// Defaults are Apache Kafka 4.0's Java producer's (KIP-1030 raised linger.ms
// from 0 to 5). Idempotence follows Java >= 3.2: on by default, and silently
// turned off when it was not asked for explicitly but acks, retries or
// max.in.flight.requests.per.connection conflict with it; asked for
// explicitly with a conflicting key, it is an error.
import { CompressionCodec } from '@raftka/codec';
import { RaftkaError } from '@raftka/common';

export type Acks = -1 | 0 | 1;

/** What a user may pass: Kafka key names; numbers may come as strings (properties files). */
export type ProducerConfig = Readonly<Record<string, string | number | boolean | undefined>>;

/** The validated producer configuration, in the names and units the code uses. */
export interface ProducerSettings {
  readonly bootstrapServers: readonly string[];
  readonly clientId: string;
  /** 0 = fire and forget, 1 = leader only, -1 = all in-sync replicas ("all"). */
  readonly acks: Acks;
  readonly enableIdempotence: boolean;
  readonly compression: CompressionCodec;
  readonly lingerMs: number;
  readonly batchSizeBytes: number;
  readonly bufferMemoryBytes: number;
  readonly maxBlockMs: number;
  readonly maxRequestSizeBytes: number;
  readonly maxInFlightRequestsPerConnection: number;
  readonly deliveryTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly retries: number;
  readonly retryBackoffMs: number;
  /** partitioner.ignore.keys: spread keyed records with the sticky partitioner too. */
  readonly partitionerIgnoreKeys: boolean;
  /** metadata.max.age.ms: refresh topic metadata at least this often even without errors. */
  readonly metadataMaxAgeMs: number;
}

const INT32_MAX = 0x7fffffff;

/** Kafka 4.0's producer defaults, by key. */
export const PRODUCER_DEFAULTS = {
  acks: 'all',
  'enable.idempotence': true,
  'compression.type': 'none',
  'linger.ms': 5,
  'batch.size': 16_384,
  'buffer.memory': 33_554_432,
  'max.block.ms': 60_000,
  'max.request.size': 1_048_576,
  'max.in.flight.requests.per.connection': 5,
  'delivery.timeout.ms': 120_000,
  'request.timeout.ms': 30_000,
  retries: INT32_MAX,
  'retry.backoff.ms': 100,
  'partitioner.ignore.keys': false,
  'metadata.max.age.ms': 300_000,
  'client.id': '',
  'bootstrap.servers': '',
} as const;

export type ProducerConfigKey = keyof typeof PRODUCER_DEFAULTS;

/** The idempotent producer keeps at most this many batches in flight per partition (the broker remembers 5). */
export const MAX_IN_FLIGHT_FOR_IDEMPOTENCE = 5;

function invalid(key: string, value: unknown, why: string): RaftkaError {
  return new RaftkaError('INVALID_CONFIG', `Invalid value ${JSON.stringify(value)} for configuration ${key}: ${why}`);
}

function intOf(config: ProducerConfig, key: ProducerConfigKey, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = config[key] ?? PRODUCER_DEFAULTS[key];
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalid(key, raw, 'expected an integer');
  if (value < min || value > max) throw invalid(key, raw, `value must be in [${min}, ${max}]`);
  return value;
}

function boolOf(config: ProducerConfig, key: ProducerConfigKey): boolean {
  const raw = config[key] ?? PRODUCER_DEFAULTS[key];
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw invalid(key, raw, 'expected true or false');
}

function acksOf(config: ProducerConfig): Acks {
  const raw = config.acks ?? PRODUCER_DEFAULTS.acks;
  switch (String(raw).trim().toLowerCase()) {
    case 'all':
    case '-1':
      return -1;
    case '0':
      return 0;
    case '1':
      return 1;
    default:
      throw invalid('acks', raw, 'String must be one of: all, -1, 0, 1');
  }
}

function compressionOf(config: ProducerConfig): CompressionCodec {
  const raw = config['compression.type'] ?? PRODUCER_DEFAULTS['compression.type'];
  switch (String(raw).trim().toLowerCase()) {
    case 'none':
      return CompressionCodec.none;
    case 'gzip':
      return CompressionCodec.gzip;
    case 'snappy':
      return CompressionCodec.snappy;
    case 'lz4':
      return CompressionCodec.lz4;
    case 'zstd':
      // @raftka/codec reads zstd but cannot write it (no install-safe encoder for Node 20).
      throw invalid('compression.type', raw, 'zstd is read by consumers but not written by this producer');
    default:
      throw invalid('compression.type', raw, 'String must be one of: none, gzip, snappy, lz4');
  }
}

/**
 * Validates a producer configuration with Kafka's key names and returns the
 * typed settings. Throws RaftkaError INVALID_CONFIG naming the key for an
 * unknown key, a malformed value or conflicting keys.
 */
export function validateProducerConfig(config: ProducerConfig = {}): ProducerSettings {
  for (const key of Object.keys(config)) {
    if (!(key in PRODUCER_DEFAULTS) && config[key] !== undefined) {
      throw new RaftkaError('INVALID_CONFIG', `Unknown producer configuration ${key}`);
    }
  }
  const isSet = (key: ProducerConfigKey): boolean => config[key] !== undefined;

  const acks = acksOf(config);
  const compression = compressionOf(config);
  const lingerMs = intOf(config, 'linger.ms', 0);
  const batchSizeBytes = intOf(config, 'batch.size', 0, INT32_MAX);
  const bufferMemoryBytes = intOf(config, 'buffer.memory', 0);
  const maxBlockMs = intOf(config, 'max.block.ms', 0);
  const maxRequestSizeBytes = intOf(config, 'max.request.size', 0, INT32_MAX);
  const maxInFlight = intOf(config, 'max.in.flight.requests.per.connection', 1, INT32_MAX);
  const requestTimeoutMs = intOf(config, 'request.timeout.ms', 0, INT32_MAX);
  const retries = intOf(config, 'retries', 0, INT32_MAX);
  const retryBackoffMs = intOf(config, 'retry.backoff.ms', 0);
  const partitionerIgnoreKeys = boolOf(config, 'partitioner.ignore.keys');
  const metadataMaxAgeMs = intOf(config, 'metadata.max.age.ms', 0);

  let deliveryTimeoutMs = intOf(config, 'delivery.timeout.ms', 0, INT32_MAX);
  if (deliveryTimeoutMs < lingerMs + requestTimeoutMs) {
    if (isSet('delivery.timeout.ms')) {
      throw invalid(
        'delivery.timeout.ms',
        config['delivery.timeout.ms'],
        `should be equal to or larger than linger.ms + request.timeout.ms (${lingerMs + requestTimeoutMs})`,
      );
    }
    // As Java does when only linger.ms or request.timeout.ms were raised.
    deliveryTimeoutMs = lingerMs + requestTimeoutMs;
  }

  let enableIdempotence = boolOf(config, 'enable.idempotence');
  if (enableIdempotence) {
    const conflict =
      acks !== -1
        ? ['acks', 'must be set to all (-1) when enable.idempotence is true']
        : maxInFlight > MAX_IN_FLIGHT_FOR_IDEMPOTENCE
          ? [
              'max.in.flight.requests.per.connection',
              `must be at most ${MAX_IN_FLIGHT_FOR_IDEMPOTENCE} when enable.idempotence is true`,
            ]
          : retries === 0
            ? ['retries', 'must be greater than 0 when enable.idempotence is true']
            : undefined;
    if (conflict !== undefined) {
      const [key, why] = conflict as [ProducerConfigKey, string];
      if (isSet('enable.idempotence')) throw invalid(key, config[key] ?? PRODUCER_DEFAULTS[key], why);
      enableIdempotence = false;
    }
  }

  const servers = String(config['bootstrap.servers'] ?? '');
  return {
    bootstrapServers: servers
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    clientId: String(config['client.id'] ?? ''),
    acks,
    enableIdempotence,
    compression,
    lingerMs,
    batchSizeBytes,
    bufferMemoryBytes,
    maxBlockMs,
    maxRequestSizeBytes,
    maxInFlightRequestsPerConnection: maxInFlight,
    deliveryTimeoutMs,
    requestTimeoutMs,
    retries,
    retryBackoffMs,
    partitionerIgnoreKeys,
    metadataMaxAgeMs,
  };
}
