// The broker side of metadata: what a new image means for one broker's
// partitions, and the loader that turns committed records and snapshots into
// images and hands each (delta, image) to publishers. Kafka's ReplicaManager
// computes `delta.localChanges(nodeId)` before it takes any partition lock;
// the data path here does the same with `localChanges`.
import { MetadataDelta } from './delta.js';
import { MetadataImage, type PartitionRegistration } from './image.js';
import type { MetadataRecord } from './records.js';

export interface LocalPartition {
  readonly topicId: string;
  readonly topicName: string;
  readonly partition: number;
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

export interface LocalReplicaChanges {
  /** Partitions this broker now leads (new, or changed while it leads). */
  readonly leaders: readonly LocalPartition[];
  /** Partitions this broker now follows, with their leader (-1 when offline) and leader epoch. */
  readonly followers: readonly LocalPartition[];
  /** Partitions whose replica this broker must drop: topic removed, or the broker left the replica set. */
  readonly deletes: readonly { readonly topicId: string; readonly topicName: string; readonly partition: number }[];
}

export function localChanges(delta: MetadataDelta, image: MetadataImage, brokerId: number): LocalReplicaChanges {
  const leaders: LocalPartition[] = [];
  const followers: LocalPartition[] = [];
  const deletes: { topicId: string; topicName: string; partition: number }[] = [];
  for (const [topicId, removed] of delta.removedTopics()) {
    removed.partitions.forEach((p, partition) => {
      if (p.replicas.includes(brokerId)) deletes.push({ topicId, topicName: removed.name, partition });
    });
  }
  for (const [topicId, partitions] of delta.changedPartitions()) {
    const topic = image.topicsById.get(topicId);
    if (topic === undefined) continue;
    for (const partition of [...partitions].sort((a, b) => a - b)) {
      const now = topic.partitions[partition]!;
      if (now.replicas.includes(brokerId)) {
        const local = toLocal(topicId, topic.name, partition, now);
        (now.leader === brokerId ? leaders : followers).push(local);
      } else if (delta.baseImage.partition(topicId, partition)?.replicas.includes(brokerId)) {
        deletes.push({ topicId, topicName: topic.name, partition });
      }
    }
  }
  return { leaders, followers, deletes };
}

function toLocal(topicId: string, topicName: string, partition: number, p: PartitionRegistration): LocalPartition {
  return {
    topicId,
    topicName,
    partition,
    leader: p.leader,
    leaderEpoch: p.leaderEpoch,
    partitionEpoch: p.partitionEpoch,
    replicas: p.replicas,
    isr: p.isr,
  };
}

/** Gets every new image with the delta that produced it (Kafka's MetadataPublisher.onMetadataUpdate). */
export type MetadataPublisher = (delta: MetadataDelta, image: MetadataImage) => void;

/**
 * Builds images from what the Raft observer delivers (a snapshot, then
 * committed batches) and publishes each to every publisher, in order.
 */
export class MetadataLoader {
  #image: MetadataImage;
  readonly #publishers: MetadataPublisher[] = [];

  constructor(image: MetadataImage = MetadataImage.EMPTY) {
    this.#image = image;
  }

  get image(): MetadataImage {
    return this.#image;
  }

  addPublisher(publisher: MetadataPublisher): void {
    this.#publishers.push(publisher);
  }

  /** A snapshot replaces the image; publishers get a delta describing the difference. */
  loadSnapshot(bytes: Uint8Array): MetadataImage {
    const next = MetadataImage.fromBytes(bytes);
    this.#publish(MetadataDelta.between(this.#image, next), next);
    return next;
  }

  /** Committed records at consecutive offsets from `baseOffset`. */
  handleCommit(records: readonly MetadataRecord[], baseOffset: number): MetadataImage {
    if (records.length === 0) return this.#image;
    const delta = new MetadataDelta(this.#image);
    records.forEach((record, i) => {
      delta.replay(record, baseOffset + i);
    });
    const next = delta.apply();
    this.#publish(delta, next);
    return next;
  }

  #publish(delta: MetadataDelta, image: MetadataImage): void {
    this.#image = image;
    for (const publish of this.#publishers) publish(delta, image);
  }
}
