// The metadata records: the only things that ever change cluster metadata.
// The active controller's handlers produce them, the Raft log orders them, and
// every controller and broker replays them into the same MetadataImage. They
// follow KRaft's record set (KIP-631): brokers register and change state,
// topics and partitions are created and changed, configs are set, producer id
// blocks are handed out, feature levels move, and a no-op keeps the high
// watermark moving when nothing else happens.
//
// Encoding: `[type u8][version u8][payload]`. The two header bytes make every
// record self-describing, so a decoder refuses a type or version it does not
// know with a typed error instead of misreading bytes. The Raft log around
// these bytes carries the CRC. Each type has its own version so one record can
// grow a field without touching the others; a decoder keeps accepting every
// older version it lists and upgrades it in `decode`.
//
// Version 1 (what this build writes) is a compact binary payload, the fields
// in schema order: integers as zigzag varints, strings as a varint byte
// length and UTF-8, arrays as a varint count, a nullable value behind a
// presence byte. Version 0, the first format, was UTF-8 JSON with the fields
// in the same order; logs and snapshots written with it still decode. JSON
// went because a broker failure writes one PartitionChange per partition it
// led or followed (10,001 records for 10,000 partitions at RF 3), and each of
// them is encoded once, then stored, sent and decoded on every controller and
// broker: at about 100 bytes and several microseconds per record in JSON, that
// was a large share of the time until the new leaders commit. In binary a
// PartitionChange is about a third of the bytes and a fraction of the time.
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

