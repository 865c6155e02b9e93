// One partition replica on this broker (Kafka's Partition): its log, its
// idempotent-producer state, and which role it plays in which leader epoch.
// The role objects are the sans-IO cores of @raftka/replication; this class
// only ties them to the log on disk and keeps the producer state in step
// with every append and truncation, so that a follower that becomes leader
// can answer retried batches with their original offsets.
import { readBatchHeader } from '@raftka/codec';
import type { PartitionLog } from '@raftka/log';
import type { LocalPartition } from '@raftka/metadata';
import {
  type FollowerLogView,
  FollowerPartitionState,
  LeaderPartitionState,
  ProducerStateManager,
} from '@raftka/replication';

export type PartitionRole = 'none' | 'leader' | 'follower';

export function partitionKey(topicId: string, partition: number): string {
  return `${topicId}:${partition}`;
}

export class Partition {
  readonly topicId: string;
  readonly topicName: string;
  readonly partition: number;
  readonly key: string;
  readonly log: PartitionLog;
  #producers: ProducerStateManager | undefined;
  leader: LeaderPartitionState | undefined;
  follower: FollowerPartitionState | undefined;
  /** As the last metadata named them. */
  leaderId = -1;
  leaderEpoch = -1;
  replicas: readonly number[] = [];
  isr: readonly number[] = [];
  minInsyncReplicas = 1;
  maxMessageBytes = 1024 * 1024;
  /** Set once the replica is deleted or the broker stops: nothing may touch the log again. */
  closed = false;

  constructor(topicId: string, topicName: string, partition: number, log: PartitionLog) {
    this.topicId = topicId;
    this.topicName = topicName;
    this.partition = partition;
    this.key = partitionKey(topicId, partition);
    this.log = log;
  }

  get role(): PartitionRole {
    if (this.leader !== undefined) return 'leader';
    if (this.follower !== undefined) return 'follower';
    return 'none';
  }

  get name(): string {
    return `${this.topicName}-${this.partition}`;
  }

  /**
   * The producer state, rebuilt from the log's batch headers on first use.
   * Kept up to date from then on by `recordAppended` and `truncateTo`.
   */
  get producers(): ProducerStateManager {
    if (this.#producers === undefined) {
      const producers = new ProducerStateManager();
      let offset = this.log.logStartOffset;
      // Bounded by the log end: every read returns at least one batch or stops.
      while (offset < this.log.logEndOffset) {
        const read = this.log.read(offset, 4 * 1024 * 1024);
        if (read.batches.length === 0) break;
        for (const batch of read.batches) {
          const h = readBatchHeader(batch);
          if (h === undefined) continue;
          producers.replay(h, h.baseOffset, h.maxTimestamp);
        }
        offset = read.nextOffset;
      }
      this.#producers = producers;
    }
    return this.#producers;
  }

  /** producer.id.expiration.ms: forgets producers idle that long (nothing to do before the state is loaded). */
  expireProducers(nowMs: number, expirationMs: number): number {
    return this.#producers?.expire(nowMs, expirationMs) ?? 0;
  }

  /** Loads the producer state from the log now (see `producers`). */
  loadProducerState(): void {
    void this.producers;
  }

  /** After a follower append: keep the producer state (if loaded) in step with the log. */
  recordAppended(batches: Buffer): void {
    if (this.#producers === undefined) return;
    let pos = 0;
    // Bounded by the buffer: each step consumes one whole batch.
    while (pos < batches.length) {
      const h = readBatchHeader(batches, pos);
      if (h === undefined || h.sizeBytes <= 0) break;
      this.#producers.replay(h, h.baseOffset, h.maxTimestamp);
      pos += h.sizeBytes;
    }
  }

  /** The log as the follower core reads it. */
  logView(): FollowerLogView {
    const log = this.log;
    return {
      get logStartOffset() {
        return log.logStartOffset;
      },
      get logEndOffset() {
        return log.logEndOffset;
      },
      get latestEpoch() {
        return log.latestEpoch();
      },
      endOffsetForEpoch: (epoch: number) => log.endOffsetForEpoch(epoch),
    };
  }

  truncateTo(offset: number): void {
    this.log.truncateTo(offset);
    this.#producers?.truncateTo(offset);
  }

  truncateFullyAndStartAt(offset: number): void {
    this.log.truncateFullyAndStartAt(offset);
    this.#producers = new ProducerStateManager();
  }

  becomeLeader(p: LocalPartition, brokerId: number, nowMs: number, replicaLagTimeMaxMs: number): void {
    this.follower = undefined;
    this.leaderId = p.leader;
    this.leaderEpoch = p.leaderEpoch;
    this.replicas = p.replicas;
    this.isr = p.isr;
    this.log.assignEpochStartOffset(p.leaderEpoch);
    const leo = this.log.logEndOffset;
    this.leader = new LeaderPartitionState({
      localBrokerId: brokerId,
      replicas: p.replicas,
      isr: p.isr,
      leaderEpoch: p.leaderEpoch,
      partitionEpoch: p.partitionEpoch,
      minInsyncReplicas: this.minInsyncReplicas,
      leaderEpochStartOffset: leo,
      highWatermark: Math.min(this.log.highWatermark, leo),
      nowMs,
      replicaLagTimeMaxMs,
    });
  }

  becomeFollower(p: LocalPartition, brokerId: number): void {
    this.leader = undefined;
    this.leaderId = p.leader;
    this.leaderEpoch = p.leaderEpoch;
    this.replicas = p.replicas;
    this.isr = p.isr;
    this.follower =
      p.leader >= 0 && p.leader !== brokerId
        ? new FollowerPartitionState({
            localBrokerId: brokerId,
            leaderId: p.leader,
            leaderEpoch: p.leaderEpoch,
            highWatermark: this.log.highWatermark,
          })
        : undefined;
  }

  /** The replica no longer plays any role (deleted, or the broker stops). */
  stop(): void {
    this.leader = undefined;
    this.follower = undefined;
  }
}
