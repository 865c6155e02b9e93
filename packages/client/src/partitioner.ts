// Which partition a record goes to. Keyed records use Kafka's murmur2 hash,
// `toPositive(murmur2(key)) % numPartitions` with `toPositive(x) = x &
// 0x7fffffff` (not Math.abs), over all partitions, exactly as the Java
// client's BuiltInPartitioner and KafkaJS's DefaultPartitioner do, so that a
// key lands on the same partition whichever of these clients wrote it.
// librdkafka's default (`consistent_random`, CRC32) differs; see docs/client.md.
//
// Records without a key use the sticky partitioner (KIP-480, Java >= 3.3's
// built-in behaviour in its basic form): they all go to one partition until
// the accumulator reports that this partition's batch was closed (full or
// drained), then the partitioner moves to another one. Batches fill up
// instead of many small single-record batches spreading over every partition.
import type { Random } from '@raftka/common';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 over the key's bytes, as a signed 32-bit integer (Java's Utils.murmur2). */
export function murmur2(key: Uint8Array): number {
  const length = key.length;
  let h = SEED ^ length;
  const words = length >>> 2;
  for (let i = 0; i < words; i++) {
    const o = i * 4;
    let k = key[o]! | (key[o + 1]! << 8) | (key[o + 2]! << 16) | (key[o + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  // The tail: Java's switch falls through from case 3 to case 1.
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= key[tail + 2]! << 16;
  if (rest >= 2) h ^= key[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= key[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Java's Utils.toPositive: clears the sign bit (so -2^31 maps to 0, unlike Math.abs). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Java, KafkaJS and librdkafka's `murmur2` partitioner choose for `key`. */
export function partitionForKey(key: Uint8Array | string, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions <= 0) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  }
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  return toPositive(murmur2(bytes)) % numPartitions;
}

export interface PartitionRequest {
  topic: string;
  key: Uint8Array | null;
  /** All partitions of the topic. */
  numPartitions: number;
  /** Partitions with a live leader; the sticky partitioner prefers them. Default: all. */
  availablePartitions?: readonly number[];
}

export interface Partitioner {
  partition(request: PartitionRequest): number;
  /**
   * The accumulator closed the batch it was filling for (topic, partition):
   * it is full or has been drained. The sticky partitioner moves on.
   */
  onBatchClosed(topic: string, partition: number): void;
}

/** Math.random as a `Random`, for callers that inject none. */
export const mathRandom: Random = {
  next: () => Math.random(),
  int: (min, max) => min + Math.floor(Math.random() * (max - min)),
};

/**
 * Sticky partition per topic for records without a key. A new sticky
 * partition is picked at random among the available partitions (all when none
 * is known available), and differs from the previous one when there is a choice.
 */
export class StickyPartitionCache {
  readonly #random: Random;
  readonly #sticky = new Map<string, number>();

  constructor(random: Random = mathRandom) {
    this.#random = random;
  }

  partition(topic: string, numPartitions: number, availablePartitions?: readonly number[]): number {
    const current = this.#sticky.get(topic);
    const candidates = candidatesOf(numPartitions, availablePartitions);
    if (current !== undefined && current < numPartitions && candidates.includes(current)) return current;
    return this.#pick(topic, candidates, current);
  }

  /** Moves the topic off `partition` if it is the sticky one (a batch for it was closed). */
  onBatchClosed(
    topic: string,
    partition: number,
    numPartitions: number,
    availablePartitions?: readonly number[],
  ): void {
    if (this.#sticky.get(topic) !== partition) return;
    this.#pick(topic, candidatesOf(numPartitions, availablePartitions), partition);
  }

  #pick(topic: string, candidates: readonly number[], previous: number | undefined): number {
    let next: number;
    if (candidates.length === 1 || previous === undefined || !candidates.includes(previous)) {
      next = candidates[this.#random.int(0, candidates.length)]!;
    } else {
      // Choose among the others, uniformly.
      const i = this.#random.int(0, candidates.length - 1);
      const skip = candidates.indexOf(previous);
      next = candidates[i >= skip ? i + 1 : i]!;
    }
    this.#sticky.set(topic, next);
    return next;
  }
}

function candidatesOf(numPartitions: number, available?: readonly number[]): readonly number[] {
  if (!Number.isInteger(numPartitions) || numPartitions <= 0) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  }
  const usable = available?.filter((p) => p >= 0 && p < numPartitions);
  if (usable !== undefined && usable.length > 0) return usable;
  return Array.from({ length: numPartitions }, (_, i) => i);
}

/**
 * Kafka's default partitioning: murmur2 for keyed records, sticky for records
 * without a key (or for all records with `ignoreKeys`, Kafka's
 * partitioner.ignore.keys).
 */
export class DefaultPartitioner implements Partitioner {
  readonly #sticky: StickyPartitionCache;
  readonly #ignoreKeys: boolean;
  /** Last topology seen per topic, so onBatchClosed can pick the next sticky partition. */
  readonly #topology = new Map<string, { numPartitions: number; available?: readonly number[] }>();

  constructor(options: { random?: Random; ignoreKeys?: boolean } = {}) {
    this.#sticky = new StickyPartitionCache(options.random);
    this.#ignoreKeys = options.ignoreKeys ?? false;
  }

  partition(request: PartitionRequest): number {
    if (request.key !== null && !this.#ignoreKeys) return partitionForKey(request.key, request.numPartitions);
    this.#topology.set(request.topic, {
      numPartitions: request.numPartitions,
      ...(request.availablePartitions !== undefined ? { available: request.availablePartitions } : {}),
    });
    return this.#sticky.partition(request.topic, request.numPartitions, request.availablePartitions);
  }

  onBatchClosed(topic: string, partition: number): void {
    const topology = this.#topology.get(topic);
    if (topology === undefined) return;
    this.#sticky.onBatchClosed(topic, partition, topology.numPartitions, topology.available);
  }
}