/** How one field is checked, written and read (binary payloads). */
interface FieldType {
  /** Whether a value has this field's type (encode checks every field; JSON payloads are checked after parsing). */
  readonly check: (value: unknown) => boolean;
  readonly write: (w: Writer, value: never) => void;
  readonly read: (r: Reader) => unknown;
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

const int: FieldType = {
  check: isInt,
  write: (w, v: number) => w.int(v),
  read: (r) => r.int(),
};
const str: FieldType = {
  check: (v) => typeof v === 'string',
  write: (w, v: string) => w.string(v),
  read: (r) => r.string(),
};
/** A nullable field: a presence byte (0 = null, 1 = value), then the value. */
function nullable(inner: FieldType): FieldType {
  return {
    check: (v) => v === null || inner.check(v),
    write: (w, v: never) => {
      if (v === null) {
        w.byte(0);
        return;
      }
      w.byte(1);
      inner.write(w, v);
    },
    read: (r) => (r.presence() ? inner.read(r) : null),
  };
}
const intArray: FieldType = {
  check: (v) => Array.isArray(v) && v.every(isInt),
  write: (w, v: readonly number[]) => {
    w.count(v.length);
    for (const x of v) w.int(x);
  },
  read: (r) => {
    const n = r.count();
    const out: number[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = r.int();
    return out;
  },
};
const listeners: FieldType = {
  check: (v) =>
    Array.isArray(v) &&
    v.every(
      (l) =>
        typeof l === 'object' &&
        l !== null &&
        typeof l.name === 'string' &&
        typeof l.host === 'string' &&
        Number.isSafeInteger(l.port),
    ),
  write: (w, v: readonly Listener[]) => {
    w.count(v.length);
    for (const l of v) {
      w.string(l.name);
      w.string(l.host);
      w.int(l.port);
    }
  },
  read: (r) => {
    const n = r.count();
    const out: Listener[] = [];
    for (let i = 0; i < n; i++) out.push({ name: r.string(), host: r.string(), port: r.int() });
    return out;
  },
};
/** One of a few strings, written as its index in `values` (a new value goes at the end). */
function oneOf(...values: string[]): FieldType {
  return {
    check: (v) => typeof v === 'string' && values.includes(v),
    write: (w, v: string) => w.count(values.indexOf(v)),
    read: (r) => {
      const index = r.index();
      const value = values[index];
      if (value === undefined)
        throw new RecordDecodeError('malformed', `enum index ${index} of [${values.join(', ')}]`);
      return value;
    },
  };
}
const nullableStr = nullable(str);
const nullableInt = nullable(int);
const nullableIntArray = nullable(intArray);

interface RecordSchema {
  /** Wire type id; never reused. */
  readonly id: number;
  /** The version this build writes. */
  readonly version: number;
  /** Fields of the current version, in wire order. */
  readonly fields: readonly (readonly [string, FieldType])[];
  /**
   * Older versions this build still reads, each with its upgrade to the
   * current shape. Version 0 is the JSON payload of the first format (same
   * fields); versions from 1 are binary.
   */
  readonly upgrades: Readonly<Record<number, (payload: Record<string, unknown>) => Record<string, unknown>>>;
}

/** The JSON format (version 0) had the current fields: nothing to upgrade. */
const SAME_FIELDS = (payload: Record<string, unknown>): Record<string, unknown> => payload;

export const RECORD_SCHEMAS: Readonly<Record<MetadataRecordType, RecordSchema>> = {
  RegisterBroker: {
    id: 1,
    version: 1,
    fields: [
      ['brokerId', int],
      ['incarnationId', str],
      ['rack', nullableStr],
      ['listeners', listeners],
    ],
    upgrades: { 0: SAME_FIELDS },
  },
  BrokerRegistrationChange: {
    id: 2,
    version: 1,
    fields: [
      ['brokerId', int],
      ['brokerEpoch', int],
      ['change', oneOf('fence', 'unfence', 'controlled-shutdown')],
    ],
    upgrades: { 0: SAME_FIELDS },
  },
  Topic: {
    id: 3,
    version: 1,
    fields: [
      ['name', str],
      ['topicId', str],
    ],
    upgrades: { 0: SAME_FIELDS },
  },
  Partition: {
    id: 4,
    version: 1,
    fields: [
      ['topicId', str],
      ['partition', int],
      ['replicas', intArray],
      ['isr', intArray],
      ['leader', int],
      ['leaderEpoch', int],
      ['partitionEpoch', int],
    ],
    upgrades: { 0: SAME_FIELDS },
  },
  PartitionChange: {
    id: 5,
    version: 1,
    fields: [
      ['topicId', str],
      ['partition', int],
      ['leader', nullableInt],
      ['isr', nullableIntArray],
      ['replicas', nullableIntArray],
    ],
    upgrades: { 0: SAME_FIELDS },
  },
  Config: {
    id: 6,
    version: 1,
    fields: [
      ['resourceType', oneOf('cluster', 'topic')],
      ['resourceName', str],
      ['name', str],
      ['value', nullableStr],
    ],
    upgrades: { 0: SAME_FIELDS },
  },
  RemoveTopic: { id: 7, version: 1, fields: [['topicId', str]], upgrades: { 0: SAME_FIELDS } },
  ProducerIds: {
    id: 8,
    version: 1,
    fields: [
      ['brokerId', int],
      ['brokerEpoch', int],
      ['nextProducerId', int],
    ],
    upgrades: { 0: SAME_FIELDS },
  },
  FeatureLevel: {
    id: 9,
    version: 1,
    fields: [
      ['name', str],
      ['featureLevel', int],
    ],
    upgrades: { 0: SAME_FIELDS },
  },
  NoOp: { id: 10, version: 1, fields: [], upgrades: { 0: SAME_FIELDS } },
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

// --- Binary payloads ---------------------------------------------------------------

/** Varints of safe integers take at most 8 bytes (zigzag doubles the magnitude, up to 2^54). */
const MAX_VARINT_BYTES = 8;
const INITIAL_SCRATCH_BYTES = 4096;
const MAX_KEPT_SCRATCH_BYTES = 1024 * 1024;
/** Strings up to this many bytes are decoded without TextDecoder when they are ASCII. */
const SHORT_STRING_BYTES = 64;

/**
 * Writes one record into a scratch buffer that grows as needed and is
 * reused by the next record (encoding is synchronous); `finish` copies the
 * bytes out.
 */
class Writer {
  #buf = new Uint8Array(INITIAL_SCRATCH_BYTES);
  #pos = 0;

  start(): void {
    this.#pos = 0;
  }

  get position(): number {
    return this.#pos;
  }

  finish(): Uint8Array {
    const bytes = this.#buf.slice(0, this.#pos);
    // A large batch grew the scratch buffer; it is not kept that large.
    if (this.#buf.length > MAX_KEPT_SCRATCH_BYTES) this.#buf = new Uint8Array(INITIAL_SCRATCH_BYTES);
    return bytes;
  }

  #reserve(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + bytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
  }

  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#pos++] = b;
  }

  /** A non-negative safe integer (lengths, counts, enum indexes), unsigned. */
  count(n: number): void {
    this.#uvarint(n);
  }

  /**
   * Any safe integer as a zigzag varint, so -1 takes one byte. The zigzag
   * value 2|n| needs 54 bits, more than a double holds exactly, so the first
   * byte (sign and low 6 bits) is made apart from the rest (the value / 64).
   */
  int(n: number): void {
    const negative = n < 0;
    const k = negative ? -n - 1 : n;
    const first = (k % 64) * 2 + (negative ? 1 : 0);
    const rest = Math.floor(k / 64);
    if (rest === 0) {
      this.byte(first);
      return;
    }
    this.byte(first | 0x80);
    this.#uvarint(rest);
  }

  #uvarint(v: number): void {
    this.#reserve(MAX_VARINT_BYTES);
    const buf = this.#buf;
    // Bit operations only below 2^31; above, arithmetic keeps all 53 bits.
    while (v >= 0x80) {
      buf[this.#pos++] = v < 0x80000000 ? (v & 0x7f) | 0x80 : (v % 0x80) | 0x80;
      v = v < 0x80000000 ? v >>> 7 : Math.floor(v / 0x80);
    }
    buf[this.#pos++] = v;
  }

  string(s: string): void {
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii) {
      const bytes = encoder.encode(s);
      this.#uvarint(bytes.length);
      this.#reserve(bytes.length);
      this.#buf.set(bytes, this.#pos);
      this.#pos += bytes.length;
      return;
    }
    this.#uvarint(n);
    this.#reserve(n);
    const buf = this.#buf;
    let pos = this.#pos;
    for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i);
    this.#pos = pos;
  }
}

/** Reads one binary payload; every read past the end or out of range is a `malformed` RecordDecodeError. */
class Reader {
  readonly #bytes: Uint8Array;
  #pos: number;

