// The config keys the controller knows, with their types, defaults, units and
// ranges. One table serves validation (AlterConfigs, CreateTopics), the
// effective value lookup (topic -> cluster default -> schema default) and the
// docs. Values are stored as strings in ConfigRecords, as Kafka does, and
// parsed here on use.
//
// Cluster defaults use the same key as the topic config they default
// (`retention.ms`, not Kafka's broker-level `log.retention.ms`): one name per
// knob is easier to read and to validate. Keys with scope ['cluster'] steer the
// controller itself and cannot be set on a topic.
import { RaftkaError } from '@raftka/common';
import type { ConfigResourceType } from './records.js';

export type ConfigType = 'int' | 'long' | 'boolean' | 'list';

export interface ConfigKey {
  readonly name: string;
  readonly type: ConfigType;
  readonly defaultValue: string;
  readonly unit: 'ms' | 's' | 'bytes' | 'percent' | 'count' | null;
  /** Inclusive bounds for int and long. */
  readonly min?: number;
  readonly max?: number;
  /** Allowed items for list. */
  readonly validItems?: readonly string[];
  readonly scopes: readonly ConfigResourceType[];
  readonly doc: string;
}

const INT_MAX = 2_147_483_647;

export const CONFIG_SCHEMA: readonly ConfigKey[] = [
  {
    name: 'min.insync.replicas',
    type: 'int',
    defaultValue: '1',
    unit: 'count',
    min: 1,
    max: INT_MAX,
    scopes: ['cluster', 'topic'],
    doc: 'With acks=all, the fewest ISR members a write needs (NOT_ENOUGH_REPLICAS below it).',
  },
  {
    name: 'unclean.leader.election.enable',
    type: 'boolean',
    defaultValue: 'false',
    unit: null,
    scopes: ['cluster', 'topic'],
    doc: 'Let a replica outside the ISR become leader when no ISR member is alive (may lose acknowledged data).',
  },
  {
    name: 'retention.ms',
    type: 'long',
    defaultValue: '604800000',
    unit: 'ms',
    min: -1,
    scopes: ['cluster', 'topic'],
    doc: 'Delete log segments older than this; -1 keeps them forever.',
  },
  {
    name: 'retention.bytes',
    type: 'long',
    defaultValue: '-1',
    unit: 'bytes',
    min: -1,
    scopes: ['cluster', 'topic'],
    doc: 'Delete the oldest segments while a partition is larger than this; -1 means no size limit.',
  },
  {
    name: 'segment.bytes',
    type: 'int',
    defaultValue: '1073741824',
    unit: 'bytes',
    min: 1_048_576,
    max: INT_MAX,
    scopes: ['cluster', 'topic'],
    doc: 'Roll a new log segment when the active one reaches this size.',
  },
  {
    name: 'cleanup.policy',
    type: 'list',
    defaultValue: 'delete',
    unit: null,
    validItems: ['delete', 'compact'],
    scopes: ['cluster', 'topic'],
    doc: 'Comma-separated: delete (retention), compact (keep the last record per key), or both.',
  },
  {
    name: 'max.message.bytes',
    type: 'int',
    defaultValue: '1048588',
    unit: 'bytes',
    min: 0,
    max: INT_MAX,
    scopes: ['cluster', 'topic'],
    doc: 'Largest record batch the leader accepts (MESSAGE_TOO_LARGE above it).',
  },
  {
    name: 'num.partitions',
    type: 'int',
    defaultValue: '1',
    unit: 'count',
    min: 1,
    max: 100_000,
    scopes: ['cluster'],
    doc: 'Partition count of a topic created without one.',
  },
  {
    name: 'default.replication.factor',
    type: 'int',
    defaultValue: '1',
    unit: 'count',
    min: 1,
    max: 32_767,
    scopes: ['cluster'],
    doc: 'Replication factor of a topic created without one.',
  },
  {
    name: 'auto.leader.rebalance.enable',
    type: 'boolean',
    defaultValue: 'true',
    unit: null,
    scopes: ['cluster'],
    doc: 'Move leadership back to preferred replicas on the imbalance check.',
  },
  {
    name: 'leader.imbalance.check.interval.seconds',
    type: 'long',
    defaultValue: '300',
    unit: 's',
    min: 1,
    scopes: ['cluster'],
    doc: 'How often the driver runs the leader imbalance check.',
  },
  {
    name: 'leader.imbalance.per.broker.percentage',
    type: 'int',
    defaultValue: '10',
    unit: 'percent',
    min: 0,
    max: 100,
    scopes: ['cluster'],
    doc: "Rebalance a broker's partitions when more than this share of those it prefers are led elsewhere.",
  },
];

