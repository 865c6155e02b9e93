// MetadataDelta: the changes of a run of records on top of a base image.
// `replay(record, offset)` is the only way metadata changes, on controllers and
// brokers alike; `apply()` turns the delta into the next immutable image,
// reusing every broker, topic and partition object the records did not touch.
// Replay never validates a decision (the controller did that before it wrote
// the record); it asserts only what would mean a corrupt or misordered log,
// such as a change to a partition that does not exist.
//
// The delta also remembers which topics and partitions changed and which
// topics were removed, so a broker can compute its local changes
// (local-changes.ts) without comparing whole images.
import { assert, unreachable } from '@raftka/common';
import {
  type BrokerRegistration,
  freezeBroker,
  freezePartition,
  freezeTopic,
  MetadataImage,
  type PartitionRegistration,
  type TopicImage,
} from './image.js';
import type { MetadataRecord, PartitionChangeRecord } from './records.js';

interface TopicWork {
  name: string;
  topicId: string;
  partitions: PartitionRegistration[];
}

export class MetadataDelta {
  readonly baseImage: MetadataImage;
  #offset: number;
  readonly #brokers = new Map<number, BrokerRegistration>();
  /** Topics created or changed in this delta (removed ones are in #removedTopics only). */
  readonly #topics = new Map<string, TopicWork>();
  readonly #changedPartitions = new Map<string, Set<number>>();
  /** Names of the topics in #topics, so a name lookup does not scan them. */
  readonly #topicIdsByName = new Map<string, string>();
  /** Topics of the base image removed by this delta, as they were. */
  readonly #removedTopics = new Map<string, TopicImage>();
  #clusterConfigs: Map<string, string> | null = null;
  readonly #topicConfigs = new Map<string, Map<string, string> | null>();
  #nextProducerId: number;
  readonly #features = new Map<string, number>();
  /** Set by `between`: the image this delta leads to, taken as is. */
  #target: MetadataImage | null = null;

  constructor(baseImage: MetadataImage) {
    this.baseImage = baseImage;
    this.#offset = baseImage.offset;
    this.#nextProducerId = baseImage.nextProducerId;
  }

  /**
   * The delta from one image to another that came from elsewhere (a loaded
   * snapshot): it records the changed partitions and removed topics, and
   * `apply()` returns `after`. It cannot replay records.
   */
  static between(before: MetadataImage, after: MetadataImage): MetadataDelta {
    const delta = new MetadataDelta(before);
    delta.#target = after;
    delta.#offset = after.offset;
    for (const [topicId, topic] of before.topicsById) {
      if (!after.topicsById.has(topicId)) delta.#removedTopics.set(topicId, topic);
    }
    for (const [topicId, topic] of after.topicsById) {
      const old = before.topicsById.get(topicId);
      topic.partitions.forEach((p, partition) => {
        const q = old?.partitions[partition];
        if (q === undefined || !samePartition(p, q)) delta.#markChanged(topicId, partition);
      });
    }
    return delta;
  }

  /** Offset of the last record replayed. */
  get offset(): number {
    return this.#offset;
  }

