// The producer's front half: validated configuration, the partitioner and
// the accumulator wired together, so `send` takes a record as users write it
// (string or Buffer key and value, headers as a map or a list) and puts it in
// its partition's batch. The back half, a sender loop that drains the
// accumulator into ProduceTransport, comes with the broker's data path.
import type { RecordHeader } from '@raftka/codec';
import { type Clock, RaftkaError, type Random } from '@raftka/common';
import {
  type AppendOutcome,
  type AppendResult,
  type DeliveryCallback,
  type ProducerBatch,
  type ProducerIdentity,
  type ProducerRecordData,
  RecordAccumulator,
  systemClock,
  type Timer,
  type TopicPartition,
} from './accumulator.js';
import { type ProducerConfig, type ProducerSettings, validateProducerConfig } from './config.js';
import { DefaultPartitioner, type Partitioner } from './partitioner.js';

export interface ProducerRecord {
  topic: string;
  key?: Buffer | string | null;
  value: Buffer | string | null;
  /** A map (one value per key) or a list (keys may repeat), as Kafka allows. */
  headers?:
    | Readonly<Record<string, Buffer | string | null>>
    | readonly { key: string; value: Buffer | string | null }[];
  /** An explicit partition bypasses the partitioner. */
  partition?: number;
  /** CreateTime in ms since the epoch; default the clock's now. */
  timestamp?: number;
}

/** What the producer knows of a topic from metadata. */
export interface TopicLayout {
  numPartitions: number;
  /** Partitions with a live leader; the sticky partitioner prefers them. */
  availablePartitions?: readonly number[];
}

export interface ProducerCoreOptions {
  partitioner?: Partitioner;
  /** For the default partitioner's sticky choices. */
  random?: Random;
  clock?: Clock;
  timer?: Timer;
  producerIdentity?: ProducerIdentity;
  onSequenceGap?: (batch: ProducerBatch) => void;
}

function toBuffer(value: Buffer | string | null | undefined): Buffer | null {
  if (value == null) return null;
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

const NO_HEADERS: readonly RecordHeader[] = Object.freeze([]);

function headersOf(headers: ProducerRecord['headers']): readonly RecordHeader[] {
  if (headers === undefined) return NO_HEADERS;
  const list = Array.isArray(headers)
    ? (headers as readonly { key: string; value: Buffer | string | null }[])
    : Object.entries(headers as Record<string, Buffer | string | null>).map(([key, value]) => ({ key, value }));
  return list.map((h) => ({ key: h.key, value: toBuffer(h.value) }));
}

export class ProducerCore {
  readonly settings: ProducerSettings;
  readonly partitioner: Partitioner;
  readonly accumulator: RecordAccumulator;
  readonly #clock: Clock;

  constructor(config: ProducerConfig = {}, options: ProducerCoreOptions = {}) {
    this.settings = validateProducerConfig(config);
    this.#clock = options.clock ?? systemClock;
    this.partitioner =
      options.partitioner ??
      new DefaultPartitioner({
        ignoreKeys: this.settings.partitionerIgnoreKeys,
        ...(options.random !== undefined ? { random: options.random } : {}),
      });
    this.accumulator = new RecordAccumulator(this.settings, {
      clock: this.#clock,
      ...(options.timer !== undefined ? { timer: options.timer } : {}),
      ...(options.producerIdentity !== undefined ? { producerIdentity: options.producerIdentity } : {}),
      onBatchClosed: (topic, partition) => this.partitioner.onBatchClosed(topic, partition),
      ...(options.onSequenceGap !== undefined ? { onSequenceGap: options.onSequenceGap } : {}),
    });
  }

  /**
   * Picks the record's partition and appends it; resolves once it is in a
   * batch (after waiting for buffer.memory if need be). `delivery` settles when
   * the leader acknowledged it.
   */
  async send(
    record: ProducerRecord,
    layout: TopicLayout,
    nowMs: number = this.#clock.nowMs(),
  ): Promise<AppendResult & { partition: number }> {
    const { tp, data } = this.#prepare(record, layout, nowMs);
    const result = await this.accumulator.append(tp, data, nowMs);
    return { ...result, partition: tp.partition };
  }

  /**
   * send() without waiting: undefined when buffer.memory has no room now.
   * With a callback no promise is made for the record (the hot path).
   */
  trySend(
    record: ProducerRecord,
    layout: TopicLayout,
    nowMs: number,
    callback?: DeliveryCallback,
  ): (AppendOutcome & { partition: number }) | undefined {
    const { tp, data } = this.#prepare(record, layout, nowMs);
    const outcome = this.accumulator.tryAppend(tp, data, nowMs, callback);
    if (outcome === undefined) return undefined;
    return {
      delivery: outcome.delivery,
      newBatchCreated: outcome.newBatchCreated,
      batchIsFull: outcome.batchIsFull,
      partition: tp.partition,
    };
  }

  #prepare(
    record: ProducerRecord,
    layout: TopicLayout,
    nowMs: number,
  ): { tp: TopicPartition; data: ProducerRecordData } {
    if (typeof record.topic !== 'string' || record.topic === '') {
      throw new RaftkaError('INVALID_TOPIC_EXCEPTION', 'a record needs a topic');
    }
    const key = toBuffer(record.key);
    const data: ProducerRecordData = {
      key,
      value: toBuffer(record.value),
      headers: headersOf(record.headers),
      timestamp: record.timestamp ?? nowMs,
    };
    let partition = record.partition;
    if (partition === undefined) {
      const request = {
        topic: record.topic,
        key,
        numPartitions: layout.numPartitions,
        ...(layout.availablePartitions !== undefined ? { availablePartitions: layout.availablePartitions } : {}),
      };
      partition = this.partitioner.partition(request);
      // The record would open a new batch: close the full one first, which
      // moves a sticky partition, and place the record again.
      if (this.accumulator.closeIfRecordDoesNotFit({ topic: record.topic, partition }, data)) {
        partition = this.partitioner.partition(request);
      }
    } else if (!Number.isInteger(partition) || partition < 0 || partition >= layout.numPartitions) {
      throw new RaftkaError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `partition ${partition} is not in [0, ${layout.numPartitions}) for topic ${record.topic}`,
      );
    }
    return { tp: { topic: record.topic, partition }, data };
  }
}
