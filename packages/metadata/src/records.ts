// The metadata records: the only things that ever change cluster metadata.
// The active controller's handlers produce them, the Raft log orders them, and
// every controller and broker replays them into the same MetadataImage. They
// follow KRaft's record set (KIP-631): brokers register and change state,
// topics and partitions are created and changed, configs are set, producer id
// blocks are handed out, feature levels move, and a no-op keeps the high
// watermark moving when nothing else happens.
//
// Encoding: `[type u8][version u8][payload]`, where the payload is UTF-8 JSON
// with the fields in a fixed order. Metadata records are few and small
// (control plane, not data plane), and a readable payload makes a dumped log
// or snapshot debuggable without tools; the two header bytes make every record
// self-describing, so a decoder refuses a type or version it does not know
// with a typed error instead of misreading bytes. The Raft log around these
// bytes carries the CRC. Each type has its own version so one record can grow
// a field without touching the others; a decoder keeps accepting every older
// version it lists and upgrades it in `decode`.
import { RaftkaError } from '@raftka/common';

export interface Listener {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** A broker (re-)registers; its broker epoch is the offset of this record. */
export interface RegisterBrokerRecord {
  readonly type: 'RegisterBroker';
  readonly brokerId: number;
  /** A new id on every process start, so a restarted broker is told apart from a live duplicate. */
  readonly incarnationId: string;
  readonly rack: string | null;
  readonly listeners: readonly Listener[];
}

export type BrokerRegistrationChange = 'fence' | 'unfence' | 'controlled-shutdown';

/** Fence, unfence or put into controlled shutdown (KIP-841) one registration. */
export interface BrokerRegistrationChangeRecord {
  readonly type: 'BrokerRegistrationChange';
  readonly brokerId: number;
  readonly brokerEpoch: number;
  readonly change: BrokerRegistrationChange;
}

export interface TopicRecord {
  readonly type: 'Topic';
  readonly name: string;
  readonly topicId: string;
}

export interface PartitionRecord {
  readonly type: 'Partition';
  readonly topicId: string;
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
}

/**
 * A change to one partition; `null` fields are unchanged. Replay bumps the
 * partition epoch always and the leader epoch when the leader changes, so the
 * record never carries epochs the replaying node could disagree on.
 */
export interface PartitionChangeRecord {
  readonly type: 'PartitionChange';
  readonly topicId: string;
  readonly partition: number;
  readonly leader: number | null;
  readonly isr: readonly number[] | null;
  readonly replicas: readonly number[] | null;
}

export type ConfigResourceType = 'cluster' | 'topic';

/** Sets (or, with a null value, removes) one config key of the cluster default or of a topic. */
export interface ConfigRecord {
  readonly type: 'Config';
  readonly resourceType: ConfigResourceType;
  /** Topic name, or '' for the cluster default. */
  readonly resourceName: string;
  readonly name: string;
  readonly value: string | null;
}

/** Removes a topic, its partitions and its configs. */
export interface RemoveTopicRecord {
  readonly type: 'RemoveTopic';
  readonly topicId: string;
}

/** A block of producer ids went to a broker; the next block starts at `nextProducerId`. */
export interface ProducerIdsRecord {
  readonly type: 'ProducerIds';
  readonly brokerId: number;
  readonly brokerEpoch: number;
  readonly nextProducerId: number;
}

export interface FeatureLevelRecord {
  readonly type: 'FeatureLevel';
  readonly name: string;
  readonly featureLevel: number;
}

/** Written every `metadata.max.idle.interval.ms` so the high watermark keeps moving. */
export interface NoOpRecord {
  readonly type: 'NoOp';
}

export type MetadataRecord =
  | RegisterBrokerRecord
  | BrokerRegistrationChangeRecord
  | TopicRecord
  | PartitionRecord
  | PartitionChangeRecord
  | ConfigRecord
  | RemoveTopicRecord
  | ProducerIdsRecord
  | FeatureLevelRecord
  | NoOpRecord;

export type MetadataRecordType = MetadataRecord['type'];

// --- Schema -----------------------------------------------------------------

type Check = (value: unknown) => boolean;

const int: Check = (v) => Number.isSafeInteger(v);
const str: Check = (v) => typeof v === 'string';
const nullableStr: Check = (v) => v === null || typeof v === 'string';
const nullableInt: Check = (v) => v === null || Number.isSafeInteger(v);
const intArray: Check = (v) => Array.isArray(v) && v.every((x) => Number.isSafeInteger(x));
const nullableIntArray: Check = (v) => v === null || intArray(v);
const listeners: Check = (v) =>
  Array.isArray(v) &&
  v.every(
    (l) =>
      typeof l === 'object' &&
      l !== null &&
      typeof l.name === 'string' &&
      typeof l.host === 'string' &&
      Number.isSafeInteger(l.port),
  );
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);

interface RecordSchema {
  /** Wire type id; never reused. */
  readonly id: number;
  /** The version this build writes. */
  readonly version: number;
  /** Fields of the current version, in wire order. */
  readonly fields: readonly (readonly [string, Check])[];
  /** Older versions this build still reads, each with its upgrade to the current shape. */
  readonly upgrades: Readonly<Record<number, (payload: Record<string, unknown>) => Record<string, unknown>>>;
}