  constructor(bytes: Uint8Array, pos: number) {
    this.#bytes = bytes;
    this.#pos = pos;
  }

  get done(): boolean {
    return this.#pos === this.#bytes.length;
  }

  presence(): boolean {
    const b = this.#bytes[this.#pos++];
    if (b === 0) return false;
    if (b === 1) return true;
    throw new RecordDecodeError('malformed', b === undefined ? 'payload ends early' : `presence byte ${b}`);
  }

  /** An enum index. */
  index(): number {
    return this.#uvarint();
  }

  /** An array length: each element takes at least a byte, so it is bounded by what is left. */
  count(): number {
    const n = this.#uvarint();
    if (n > this.#bytes.length - this.#pos)
      throw new RecordDecodeError('malformed', `count ${n} runs past the payload`);
    return n;
  }

  /** The zigzag varint of `Writer.int`, read the same way: the first byte, then the rest. */
  int(): number {
    const b = this.#bytes[this.#pos++];
    if (b === undefined) throw new RecordDecodeError('malformed', 'payload ends early');
    const low = (b & 0x7f) >>> 1;
    const k = b < 0x80 ? low : low + this.#uvarint() * 64;
    const n = (b & 1) === 1 ? -k - 1 : k;
    if (!Number.isSafeInteger(n)) throw new RecordDecodeError('malformed', 'integer beyond the safe integers');
    return n;
  }

  #uvarint(): number {
    const bytes = this.#bytes;
    let b = bytes[this.#pos++];
    if (b !== undefined && b < 0x80) return b;
    let v = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (b === undefined) throw new RecordDecodeError('malformed', 'payload ends early');
      v += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (v > 2 ** 54) throw new RecordDecodeError('malformed', 'varint beyond the safe integers');
        return v;
      }
      scale *= 0x80;
      b = bytes[this.#pos++];
    }
    throw new RecordDecodeError('malformed', 'varint longer than 8 bytes');
  }

