// MetadataImage: the cluster metadata at one offset of the metadata log, as an
// immutable value. It is never edited: a MetadataDelta replays records on top
// of an image and `apply()` yields the next image, which shares every
// untouched broker, topic and partition object with the previous one (Kafka's
// metadata/image design). Plain objects are frozen; maps are typed readonly
// and never handed to code that writes them.
//
// The image serializes to bytes, which is what a Raft snapshot holds: a node
// that loads a snapshot and replays the records after it ends with the same
// image as one that replayed the whole log. The serialization is canonical
// (brokers by id, topics by name, configs by key), so two images are equal
// exactly when their bytes are equal.
//
// Snapshot layout: [format u8 = 0x4d 'M'][version u8][crc32c u32 BE of payload][payload: UTF-8 JSON].
import { crc32c, RaftkaError } from '@raftka/common';
import { CONFIG_SCHEMA, configKey } from './config-schema.js';
import type { Listener } from './records.js';

/** Leader id of a partition with no leader (offline). */
export const NO_LEADER = -1;

export interface BrokerRegistration {
  readonly brokerId: number;
  /** Offset of the RegisterBroker record of this incarnation. */
  readonly brokerEpoch: number;
  readonly incarnationId: string;
  readonly rack: string | null;
  readonly listeners: readonly Listener[];
  readonly fenced: boolean;
  readonly inControlledShutdown: boolean;
  /** Offset of the record that put the broker in controlled shutdown, or -1. */
  readonly controlledShutdownOffset: number;
}

export interface PartitionRegistration {
  /** Assignment order; replicas[0] is the preferred leader. */
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leader: number;
  /** Bumped on every leader change. */
  readonly leaderEpoch: number;
  /** Bumped on every change of this partition. */
  readonly partitionEpoch: number;
}

export interface TopicImage {
  readonly name: string;
  readonly topicId: string;
  /** Indexed by partition id; partitions are 0..n-1 and never removed. */
  readonly partitions: readonly PartitionRegistration[];
}

export interface MetadataImageParts {
  /** Offset of the last record replayed into this image, or -1. */
  readonly offset: number;
  readonly brokers: ReadonlyMap<number, BrokerRegistration>;
  readonly topicsById: ReadonlyMap<string, TopicImage>;
  readonly topicIdsByName: ReadonlyMap<string, string>;
  readonly clusterConfigs: ReadonlyMap<string, string>;
  readonly topicConfigs: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly nextProducerId: number;
  readonly features: ReadonlyMap<string, number>;
}

const SNAPSHOT_FORMAT = 0x4d;
const SNAPSHOT_VERSION = 0;
const SNAPSHOT_HEADER_BYTES = 6;

export class MetadataImage implements MetadataImageParts {
  static readonly EMPTY = new MetadataImage({
    offset: -1,
    brokers: new Map(),
    topicsById: new Map(),
    topicIdsByName: new Map(),
    clusterConfigs: new Map(),
    topicConfigs: new Map(),
    nextProducerId: 0,
    features: new Map(),
  });

  readonly offset: number;
  readonly brokers: ReadonlyMap<number, BrokerRegistration>;
  readonly topicsById: ReadonlyMap<string, TopicImage>;
  readonly topicIdsByName: ReadonlyMap<string, string>;
  readonly clusterConfigs: ReadonlyMap<string, string>;
  readonly topicConfigs: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly nextProducerId: number;
  readonly features: ReadonlyMap<string, number>;

  constructor(parts: MetadataImageParts) {
    this.offset = parts.offset;
    this.brokers = parts.brokers;
    this.topicsById = parts.topicsById;
    this.topicIdsByName = parts.topicIdsByName;
    this.clusterConfigs = parts.clusterConfigs;
    this.topicConfigs = parts.topicConfigs;
    this.nextProducerId = parts.nextProducerId;
    this.features = parts.features;
    Object.freeze(this);
  }

  broker(brokerId: number): BrokerRegistration | undefined {
    return this.brokers.get(brokerId);
  }

  topicByName(name: string): TopicImage | undefined {
    const id = this.topicIdsByName.get(name);
    return id === undefined ? undefined : this.topicsById.get(id);
  }

  partition(topicId: string, partition: number): PartitionRegistration | undefined {
    return this.topicsById.get(topicId)?.partitions[partition];
  }

  /** Unfenced and not in controlled shutdown: may lead, join an ISR and receive new replicas. */
  isActiveBroker(brokerId: number): boolean {
    const b = this.brokers.get(brokerId);
    return b !== undefined && !b.fenced && !b.inControlledShutdown;
  }

  /** The value in force for a key: the topic's own, else the cluster default, else the schema default. */
  effectiveConfig(topicName: string | null, name: string): string {
    if (topicName !== null) {
      const own = this.topicConfigs.get(topicName)?.get(name);
      if (own !== undefined) return own;
    }
    const cluster = this.clusterConfigs.get(name);
    if (cluster !== undefined) return cluster;
    const key = configKey(name);
    if (key === undefined) throw new RangeError(`unknown config ${name}`);
    return key.defaultValue;
  }

  toBytes(): Uint8Array {
    const payload = new TextEncoder().encode(JSON.stringify(canonicalForm(this)));
    const bytes = new Uint8Array(SNAPSHOT_HEADER_BYTES + payload.length);
    const view = new DataView(bytes.buffer);
    bytes[0] = SNAPSHOT_FORMAT;
    bytes[1] = SNAPSHOT_VERSION;
    view.setUint32(2, crc32c(payload));
    bytes.set(payload, SNAPSHOT_HEADER_BYTES);
    return bytes;
  }