export const RECORD_SCHEMAS: Readonly<Record<MetadataRecordType, RecordSchema>> = {
  RegisterBroker: {
    id: 1,
    version: 0,
    fields: [
      ['brokerId', int],
      ['incarnationId', str],
      ['rack', nullableStr],
      ['listeners', listeners],
    ],
    upgrades: {},
  },
  BrokerRegistrationChange: {
    id: 2,
    version: 0,
    fields: [
      ['brokerId', int],
      ['brokerEpoch', int],
      ['change', oneOf('fence', 'unfence', 'controlled-shutdown')],
    ],
    upgrades: {},
  },
  Topic: {
    id: 3,
    version: 0,
    fields: [
      ['name', str],
      ['topicId', str],
    ],
    upgrades: {},
  },
  Partition: {
    id: 4,
    version: 0,
    fields: [
      ['topicId', str],
      ['partition', int],
      ['replicas', intArray],
      ['isr', intArray],
      ['leader', int],
      ['leaderEpoch', int],
      ['partitionEpoch', int],
    ],
    upgrades: {},
  },
  PartitionChange: {
    id: 5,
    version: 0,
    fields: [
      ['topicId', str],
      ['partition', int],
      ['leader', nullableInt],
      ['isr', nullableIntArray],
      ['replicas', nullableIntArray],
    ],
    upgrades: {},
  },
  Config: {
    id: 6,
    version: 0,
    fields: [
      ['resourceType', oneOf('cluster', 'topic')],
      ['resourceName', str],
      ['name', str],
      ['value', nullableStr],
    ],
    upgrades: {},
  },
  RemoveTopic: { id: 7, version: 0, fields: [['topicId', str]], upgrades: {} },
  ProducerIds: {
    id: 8,
    version: 0,
    fields: [
      ['brokerId', int],
      ['brokerEpoch', int],
      ['nextProducerId', int],
    ],
    upgrades: {},
  },
  FeatureLevel: {
    id: 9,
    version: 0,
    fields: [
      ['name', str],
      ['featureLevel', int],
    ],
    upgrades: {},
  },
  NoOp: { id: 10, version: 0, fields: [], upgrades: {} },
};

const TYPE_BY_ID = new Map<number, MetadataRecordType>(
  (Object.keys(RECORD_SCHEMAS) as MetadataRecordType[]).map((type) => [RECORD_SCHEMAS[type].id, type]),
);

export type RecordDecodeFailure = 'unknown-type' | 'unknown-version' | 'malformed';

/** Bytes that do not decode to a record this build understands. */
export class RecordDecodeError extends RaftkaError {
  readonly reason: RecordDecodeFailure;
  constructor(reason: RecordDecodeFailure, message: string, options?: { cause?: unknown }) {
    super(reason === 'malformed' ? 'CORRUPT_STATE' : 'UNSUPPORTED_VERSION', message, options);
    this.reason = reason;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function checkFields(schema: RecordSchema, type: string, payload: Record<string, unknown>): string | null {
  for (const [name, check] of schema.fields) {
    if (!check(payload[name])) return `${type}.${name} is ${JSON.stringify(payload[name])}`;
  }
  return null;
}

export function encodeRecord(record: MetadataRecord): Uint8Array {
  const schema = RECORD_SCHEMAS[record.type];
  const fields = record as unknown as Record<string, unknown>;
  const problem = checkFields(schema, record.type, fields);
  if (problem !== null) throw new RaftkaError('INVALID_RECORD', `cannot encode ${problem}`);
  // Field order comes from the schema, not from the object, so equal records encode to equal bytes.
  const payload: Record<string, unknown> = {};
  for (const [name] of schema.fields) payload[name] = fields[name];
  const json = encoder.encode(JSON.stringify(payload));
  const bytes = new Uint8Array(2 + json.length);
  bytes[0] = schema.id;
  bytes[1] = schema.version;
  bytes.set(json, 2);
  return bytes;
}

export function decodeRecord(bytes: Uint8Array): MetadataRecord {
  if (bytes.length < 2) throw new RecordDecodeError('malformed', `metadata record of ${bytes.length} bytes`);
  const typeId = bytes[0]!;
  const version = bytes[1]!;
  const type = TYPE_BY_ID.get(typeId);
  if (type === undefined) throw new RecordDecodeError('unknown-type', `unknown metadata record type ${typeId}`);
  const schema = RECORD_SCHEMAS[type];
  const upgrade = version === schema.version ? (p: Record<string, unknown>) => p : schema.upgrades[version];
  if (upgrade === undefined) {
    throw new RecordDecodeError(
      'unknown-version',
      `${type} record version ${version} (this build reads ${schema.version})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes.subarray(2)));
  } catch (cause) {
    throw new RecordDecodeError('malformed', `${type} record payload is not JSON`, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RecordDecodeError('malformed', `${type} record payload is not an object`);
  }
  const payload = upgrade(parsed as Record<string, unknown>);
  const problem = checkFields(schema, type, payload);
  if (problem !== null) throw new RecordDecodeError('malformed', `bad field: ${problem}`);
  const record: Record<string, unknown> = { type };
  for (const [name] of schema.fields) record[name] = payload[name];
  return record as unknown as MetadataRecord;
}
