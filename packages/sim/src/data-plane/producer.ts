// Simulated producer clients. An idempotent acks=all producer (Kafka's
// default since 3.0) has a producer id and epoch and, per partition, a
// sequence number per batch; at most 5 batches per partition are unresolved
// from the oldest unacknowledged one, so a retry always falls in the broker's
// window of 5 (max.in.flight.requests.per.connection=5). A batch is retried
// with the same sequence after a timeout, a lost answer, NOT_LEADER_OR_FOLLOWER
// (after a metadata refresh), NOT_ENOUGH_REPLICAS(_AFTER_APPEND) or
// REQUEST_TIMED_OUT; an OUT_OF_ORDER_SEQUENCE_NUMBER while an earlier batch is
// unresolved is retried too (the network reorders), otherwise the producer
// bumps its epoch and gives up its unacknowledged batches (never resending
// their records, so nothing is written twice). An acks=1 producer has no
// producer id and never retries: its losses are allowed and counted.
// Every record value is unique, so the checkers can tell writes apart.
import type { ErrorName } from '@raftka/common';
import type { SimMessage, World } from '../world.js';
import type { DataPlaneMessage } from './messages.js';

export const MAX_IN_FLIGHT = 5;

export interface ProducerObserver {
  acknowledged(producer: SimProducer, partition: number, batch: ProducerBatch, baseOffset: number): void;
}

export interface ProducerBatch {
  readonly producerEpoch: number;
  readonly sequence: number;
  readonly values: readonly string[];
  status: 'waiting' | 'in-flight' | 'acked' | 'failed';
  attempt: number;
  /** Correlation id of the latest attempt. */
  correlationId: number;
  sentMs: number;
  retryAtMs: number;
}

interface PartitionQueue {
  batches: ProducerBatch[];
  nextSequence: number;
}

export interface ProducerConfig {
  readonly producerId: number;
  /** -1 (all) or 1. */
  readonly acks: number;
  readonly partitions: readonly number[];
  readonly controllerId: number;
  readonly intervalMs: readonly [number, number];
  readonly requestTimeoutMs: number;
  readonly brokerTimeoutMs: number;
}

const METADATA_REFRESH_MS = 1000;
const RETRY_BACKOFF_MS = 60;

export class SimProducer {
  readonly nodeId: number;
  up = true;
  readonly incarnation = 0;
  producerEpoch = 0;
  leaders: readonly number[] = [];
  running = true;
  private readonly queues = new Map<number, PartitionQueue>();
  private readonly byCorrelation = new Map<number, { partition: number; batch: ProducerBatch; attempt: number }>();
  private nextCorrelationId = 1;
  private nextBatchMs = 0;
  private nextMetadataMs = 0;
  private recordCounter = 0;
  epochBumps = 0;
  sentBatches = 0;
  ackedBatches = 0;
  failedBatches = 0;

  constructor(
    private readonly world: World,
    nodeId: number,
    readonly config: ProducerConfig,
    private readonly random: { int(min: number, max: number): number; pick<T>(items: readonly T[]): T },
    private readonly observer: ProducerObserver,
  ) {
    this.nodeId = nodeId;
    for (const p of config.partitions) this.queues.set(p, { batches: [], nextSequence: 0 });
  }

  get idempotent(): boolean {
    return this.config.acks === -1;
  }

  /** Batches neither acknowledged nor given up. */
  get unresolved(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.batches.length;
    return n;
  }

  receive(message: SimMessage, nowMs: number): void {
    const m = message as DataPlaneMessage;
    if (m.type === 'MetadataResponse') {
      this.leaders = m.leaders;
      return;
    }
    if (m.type !== 'ProduceResponse') return;
    const sent = this.byCorrelation.get(m.correlationId);
    if (sent === undefined) return;
    this.byCorrelation.delete(m.correlationId);
    const { partition, batch } = sent;
    const queue = this.queues.get(partition)!;
    if (batch.status === 'acked' || batch.status === 'failed') return;
    if (m.error === 'NONE') {
      // Any attempt's success counts: they all carry the same batch.
      batch.status = 'acked';
      this.ackedBatches += 1;
      this.observer.acknowledged(this, partition, batch, m.baseOffset);
      this.dropResolved(queue);
      return;
    }
    if (sent.attempt !== batch.attempt) return; // an older attempt's error; the newer one decides
    if (!this.idempotent) {
      this.fail(queue, batch);
      return;
    }
    this.onError(queue, batch, m.error, nowMs);
  }

  private onError(queue: PartitionQueue, batch: ProducerBatch, error: ErrorName, nowMs: number): void {
    if (error === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || error === 'INVALID_PRODUCER_EPOCH') {
      const earlierUnresolved = queue.batches.some(
        (b) => b.sequence < batch.sequence && b.producerEpoch === batch.producerEpoch && b.status !== 'acked',
      );
      if (!earlierUnresolved || error === 'INVALID_PRODUCER_EPOCH') {
        this.bumpEpoch();
        return;
      }
    }
    if (error === 'NOT_LEADER_OR_FOLLOWER') this.nextMetadataMs = nowMs;
    batch.status = 'waiting';
    batch.retryAtMs = nowMs + RETRY_BACKOFF_MS;
  }