  static fromBytes(bytes: Uint8Array): MetadataImage {
    if (bytes.length < SNAPSHOT_HEADER_BYTES || bytes[0] !== SNAPSHOT_FORMAT) {
      throw new RaftkaError('CORRUPT_STATE', 'not a metadata image snapshot');
    }
    if (bytes[1] !== SNAPSHOT_VERSION) {
      throw new RaftkaError('UNSUPPORTED_VERSION', `metadata image version ${bytes[1]} (this build reads 0)`);
    }
    const payload = bytes.subarray(SNAPSHOT_HEADER_BYTES);
    const expected = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2);
    if (crc32c(payload) !== expected) throw new RaftkaError('CORRUPT_STATE', 'metadata image CRC mismatch');
    try {
      return fromCanonicalForm(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)));
    } catch (cause) {
      throw new RaftkaError('CORRUPT_STATE', 'metadata image payload does not parse', { cause });
    }
  }

  equals(other: MetadataImage): boolean {
    const a = this.toBytes();
    const b = other.toBytes();
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
}

// --- Canonical form -----------------------------------------------------------

interface CanonicalImage {
  offset: number;
  brokers: BrokerRegistration[];
  topics: TopicImage[];
  clusterConfigs: [string, string][];
  topicConfigs: [string, [string, string][]][];
  nextProducerId: number;
  features: [string, number][];
}

const byKey = <T>(a: [string, T], b: [string, T]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

function canonicalForm(image: MetadataImage): CanonicalImage {
  return {
    offset: image.offset,
    brokers: [...image.brokers.values()]
      .sort((a, b) => a.brokerId - b.brokerId)
      .map((b) => ({
        brokerId: b.brokerId,
        brokerEpoch: b.brokerEpoch,
        incarnationId: b.incarnationId,
        rack: b.rack,
        listeners: b.listeners.map((l) => ({ name: l.name, host: l.host, port: l.port })),
        fenced: b.fenced,
        inControlledShutdown: b.inControlledShutdown,
        controlledShutdownOffset: b.controlledShutdownOffset,
      })),
    topics: [...image.topicsById.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((t) => ({
        name: t.name,
        topicId: t.topicId,
        partitions: t.partitions.map((p) => ({
          replicas: [...p.replicas],
          isr: [...p.isr],
          leader: p.leader,
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: p.partitionEpoch,
        })),
      })),
    clusterConfigs: [...image.clusterConfigs.entries()].sort(byKey),
    topicConfigs: [...image.topicConfigs.entries()]
      .map(([name, configs]): [string, [string, string][]] => [name, [...configs.entries()].sort(byKey)])
      .sort(byKey),
    nextProducerId: image.nextProducerId,
    features: [...image.features.entries()].sort(byKey),
  };
}

function fromCanonicalForm(c: CanonicalImage): MetadataImage {
  if (!Number.isSafeInteger(c.offset) || !Array.isArray(c.brokers) || !Array.isArray(c.topics)) {
    throw new Error('metadata image is missing fields');
  }
  const brokers = new Map<number, BrokerRegistration>();
  for (const b of c.brokers) {
    brokers.set(
      b.brokerId,
      freezeBroker({ ...b, listeners: b.listeners.map((l) => ({ name: l.name, host: l.host, port: l.port })) }),
    );
  }
  const topicsById = new Map<string, TopicImage>();
  const topicIdsByName = new Map<string, string>();
  for (const t of c.topics) {
    topicsById.set(t.topicId, freezeTopic(t.name, t.topicId, t.partitions.map(freezePartition)));
    topicIdsByName.set(t.name, t.topicId);
  }
  return new MetadataImage({
    offset: c.offset,
    brokers,
    topicsById,
    topicIdsByName,
    clusterConfigs: new Map(c.clusterConfigs),
    topicConfigs: new Map(c.topicConfigs.map(([name, configs]) => [name, new Map(configs)])),
    nextProducerId: c.nextProducerId,
    features: new Map(c.features),
  });
}

export function freezeBroker(b: BrokerRegistration): BrokerRegistration {
  Object.freeze(b.listeners);
  for (const l of b.listeners) Object.freeze(l);
  return Object.freeze({ ...b });
}

/** A frozen copy of an id list; one that is frozen already (an image's own) is shared as is. */
function frozenIds(ids: readonly number[]): readonly number[] {
  return Object.isFrozen(ids) ? ids : Object.freeze([...ids]);
}

export function freezePartition(p: PartitionRegistration): PartitionRegistration {
  return Object.freeze({
    replicas: frozenIds(p.replicas),
    isr: frozenIds(p.isr),
    leader: p.leader,
    leaderEpoch: p.leaderEpoch,
    partitionEpoch: p.partitionEpoch,
  });
}

export function freezeTopic(name: string, topicId: string, partitions: readonly PartitionRegistration[]): TopicImage {
  return Object.freeze({ name, topicId, partitions: Object.freeze([...partitions]) });
}

/** Every key the schema knows for a scope, for DescribeConfigs. */
export function schemaKeysFor(scope: 'cluster' | 'topic'): string[] {
  return CONFIG_SCHEMA.filter((k) => k.scopes.includes(scope)).map((k) => k.name);
}