  replay(record: MetadataRecord, offset: number): void {
    assert(this.#target === null, 'a delta between two images replays no records');
    assert(Number.isSafeInteger(offset) && offset > this.#offset, () => {
      return `metadata record ${record.type} at offset ${offset} after offset ${this.#offset}`;
    });
    this.#offset = offset;
    switch (record.type) {
      case 'RegisterBroker':
        this.#brokers.set(
          record.brokerId,
          freezeBroker({
            brokerId: record.brokerId,
            brokerEpoch: offset,
            incarnationId: record.incarnationId,
            rack: record.rack,
            listeners: record.listeners.map((l) => ({ name: l.name, host: l.host, port: l.port })),
            fenced: true,
            inControlledShutdown: false,
            controlledShutdownOffset: -1,
          }),
        );
        return;
      case 'BrokerRegistrationChange': {
        const broker = this.broker(record.brokerId);
        assert(broker !== undefined, `registration change for unknown broker ${record.brokerId}`);
        // A change aimed at an older incarnation lost a race with a re-registration: the new one wins.
        if (broker.brokerEpoch !== record.brokerEpoch) return;
        const next =
          record.change === 'fence'
            ? { ...broker, fenced: true }
            : record.change === 'unfence'
              ? { ...broker, fenced: false }
              : { ...broker, inControlledShutdown: true, controlledShutdownOffset: offset };
        this.#brokers.set(record.brokerId, freezeBroker(next));
        return;
      }
      case 'Topic':
        assert(this.topicIdByName(record.name) === undefined, `topic ${record.name} replayed twice`);
        this.#topics.set(record.topicId, { name: record.name, topicId: record.topicId, partitions: [] });
        this.#topicIdsByName.set(record.name, record.topicId);
        return;
      case 'Partition': {
        const topic = this.#workTopic(record.topicId);
        assert(record.partition === topic.partitions.length, () => {
          return `partition ${record.partition} of ${topic.name} replayed with ${topic.partitions.length} partitions`;
        });
        topic.partitions.push(freezePartition(record));
        this.#markChanged(record.topicId, record.partition);
        return;
      }
      case 'PartitionChange':
        this.#replayPartitionChange(record);
        return;
      case 'Config':
        this.#replayConfig(record.resourceType, record.resourceName, record.name, record.value);
        return;
      case 'RemoveTopic': {
        const topic = this.topic(record.topicId);
        assert(topic !== undefined, `removal of unknown topic ${record.topicId}`);
        const base = this.baseImage.topicsById.get(record.topicId);
        // A topic created and removed within this delta leaves no trace at all.
        if (base !== undefined) this.#removedTopics.set(record.topicId, base);
        this.#topics.delete(record.topicId);
        this.#topicIdsByName.delete(topic.name);
        this.#changedPartitions.delete(record.topicId);
        // Kafka removes the topic's configs with it, so a new topic of the same name starts clean.
        this.#topicConfigs.set(topic.name, null);
        return;
      }
      case 'ProducerIds':
        assert(record.nextProducerId > this.#nextProducerId, 'producer id blocks go forward');
        this.#nextProducerId = record.nextProducerId;
        return;
      case 'FeatureLevel':
        this.#features.set(record.name, record.featureLevel);
        return;
      case 'NoOp':
        return;
      default:
        unreachable(record, 'metadata record');
    }
  }

