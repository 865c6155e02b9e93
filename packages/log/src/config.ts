// Log configuration under Kafka's topic-config names and defaults
// (segment.bytes, retention.ms, cleanup.policy, ...). The broker passes the
// merged topic/broker properties as a plain object; parseLogConfig validates
// every key and answers INVALID_CONFIG with the key and the rule it broke, so
// a bad CreateTopics/AlterConfigs request gets a clear error before any file
// is touched.
import { RaftkaError } from '@raftka/common';

export type CleanupPolicy = 'delete' | 'compact' | 'compact,delete';

export interface LogConfig {
  /** segment.bytes: roll the active segment when an append would make it larger. */
  segmentBytes: number;
  /** segment.ms: roll the active segment when its first batch is this old. */
  segmentMs: number;
  /** segment.index.bytes: maximum size of an offset or time index; a full index rolls. */
  segmentIndexBytes: number;
  /** index.interval.bytes: log bytes between two sparse index entries. */
  indexIntervalBytes: number;
  /** retention.ms: delete sealed segments whose newest record is older; -1 = forever. */
  retentionMs: number;
  /** retention.bytes: delete oldest sealed segments while the log is larger; -1 = unlimited. */
  retentionBytes: number;
  /** flush.messages: fsync after this many records; MAX_SAFE_INTEGER = leave it to the OS. */
  flushMessages: number;
  /** flush.ms: fsync when the last flush is this old; MAX_SAFE_INTEGER = leave it to the OS. */
  flushMs: number;
  cleanupPolicy: CleanupPolicy;
  /** delete.retention.ms: how long compaction keeps tombstones. */
  deleteRetentionMs: number;
  /** min.cleanable.dirty.ratio: compaction trigger (dirty bytes / cleanable bytes). */
  minCleanableDirtyRatio: number;
}

/** Kafka's Long.MAX_VALUE default for flush.*: "never fsync on a schedule". */
export const FLUSH_NEVER = Number.MAX_SAFE_INTEGER;

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 60 * 60 * 1000,
  segmentIndexBytes: 10 * 1024 * 1024,
  indexIntervalBytes: 4096,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  retentionBytes: -1,
  flushMessages: FLUSH_NEVER,
  flushMs: FLUSH_NEVER,
  cleanupPolicy: 'delete',
  deleteRetentionMs: 24 * 60 * 60 * 1000,
  minCleanableDirtyRatio: 0.5,
});

/** Kafka property name → LogConfig field. */
export const LOG_CONFIG_KEYS = {
  'segment.bytes': 'segmentBytes',
  'segment.ms': 'segmentMs',
  'segment.index.bytes': 'segmentIndexBytes',
  'index.interval.bytes': 'indexIntervalBytes',
  'retention.ms': 'retentionMs',
  'retention.bytes': 'retentionBytes',
  'flush.messages': 'flushMessages',
  'flush.ms': 'flushMs',
  'cleanup.policy': 'cleanupPolicy',
  'delete.retention.ms': 'deleteRetentionMs',
  'min.cleanable.dirty.ratio': 'minCleanableDirtyRatio',
} as const satisfies Record<string, keyof LogConfig>;

export type LogConfigKey = keyof typeof LOG_CONFIG_KEYS;

/** Smallest legal segment: one batch header plus overhead (Kafka: LegacyRecord.RECORD_OVERHEAD_V0 = 14). */
const MIN_SEGMENT_BYTES = 14;
const INT32_MAX = 2 ** 31 - 1;

function invalid(key: string, value: unknown, rule: string): RaftkaError {
  return new RaftkaError('INVALID_CONFIG', `invalid value ${JSON.stringify(value)} for ${key}: ${rule}`);
}

function toInteger(key: string, value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw invalid(key, value, 'must be an integer');
  // Kafka's Long.MAX_VALUE arrives as 9223372036854775807: treat anything past 2^53 as "never".
  return Math.min(n, Number.MAX_SAFE_INTEGER);
}

function atLeast(key: string, n: number, min: number): number {
  if (n < min) throw invalid(key, n, `must be >= ${min}`);
  return n;
}

/**
 * Validates Kafka-named properties (strings or numbers) and merges them over
 * `base` (the defaults unless given). Unknown keys are refused: a typo must
 * not silently fall back to a default.
 */
export function parseLogConfig(props: Record<string, unknown> = {}, base: LogConfig = DEFAULT_LOG_CONFIG): LogConfig {
  const config: LogConfig = { ...base };
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined) continue;
    switch (key) {
      case 'segment.bytes':
        config.segmentBytes = atLeast(key, toInteger(key, value), MIN_SEGMENT_BYTES);
        if (config.segmentBytes > INT32_MAX) throw invalid(key, value, `must be <= ${INT32_MAX}`);
        break;
      case 'segment.ms':
        config.segmentMs = atLeast(key, toInteger(key, value), 1);
        break;
      case 'segment.index.bytes':
        config.segmentIndexBytes = atLeast(key, toInteger(key, value), 12);
        if (config.segmentIndexBytes > INT32_MAX) throw invalid(key, value, `must be <= ${INT32_MAX}`);
        break;
      case 'index.interval.bytes':
        config.indexIntervalBytes = atLeast(key, toInteger(key, value), 0);
        break;
      case 'retention.ms':
        config.retentionMs = atLeast(key, toInteger(key, value), -1);
        break;
      case 'retention.bytes':
        config.retentionBytes = atLeast(key, toInteger(key, value), -1);
        break;
      case 'flush.messages':
        config.flushMessages = atLeast(key, toInteger(key, value), 1);
        break;
      case 'flush.ms':
        config.flushMs = atLeast(key, toInteger(key, value), 0);
        break;
      case 'delete.retention.ms':
        config.deleteRetentionMs = atLeast(key, toInteger(key, value), 0);
        break;
      case 'cleanup.policy': {
        const parts =
          typeof value === 'string'
            ? value
                .split(',')
                .map((p) => p.trim())
                .filter((p) => p !== '')
            : [];
        const set = new Set(parts);
        if (parts.length === 0 || [...set].some((p) => p !== 'delete' && p !== 'compact')) {
          throw invalid(key, value, "must be 'delete', 'compact' or 'compact,delete'");
        }
        config.cleanupPolicy = set.size === 2 ? 'compact,delete' : set.has('compact') ? 'compact' : 'delete';
        break;
      }
      case 'min.cleanable.dirty.ratio': {
        const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
        if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 1) {
          throw invalid(key, value, 'must be a number in [0, 1]');
        }
        config.minCleanableDirtyRatio = n;
        break;
      }
      default:
        throw new RaftkaError('INVALID_CONFIG', `unknown log config key ${JSON.stringify(key)}`);
    }
  }
  return config;
}

export function hasCompact(policy: CleanupPolicy): boolean {
  return policy !== 'delete';
}

export function hasDelete(policy: CleanupPolicy): boolean {
  return policy !== 'compact';
}