const BY_NAME = new Map(CONFIG_SCHEMA.map((key) => [key.name, key]));

export function configKey(name: string): ConfigKey | undefined {
  return BY_NAME.get(name);
}

function invalid(name: string, reason: string): RaftkaError {
  return new RaftkaError('INVALID_CONFIG', `Invalid value for config '${name}': ${reason}`);
}

/** The key, or INVALID_CONFIG when it is unknown or not settable on this kind of resource. */
export function requireConfigKey(scope: ConfigResourceType, name: string): ConfigKey {
  const key = BY_NAME.get(name);
  if (key === undefined) throw new RaftkaError('INVALID_CONFIG', `Unknown config '${name}'`);
  if (!key.scopes.includes(scope)) {
    throw new RaftkaError(
      'INVALID_CONFIG',
      `Config '${name}' cannot be set on a ${scope} (only: ${key.scopes.join(', ')})`,
    );
  }
  return key;
}

/**
 * Throws INVALID_CONFIG naming the key and the reason, or returns the value
 * in canonical form (trimmed; lists without blanks).
 */
export function validateConfigValue(scope: ConfigResourceType, name: string, value: string): string {
  const key = requireConfigKey(scope, name);
  const text = value.trim();
  switch (key.type) {
    case 'int':
    case 'long': {
      if (!/^-?\d+$/.test(text)) throw invalid(name, `'${value}' is not an integer`);
      const n = Number(text);
      if (!Number.isSafeInteger(n)) throw invalid(name, `'${value}' is out of range`);
      if (key.min !== undefined && n < key.min) throw invalid(name, `${n} is below the minimum ${key.min}`);
      if (key.max !== undefined && n > key.max) throw invalid(name, `${n} is above the maximum ${key.max}`);
      return String(n);
    }
    case 'boolean': {
      const lower = text.toLowerCase();
      if (lower !== 'true' && lower !== 'false') throw invalid(name, `'${value}' is not true or false`);
      return lower;
    }
    case 'list': {
      const items = text.split(',').map((s) => s.trim());
      if (items.length === 0 || items.some((s) => s === '')) throw invalid(name, `'${value}' has an empty item`);
      const bad = items.find((s) => !key.validItems?.includes(s));
      if (bad !== undefined) throw invalid(name, `'${bad}' is not one of ${key.validItems?.join(', ')}`);
      return [...new Set(items)].join(',');
    }
  }
}

export function parseIntConfig(name: string, value: string): number {
  const key = BY_NAME.get(name);
  if (key === undefined || (key.type !== 'int' && key.type !== 'long')) {
    throw new RangeError(`config ${name} is not numeric`);
  }
  return Number(value);
}

export function parseBooleanConfig(value: string): boolean {
  return value === 'true';
}

/** The schema as a Markdown table, for docs/metadata.md (a test keeps the page in step). */
export function configTableMarkdown(): string {
  const range = (k: ConfigKey): string => {
    if (k.validItems) return k.validItems.join(', ');
    if (k.min === undefined && k.max === undefined) return '';
    return `${k.min ?? ''}..${k.max === INT_MAX ? 'int max' : (k.max ?? '')}`;
  };
  const rows = CONFIG_SCHEMA.map(
    (k) =>
      `| \`${k.name}\` | ${k.type} | \`${k.defaultValue}\` | ${k.unit ?? ''} | ${range(k)} | ${k.scopes.join(', ')} | ${k.doc} |`,
  );
  return [
    '| key | type | default | unit | range | set on | meaning |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