  #replayPartitionChange(record: PartitionChangeRecord): void {
    const topic = this.#workTopic(record.topicId);
    const current = topic.partitions[record.partition];
    assert(current !== undefined, `change to unknown partition ${topic.name}-${record.partition}`);
    const leader = record.leader ?? current.leader;
    topic.partitions[record.partition] = freezePartition({
      replicas: record.replicas ?? current.replicas,
      isr: record.isr ?? current.isr,
      leader,
      leaderEpoch: leader !== current.leader ? current.leaderEpoch + 1 : current.leaderEpoch,
      partitionEpoch: current.partitionEpoch + 1,
    });
    this.#markChanged(record.topicId, record.partition);
  }

  #replayConfig(resourceType: 'cluster' | 'topic', resourceName: string, name: string, value: string | null): void {
    let configs: Map<string, string>;
    if (resourceType === 'cluster') {
      this.#clusterConfigs ??= new Map(this.baseImage.clusterConfigs);
      configs = this.#clusterConfigs;
    } else {
      let work = this.#topicConfigs.get(resourceName);
      if (work === undefined || work === null) {
        work = new Map(work === null ? [] : (this.baseImage.topicConfigs.get(resourceName) ?? []));
        this.#topicConfigs.set(resourceName, work);
      }
      configs = work;
    }
    if (value === null) configs.delete(name);
    else configs.set(name, value);
  }

  #workTopic(topicId: string): TopicWork {
    let work = this.#topics.get(topicId);
    if (work === undefined) {
      const base = this.baseImage.topicsById.get(topicId);
      assert(base !== undefined && !this.#removedTopics.has(topicId), `record for unknown topic ${topicId}`);
      work = { name: base.name, topicId, partitions: [...base.partitions] };
      this.#topics.set(topicId, work);
      this.#topicIdsByName.set(base.name, topicId);
    }
    return work;
  }

  #markChanged(topicId: string, partition: number): void {
    let set = this.#changedPartitions.get(topicId);
    if (set === undefined) {
      set = new Set();
      this.#changedPartitions.set(topicId, set);
    }
    set.add(partition);
  }

  // --- Reads through the delta (latest state) ---------------------------------

  broker(brokerId: number): BrokerRegistration | undefined {
    return this.#brokers.get(brokerId) ?? this.baseImage.brokers.get(brokerId);
  }

  topic(topicId: string): { name: string; partitions: readonly PartitionRegistration[] } | undefined {
    if (this.#removedTopics.has(topicId)) return undefined;
    return this.#topics.get(topicId) ?? this.baseImage.topicsById.get(topicId);
  }

  topicIdByName(name: string): string | undefined {
    const inDelta = this.#topicIdsByName.get(name);
    if (inDelta !== undefined) return inDelta;
    const id = this.baseImage.topicIdsByName.get(name);
    return id === undefined || this.#removedTopics.has(id) ? undefined : id;
  }

  /** Topics with created or changed partitions, with the partition ids that changed. */
  changedPartitions(): ReadonlyMap<string, ReadonlySet<number>> {
    return this.#changedPartitions;
  }

  /** Topics of the base image this delta removed, as they were before. */
  removedTopics(): ReadonlyMap<string, TopicImage> {
    return this.#removedTopics;
  }

  apply(): MetadataImage {
    if (this.#target !== null) return this.#target;
    const base = this.baseImage;
    let brokers = base.brokers;
    if (this.#brokers.size > 0) {
      const next = new Map(base.brokers);
      for (const [id, b] of this.#brokers) next.set(id, b);
      brokers = next;
    }
    let topicsById = base.topicsById;
    let topicIdsByName = base.topicIdsByName;
    if (this.#topics.size > 0 || this.#removedTopics.size > 0) {
      const byId = new Map(base.topicsById);
      const byName = new Map(base.topicIdsByName);
      for (const [id, removed] of this.#removedTopics) {
        byId.delete(id);
        byName.delete(removed.name);
      }
      for (const [id, work] of this.#topics) {
        byId.set(id, freezeTopic(work.name, id, work.partitions));
        byName.set(work.name, id);
      }
      topicsById = byId;
      topicIdsByName = byName;
    }
    let topicConfigs = base.topicConfigs;
    if (this.#topicConfigs.size > 0) {
      const next = new Map(base.topicConfigs);
      for (const [name, configs] of this.#topicConfigs) {
        if (configs === null || configs.size === 0) next.delete(name);
        else next.set(name, new Map(configs));
      }
      topicConfigs = next;
    }
    let features = base.features;
    if (this.#features.size > 0) features = new Map([...base.features, ...this.#features]);
    return new MetadataImage({
      offset: this.#offset,
      brokers,
      topicsById,
      topicIdsByName,
      clusterConfigs: this.#clusterConfigs === null ? base.clusterConfigs : new Map(this.#clusterConfigs),
      topicConfigs,
      nextProducerId: this.#nextProducerId,
      features,
    });
  }
}

function samePartition(a: PartitionRegistration, b: PartitionRegistration): boolean {
  const same = (x: readonly number[], y: readonly number[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.leader === b.leader &&
    a.leaderEpoch === b.leaderEpoch &&
    a.partitionEpoch === b.partitionEpoch &&
    same(a.replicas, b.replicas) &&
    same(a.isr, b.isr)
  );
}

/** Replays records (with their offsets) on top of an image: the loader's and the tests' shortcut. */
export function replayAll(
  image: MetadataImage,
  records: Iterable<{ record: MetadataRecord; offset: number }>,
): MetadataImage {
  const delta = new MetadataDelta(image);
  for (const { record, offset } of records) delta.replay(record, offset);
  return delta.apply();
}