  /** KIP-360: a new epoch; unacknowledged batches are given up, sequences start again at 0. */
  private bumpEpoch(): void {
    this.producerEpoch += 1;
    this.epochBumps += 1;
    for (const q of this.queues.values()) {
      for (const b of q.batches) if (b.status !== 'acked') this.failedBatches += 1;
      for (const b of q.batches) b.status = 'failed';
      q.batches = [];
      q.nextSequence = 0;
    }
  }

  private fail(queue: PartitionQueue, batch: ProducerBatch): void {
    batch.status = 'failed';
    this.failedBatches += 1;
    queue.batches = queue.batches.filter((b) => b !== batch);
    this.dropResolved(queue);
  }

  private dropResolved(queue: PartitionQueue): void {
    // Acked batches leave from the front only: the in-flight window counts from the oldest unacknowledged.
    while (queue.batches.length > 0 && queue.batches[0]!.status === 'acked') queue.batches.shift();
  }

  tick(nowMs: number): void {
    if (nowMs >= this.nextMetadataMs) {
      this.nextMetadataMs = nowMs + METADATA_REFRESH_MS;
      this.send({ type: 'MetadataRequest', from: this.nodeId, to: this.config.controllerId, correlationId: 0 });
    }
    if (this.running && nowMs >= this.nextBatchMs) {
      this.nextBatchMs = nowMs + this.random.int(this.config.intervalMs[0], this.config.intervalMs[1] + 1);
      const p = this.random.pick(this.config.partitions);
      const queue = this.queues.get(p)!;
      if (queue.batches.length < MAX_IN_FLIGHT) {
        const count = this.random.int(1, 4);
        const values: string[] = [];
        for (let i = 0; i < count; i++) values.push(`${this.nodeId}.${this.recordCounter++}`);
        queue.batches.push({
          producerEpoch: this.producerEpoch,
          sequence: queue.nextSequence,
          values,
          status: 'waiting',
          attempt: 0,
          correlationId: -1,
          sentMs: -1,
          retryAtMs: nowMs,
        });
        queue.nextSequence += count;
      }
    }
    for (const [p, queue] of this.queues) {
      for (const b of queue.batches) {
        if (b.status === 'in-flight' && nowMs - b.sentMs >= this.config.requestTimeoutMs) {
          if (!this.idempotent) {
            this.fail(queue, b);
            break;
          }
          b.status = 'waiting';
          b.retryAtMs = nowMs;
        }
      }
      // Sends go out in sequence order.
      for (const b of queue.batches) if (b.status === 'waiting' && nowMs >= b.retryAtMs) this.sendBatch(p, b, nowMs);
    }
  }

  private sendBatch(partition: number, batch: ProducerBatch, nowMs: number): void {
    const leader = this.leaders[partition] ?? -1;
    if (leader < 0) {
      batch.retryAtMs = nowMs + RETRY_BACKOFF_MS;
      return;
    }
    const correlationId = this.nextCorrelationId++;
    batch.attempt += 1;
    batch.correlationId = correlationId;
    batch.status = 'in-flight';
    batch.sentMs = nowMs;
    this.sentBatches += 1;
    this.byCorrelation.set(correlationId, { partition, batch, attempt: batch.attempt });
    this.send({
      type: 'Produce',
      from: this.nodeId,
      to: leader,
      correlationId,
      partition,
      acks: this.config.acks,
      producerId: this.idempotent ? this.config.producerId : -1,
      producerEpoch: this.idempotent ? batch.producerEpoch : -1,
      baseSequence: this.idempotent ? batch.sequence : -1,
      values: batch.values,
      timeoutMs: this.config.brokerTimeoutMs,
    });
  }

  nextDeadlineMs(): number {
    let next = this.nextMetadataMs;
    if (this.running) next = Math.min(next, this.nextBatchMs);
    for (const q of this.queues.values()) {
      for (const b of q.batches) {
        if (b.status === 'waiting') next = Math.min(next, b.retryAtMs);
        else if (b.status === 'in-flight') next = Math.min(next, b.sentMs + this.config.requestTimeoutMs);
      }
    }
    return next;
  }

  peerDisconnected(): void {}
  crash(): void {
    throw new Error('simulated producers do not crash');
  }
  restart(): void {}

  describe(): string {
    const qs = [...this.queues]
      .map(([p, q]) => `p${p}:[${q.batches.map((b) => `${b.sequence}${b.status[0]}`).join(' ')}]`)
      .join(' ');
    return `producer ${this.nodeId} pid=${this.config.producerId} e${this.producerEpoch} acks=${this.config.acks} ${qs}`;
  }

  private send(message: DataPlaneMessage): void {
    this.world.send(message);
  }
}
