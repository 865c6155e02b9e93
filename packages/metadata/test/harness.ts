// A tiny in-memory metadata log around the quorum controller: every result's
// records are appended at the next offsets, replayed into the controller
// (as the active controller does on append) and committed at once. Tests
// drive the handlers through it and read the image back.
import { SeededRandom } from '@raftka/common';
import { expect } from 'vitest';
import {
  type ControllerResult,
  decodeRecord,
  encodeRecord,
  MetadataImage,
  type MetadataRecord,
  type PartitionRegistration,
  QuorumController,
  type QuorumControllerOptions,
} from '../src/index.js';

export interface LoggedRecord {
  readonly record: MetadataRecord;
  readonly offset: number;
}

export class Harness {
  controller: QuorumController;
  readonly #seed: number;
  readonly log: LoggedRecord[] = [];
  readonly epochs = new Map<number, number>();
  nowMs = 1_000;

  constructor(options: Partial<QuorumControllerOptions> & { seed?: number } = {}) {
    this.#seed = options.seed ?? 1;
    this.controller = new QuorumController({ random: new SeededRandom(this.#seed), ...options });
    this.controller.becomeActive(this.nowMs);
  }

  /**
   * The active controller fails over to a new one that loads the committed
   * image from a snapshot and becomes active now; soft state starts afresh.
   */
  failover(): void {
    const snapshot = this.controller.committedImage.toBytes();
    this.controller = new QuorumController({
      random: new SeededRandom(this.#seed + this.log.length),
      brokerSessionTimeoutMs: this.controller.brokerSessionTimeoutMs,
      image: MetadataImage.fromBytes(snapshot),
    });
    this.controller.becomeActive(this.nowMs);
  }

  get image(): MetadataImage {
    return this.controller.image;
  }

  get endOffset(): number {
    return this.log.length;
  }

  /** Appends, replays and commits the records; returns the response. Records go through the codec on the way. */
  apply<T>(result: ControllerResult<T>): T {
    const base = this.log.length;
    const records = result.records.map((r) => decodeRecord(encodeRecord(r)));
    records.forEach((record, i) => {
      this.log.push({ record, offset: base + i });
    });
    this.controller.replayBatch(records, base);
    this.controller.commit(this.log.length - 1);
    return result.response;
  }

  register(brokerId: number, rack: string | null = null, incarnationId = `inc-${brokerId}-${this.log.length}`): number {
    const base = this.log.length;
    const response = this.apply(
      this.controller.registerBroker(
        { brokerId, incarnationId, rack, listeners: [{ name: 'PLAINTEXT', host: 'localhost', port: 9092 + brokerId }] },
        this.nowMs,
      ),
    );
    const epoch = response.brokerEpoch ?? base + response.registrationRecordIndex!;
    expect(this.image.broker(brokerId)?.brokerEpoch).toBe(epoch);
    this.epochs.set(brokerId, epoch);
    return epoch;
  }

  heartbeat(
    brokerId: number,
    options: { offset?: number; wantFence?: boolean; wantShutDown?: boolean; epoch?: number } = {},
  ): { isCaughtUp: boolean; isFenced: boolean; shouldShutDown: boolean } {
    return this.apply(
      this.controller.brokerHeartbeat(
        {
          brokerId,
          brokerEpoch: options.epoch ?? this.epochs.get(brokerId)!,
          currentMetadataOffset: options.offset ?? this.log.length - 1,
          wantFence: options.wantFence ?? false,
          wantShutDown: options.wantShutDown ?? false,
        },
        this.nowMs,
      ),
    );
  }

  /** Registers and unfences brokers `ids`, optionally with racks. */
  addBrokers(ids: readonly number[], rackOf: (id: number) => string | null = () => null): void {
    for (const id of ids) this.register(id, rackOf(id));
    for (const id of ids) expect(this.heartbeat(id).isFenced).toBe(false);
  }

  /** Heartbeats every unfenced broker, caught up, so none times out. */
  heartbeatAll(): void {
    for (const b of this.image.brokers.values()) if (!b.fenced) this.heartbeat(b.brokerId);
  }

  createTopic(
    name: string,
    numPartitions: number,
    replicationFactor: number,
    configs?: Record<string, string>,
  ): string {
    const [result] = this.apply(
      this.controller.createTopics([{ name, numPartitions, replicationFactor, ...(configs ? { configs } : {}) }]),
    );
    expect(result?.error).toBeNull();
    return result!.topicId!;
  }

  partition(topic: string, partition: number): PartitionRegistration {
    const p = this.image.topicByName(topic)?.partitions[partition];
    expect(p).toBeDefined();
    return p!;
  }

  topicId(name: string): string {
    return this.image.topicByName(name)!.topicId;
  }

  /** Fences a broker through the session timeout: every other unfenced broker keeps heartbeating. */
  timeOut(brokerId: number): readonly MetadataRecord[] {
    this.nowMs += this.controller.brokerSessionTimeoutMs + 1;
    for (const b of this.image.brokers.values()) {
      if (!b.fenced && b.brokerId !== brokerId) this.heartbeat(b.brokerId);
    }
    const result = this.controller.maybeFenceStaleBrokers(this.nowMs);
    expect(result.response.fencedBrokerIds).toEqual([brokerId]);
    this.apply(result);
    return result.records;
  }
}

/** Checks the partition invariants the controller must keep for every partition of the image. */
export function checkPartitionInvariants(image: MetadataImage): void {
  for (const topic of image.topicsById.values()) {
    topic.partitions.forEach((p, i) => {
      const where = `${topic.name}-${i}`;
      expect(p.isr.length, `${where} ISR is empty`).toBeGreaterThan(0);
      expect(new Set(p.isr).size, `${where} ISR has duplicates`).toBe(p.isr.length);
      for (const id of p.isr) expect(p.replicas, `${where} ISR member ${id} is a replica`).toContain(id);
      if (p.leader !== -1) {
        expect(p.isr, `${where} leader is in the ISR`).toContain(p.leader);
        const leader = image.broker(p.leader);
        expect(leader && !leader.fenced && !leader.inControlledShutdown, `${where} leader ${p.leader} is active`).toBe(
          true,
        );
      }
    });
  }
}

/** Epochs only move forward: leader epoch on a leader change, partition epoch on any change. */
export function checkEpochsAdvance(before: MetadataImage, after: MetadataImage): void {
  for (const [topicId, topic] of after.topicsById) {
    const old = before.topicsById.get(topicId);
    if (old === undefined) continue;
    topic.partitions.forEach((p, i) => {
      const q = old.partitions[i];
      if (q === undefined || JSON.stringify(p) === JSON.stringify(q)) return;
      const where = `${topic.name}-${i}`;
      expect(p.partitionEpoch, `${where} partition epoch advances`).toBeGreaterThan(q.partitionEpoch);
      if (p.leader !== q.leader) expect(p.leaderEpoch, `${where} leader epoch advances`).toBeGreaterThan(q.leaderEpoch);
      else expect(p.leaderEpoch, `${where} leader epoch never goes back`).toBeGreaterThanOrEqual(q.leaderEpoch);
    });
  }
}