  string(): string {
    const n = this.#uvarint();
    const start = this.#pos;
    const end = start + n;
    const bytes = this.#bytes;
    if (end > bytes.length) throw new RecordDecodeError('malformed', 'string runs past the payload');
    this.#pos = end;
    if (n <= SHORT_STRING_BYTES) {
      // A batch repeats the same few strings (one topic id per partition
      // change): the last short string decoded is reused when its bytes match.
      const last = lastShort;
      if (last.bytes.length === n) {
        let i = 0;
        while (i < n && last.bytes[i] === bytes[start + i]) i++;
        if (i === n) return last.value;
      }
      let ascii = true;
      for (let i = start; i < end; i++) {
        if (bytes[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        const slice = bytes.slice(start, end);
        const value = String.fromCharCode.apply(null, slice as unknown as number[]);
        lastShort = { bytes: slice, value };
        return value;
      }
    }
    try {
      return decoder.decode(bytes.subarray(start, end));
    } catch (cause) {
      throw new RecordDecodeError('malformed', 'string is not UTF-8', { cause });
    }
  }
}

const writer = new Writer();
/** The last short ASCII string a Reader decoded, with its bytes. */
let lastShort: { bytes: Uint8Array; value: string } = { bytes: new Uint8Array(0), value: '' };

function checkFields(schema: RecordSchema, type: string, payload: Record<string, unknown>): string | null {
  for (const [name, field] of schema.fields) {
    if (!field.check(payload[name])) return `${type}.${name} is ${JSON.stringify(payload[name])}`;
  }
  return null;
}

export function encodeRecord(record: MetadataRecord): Uint8Array {
  writer.start();
  writeRecord(record);
  return writer.finish();
}

/**
 * Encodes a batch into one buffer: each record's bytes are a view of it, so
 * a batch of ten thousand records makes one allocation, not ten thousand.
 */
export function encodeRecords(records: readonly MetadataRecord[]): Uint8Array[] {
  writer.start();
  const ends: number[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    writeRecord(records[i]!);
    ends[i] = writer.position;
  }
  const all = writer.finish();
  const out: Uint8Array[] = new Array(records.length);
  let start = 0;
  for (let i = 0; i < records.length; i++) {
    const end = ends[i]!;
    out[i] = all.subarray(start, end);
    start = end;
  }
  return out;
}

function writeRecord(record: MetadataRecord): void {
  const schema = RECORD_SCHEMAS[record.type];
  const fields = record as unknown as Record<string, unknown>;
  const problem = checkFields(schema, record.type, fields);
  if (problem !== null) throw new RaftkaError('INVALID_RECORD', `cannot encode ${problem}`);
  // Field order comes from the schema, not from the object, so equal records encode to equal bytes.
  writer.byte(schema.id);
  writer.byte(schema.version);
  const schemaFields = schema.fields;
  for (let i = 0; i < schemaFields.length; i++) {
    const [name, field] = schemaFields[i]!;
    field.write(writer, fields[name] as never);
  }
}

export function decodeRecord(bytes: Uint8Array): MetadataRecord {
  if (bytes.length < 2) throw new RecordDecodeError('malformed', `metadata record of ${bytes.length} bytes`);
  const typeId = bytes[0]!;
  const version = bytes[1]!;
  const type = TYPE_BY_ID.get(typeId);
  if (type === undefined) throw new RecordDecodeError('unknown-type', `unknown metadata record type ${typeId}`);
  const schema = RECORD_SCHEMAS[type];
  if (version === schema.version) {
    const reader = new Reader(bytes, 2);
    const record: Record<string, unknown> = { type };
    const fields = schema.fields;
    for (let i = 0; i < fields.length; i++) {
      const [name, field] = fields[i]!;
      record[name] = field.read(reader);
    }
    if (!reader.done) throw new RecordDecodeError('malformed', `${type} record has bytes after its fields`);
    return record as unknown as MetadataRecord;
  }
  const upgrade = schema.upgrades[version];
  if (upgrade === undefined) {
    throw new RecordDecodeError(
      'unknown-version',
      `${type} record version ${version} (this build reads ${schema.version} and older)`,
    );
  }
  if (version !== 0) throw new RecordDecodeError('unknown-version', `${type} record version ${version}`);
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
