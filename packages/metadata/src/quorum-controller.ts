// The quorum controller's state and decisions, without IO. The driver owns
// the single ordered event queue and the Raft log; this object owns the
// metadata image and the soft heartbeat state, and its handlers turn a request
// into `{ records, response }` without touching the image.
//
// Image bookkeeping follows Kafka's active controller: records the active
// controller has appended (and so knows the offsets of) are replayed at once
// with `replay`/`replayBatch`, so the next handler decides on top of them
// even before they commit; `commit(offset)` moves the committed image, the one
// that snapshots and publishers see; `resign()` drops what never committed.
// Standby controllers and brokers replay committed records only.
//
// Heartbeat state (last contact, metadata offset) is soft: it is not logged,
// only the active controller keeps it, and on becoming active it seeds every
// registered broker's last contact with now (KAFKA-18138), so a failover does
// not fence healthy brokers whose heartbeats went to the old controller.
import { assert, type ErrorName, RaftkaError, type Random } from '@raftka/common';
import { parseBooleanConfig, parseIntConfig, requireConfigKey, validateConfigValue } from './config-schema.js';
import { MetadataDelta } from './delta.js';
import { type BrokerRegistration, MetadataImage, NO_LEADER, type PartitionRegistration } from './image.js';
import { ControllerCounters } from './metrics.js';
import { buildPartitionChange } from './partition-change.js';
import { placeReplicas } from './placement.js';
import type { ConfigRecord, MetadataRecord, PartitionRecord } from './records.js';
import { RecordsBuilder } from './records-builder.js';
import {
  type AllocateProducerIdsRequest,
  type AllocateProducerIdsResponse,
  type AlterConfigsResource,
  type AlterConfigsResult,
  type AlterPartitionRequest,
  type AlterPartitionResponse,
  type ApiError,
  apiError,
  type BalanceLeadersResponse,
  type BrokerDescription,
  type BrokerHeartbeatRequest,
  type BrokerHeartbeatResponse,
  type BrokerRegistrationRequest,
  type BrokerRegistrationResponse,
  type ConfigResource,
  type ControllerResult,
  type CreatableTopic,
  type CreatePartitionsResult,
  type CreatePartitionsTopic,
  type CreateTopicResult,
  type DeleteTopicResult,
  type DescribeConfigsResult,
  type ElectLeadersRequest,
  type ElectLeadersResult,
  type FeatureUpdate,
  type FenceStaleBrokersResponse,
  type ReplayedBatch,
  type TopicDescription,
} from './requests.js';
import { describeConfigs, describeTopics, validateTopicName } from './topic-rules.js';

export interface QuorumControllerOptions {
  /** Tie-breaking in placement and topic ids. */
  readonly random: Random;
  /** broker.session.timeout.ms */
  readonly brokerSessionTimeoutMs?: number;
  readonly producerIdBlockSize?: number;
  /** Cap on preferred elections per imbalance pass (Kafka's MAX_ELECTIONS_PER_IMBALANCE). */
  readonly maxElectionsPerImbalancePass?: number;
  /** Cap on partitions per CreateTopics/CreatePartitions item, to bound one batch. */
  readonly maxPartitionsPerTopic?: number;
  /** The image to start from (a loaded snapshot); empty by default. */
  readonly image?: MetadataImage;
}

export const DEFAULT_BROKER_SESSION_TIMEOUT_MS = 9000;
export const DEFAULT_PRODUCER_ID_BLOCK_SIZE = 1000;
export const DEFAULT_MAX_ELECTIONS_PER_IMBALANCE_PASS = 1000;
export const DEFAULT_MAX_PARTITIONS_PER_TOPIC = 100_000;

interface BrokerHeartbeatState {
  lastContactMs: number;
  /** Highest metadata offset the broker reported, -1 before its first heartbeat to this controller. */
  metadataOffset: number;
}

export class QuorumController {
  readonly counters = new ControllerCounters();
  readonly brokerSessionTimeoutMs: number;
  readonly #random: Random;
  readonly #producerIdBlockSize: number;
  readonly #maxElectionsPerPass: number;
  readonly #maxPartitionsPerTopic: number;
  #committed: MetadataImage;
  #latest: MetadataImage;
  /** Records replayed into #latest but not yet committed, in offset order. */
  #uncommitted: { record: MetadataRecord; offset: number }[] = [];
  #active = false;
  readonly #heartbeats = new Map<number, BrokerHeartbeatState>();

  constructor(options: QuorumControllerOptions) {
    this.#random = options.random;
    this.brokerSessionTimeoutMs = options.brokerSessionTimeoutMs ?? DEFAULT_BROKER_SESSION_TIMEOUT_MS;
    this.#producerIdBlockSize = options.producerIdBlockSize ?? DEFAULT_PRODUCER_ID_BLOCK_SIZE;
    this.#maxElectionsPerPass = options.maxElectionsPerImbalancePass ?? DEFAULT_MAX_ELECTIONS_PER_IMBALANCE_PASS;
    this.#maxPartitionsPerTopic = options.maxPartitionsPerTopic ?? DEFAULT_MAX_PARTITIONS_PER_TOPIC;
    assert(this.brokerSessionTimeoutMs > 0, 'broker.session.timeout.ms must be positive');
    assert(this.#producerIdBlockSize > 0, 'producer id block size must be positive');
    this.#committed = options.image ?? MetadataImage.EMPTY;
    this.#latest = this.#committed;
  }

  // --- Image bookkeeping ------------------------------------------------------

  /** The image including records appended by this (active) controller but not yet committed. */
  get image(): MetadataImage {
    return this.#latest;
  }

  /** The image at the committed offset: what snapshots and publishers see. */
  get committedImage(): MetadataImage {
    return this.#committed;
  }

  get isActive(): boolean {
    return this.#active;
  }

  replay(record: MetadataRecord, offset: number): void {
    this.replayBatch([record], offset);
  }

  /**
   * Replays records at consecutive offsets starting at `baseOffset`. With
   * `replayed` (the handler's own replay of this very array of records on
   * the current image, at these offsets) its image is taken as is.
   */
  replayBatch(records: readonly MetadataRecord[], baseOffset: number, replayed?: ReplayedBatch): void {
    if (records.length === 0) return;
    if (
      replayed !== undefined &&
      replayed.records === records &&
      replayed.base === this.#latest &&
      replayed.fromOffset === baseOffset
    ) {
      const image = replayed.image();
      assert(image.offset === baseOffset + records.length - 1, 'a replayed batch ends at its last record');
      for (let i = 0; i < records.length; i++) this.#uncommitted.push({ record: records[i]!, offset: baseOffset + i });
      this.#latest = image;
      return;
    }
    const delta = new MetadataDelta(this.#latest);
    records.forEach((record, i) => {
      delta.replay(record, baseOffset + i);
      this.#uncommitted.push({ record, offset: baseOffset + i });
    });
    this.#latest = delta.apply();
  }

  /** Everything up to and including `offset` is committed. */
  commit(offset: number): void {
    if (this.#uncommitted.length === 0 || offset < this.#uncommitted[0]!.offset) return;
    const last = this.#uncommitted[this.#uncommitted.length - 1]!;
    if (offset >= last.offset) {
      this.#committed = this.#latest;
      this.#uncommitted = [];
      return;
    }
    const delta = new MetadataDelta(this.#committed);
    let i = 0;
    for (; i < this.#uncommitted.length && this.#uncommitted[i]!.offset <= offset; i++) {
      const { record, offset: at } = this.#uncommitted[i]!;
      delta.replay(record, at);
    }
    this.#committed = delta.apply();
    this.#uncommitted = this.#uncommitted.slice(i);
  }

  /** Load a snapshot (replaces everything; the records after it follow with `replayBatch`). */
  loadSnapshot(image: MetadataImage): void {
    assert(!this.#active, 'the active controller does not load snapshots');
    this.#committed = image;
    this.#latest = image;
    this.#uncommitted = [];
  }

  /** This node became the Raft leader: start tracking heartbeats, every broker seeded with now. */
  becomeActive(nowMs: number): void {
    assert(!this.#active, 'becomeActive on an active controller');
    assert(this.#uncommitted.length === 0, 'a new active controller starts from committed records');
    this.#active = true;
    this.counters.newActiveControllers++;
    this.#heartbeats.clear();
    for (const id of this.#latest.brokers.keys())
      this.#heartbeats.set(id, { lastContactMs: nowMs, metadataOffset: -1 });
  }

  /** This node lost leadership: forget soft state and everything that did not commit. */
  resign(): void {
    this.#active = false;
    this.#heartbeats.clear();
    this.#latest = this.#committed;
    this.#uncommitted = [];
  }

  #requireActive(what: string): void {
    assert(this.#active, `${what} on a controller that is not active`);
  }

  #finish<T>(batch: RecordsBuilder, response: T): ControllerResult<T> {
    this.counters.leaderElections += batch.elections;
    this.counters.uncleanLeaderElections += batch.uncleanElections;
    const replayed = batch.replayed();
    return replayed === undefined
      ? { records: batch.records, response }
      : { records: batch.records, response, replayed };
  }

  // --- Broker lifecycle -------------------------------------------------------

  registerBroker(request: BrokerRegistrationRequest, nowMs: number): ControllerResult<BrokerRegistrationResponse> {
    this.#requireActive('registerBroker');
    const { brokerId, incarnationId } = request;
    if (!Number.isSafeInteger(brokerId) || brokerId < 0) {
      throw new RaftkaError('INVALID_REQUEST', `broker id ${brokerId} is not a non-negative integer`);
    }
    if (incarnationId === '') throw new RaftkaError('INVALID_REQUEST', 'empty incarnation id');
    for (const l of request.listeners) {
      if (l.name === '' || l.host === '' || !Number.isInteger(l.port) || l.port < 0 || l.port > 65_535) {
        throw new RaftkaError('INVALID_REQUEST', `bad listener ${JSON.stringify(l)}`);
      }
    }
    const image = this.#latest;
    const existing = image.broker(brokerId);
    const batch = new RecordsBuilder(image);
    if (existing !== undefined) {
      if (existing.incarnationId === incarnationId) {
        // A retry whose first answer was lost: same process, same epoch.
        this.#touch(brokerId, nowMs, -1);
        return this.#finish(batch, { brokerId, registrationRecordIndex: null, brokerEpoch: existing.brokerEpoch });
      }
      if (this.#hasLiveSession(brokerId, nowMs)) {
        throw new RaftkaError(
          'DUPLICATE_BROKER_REGISTRATION',
          `broker ${brokerId} is already registered by incarnation ${existing.incarnationId}, which is still heartbeating`,
        );
      }
      // A new incarnation replaces the old: it may have lost unflushed data, so it leaves every ISR it can.
      this.#moveAway(batch, brokerId);
    }
    batch.add({
      type: 'RegisterBroker',
      brokerId,
      incarnationId,
      rack: request.rack,
      listeners: request.listeners.map((l) => ({ name: l.name, host: l.host, port: l.port })),
    });
    this.#heartbeats.set(brokerId, { lastContactMs: nowMs, metadataOffset: -1 });
    return this.#finish(batch, { brokerId, registrationRecordIndex: batch.records.length - 1, brokerEpoch: null });
  }

  brokerHeartbeat(request: BrokerHeartbeatRequest, nowMs: number): ControllerResult<BrokerHeartbeatResponse> {
    this.#requireActive('brokerHeartbeat');
    const broker = this.#checkBrokerEpoch(request.brokerId, request.brokerEpoch);
    this.#touch(broker.brokerId, nowMs, request.currentMetadataOffset);
    const isCaughtUp = request.currentMetadataOffset >= broker.brokerEpoch;
    const batch = new RecordsBuilder(this.#latest);
    const change = (c: 'fence' | 'unfence' | 'controlled-shutdown') =>
      batch.add({
        type: 'BrokerRegistrationChange',
        brokerId: broker.brokerId,
        brokerEpoch: broker.brokerEpoch,
        change: c,
      });

    if (broker.fenced) {
      if (request.wantShutDown) {
        this.#expireSession(broker.brokerId);
        return this.#finish(batch, { isCaughtUp, isFenced: true, shouldShutDown: true });
      }
      if (!request.wantFence && isCaughtUp && !broker.inControlledShutdown) {
        // The unfence goes first: a node whose commit point falls inside this batch must never see
        // the broker lead while its registration still says fenced.
        change('unfence');
        this.#electOnUnfence(batch, broker.brokerId);
        return this.#finish(batch, { isCaughtUp, isFenced: false, shouldShutDown: false });
      }
      return this.#finish(batch, { isCaughtUp, isFenced: true, shouldShutDown: false });
    }
    if (broker.inControlledShutdown) {
      const shouldShutDown = this.#controlledShutdownDone(broker);
      if (shouldShutDown) {
        // As Kafka does: the broker is told to go, so it is fenced now and its restart can register at once.
        this.#moveAway(batch, broker.brokerId);
        change('fence');
        this.#expireSession(broker.brokerId);
      }
      return this.#finish(batch, { isCaughtUp, isFenced: shouldShutDown, shouldShutDown });
    }
    if (request.wantShutDown) {
      // The registration change goes last, so its offset (the controlled shutdown offset) covers the leader moves.
      this.#moveAway(batch, broker.brokerId);
      change('controlled-shutdown');
      return this.#finish(batch, { isCaughtUp, isFenced: false, shouldShutDown: false });
    }
    if (request.wantFence) {
      this.#moveAway(batch, broker.brokerId);
      change('fence');
      return this.#finish(batch, { isCaughtUp, isFenced: true, shouldShutDown: false });
    }
    return this.#finish(batch, { isCaughtUp, isFenced: false, shouldShutDown: false });
  }

  /** Fences every unfenced broker whose last contact is more than the session timeout ago. */
  maybeFenceStaleBrokers(nowMs: number): ControllerResult<FenceStaleBrokersResponse> {
    this.#requireActive('maybeFenceStaleBrokers');
    const batch = new RecordsBuilder(this.#latest);
    const fencedBrokerIds: number[] = [];
    let nextCheckMs: number | null = null;
    for (const broker of [...this.#latest.brokers.values()].sort((a, b) => a.brokerId - b.brokerId)) {
      if (broker.fenced) continue;
      const hb = this.#heartbeats.get(broker.brokerId);
      assert(hb !== undefined, `active controller has no heartbeat state for broker ${broker.brokerId}`);
      const deadlineMs = hb.lastContactMs + this.brokerSessionTimeoutMs;
      if (nowMs > deadlineMs) {
        this.#moveAway(batch, broker.brokerId);
        batch.add({
          type: 'BrokerRegistrationChange',
          brokerId: broker.brokerId,
          brokerEpoch: broker.brokerEpoch,
          change: 'fence',
        });
        fencedBrokerIds.push(broker.brokerId);
      } else if (nextCheckMs === null || deadlineMs + 1 < nextCheckMs) {
        nextCheckMs = deadlineMs + 1;
      }
    }
    this.counters.timedOutBrokerHeartbeats += fencedBrokerIds.length;
    return this.#finish(batch, { fencedBrokerIds, nextCheckMs });
  }

  /** The broker's heartbeat stream closed: fence it now instead of waiting for the session timeout. */
  brokerConnectionLost(brokerId: number, brokerEpoch: number): ControllerResult<{ fenced: boolean }> {
    this.#requireActive('brokerConnectionLost');
    const broker = this.#latest.broker(brokerId);
    const batch = new RecordsBuilder(this.#latest);
    if (broker === undefined || broker.brokerEpoch !== brokerEpoch) return this.#finish(batch, { fenced: false });
    // The process behind this epoch is gone: its restart may register at once.
    this.#expireSession(brokerId);
    if (broker.fenced) return this.#finish(batch, { fenced: false });
    this.#moveAway(batch, brokerId);
    batch.add({ type: 'BrokerRegistrationChange', brokerId, brokerEpoch, change: 'fence' });
    return this.#finish(batch, { fenced: true });
  }

  /** Every registration with its state, by broker id; soft heartbeat fields only on the active controller. */
  describeBrokers(): BrokerDescription[] {
    return [...this.#latest.brokers.values()]
      .sort((a, b) => a.brokerId - b.brokerId)
      .map((b) => {
        const hb = this.#heartbeats.get(b.brokerId);
        return {
          brokerId: b.brokerId,
          brokerEpoch: b.brokerEpoch,
          incarnationId: b.incarnationId,
          rack: b.rack,
          listeners: b.listeners,
          state: b.fenced ? 'fenced' : b.inControlledShutdown ? 'controlled-shutdown' : 'unfenced',
          lastContactMs: hb === undefined || !Number.isFinite(hb.lastContactMs) ? null : hb.lastContactMs,
          metadataOffset: hb?.metadataOffset ?? -1,
        };
      });
  }

  /** Last contact and reported metadata offset of a broker, as this active controller knows them. */
  heartbeatState(brokerId: number): Readonly<BrokerHeartbeatState> | undefined {
    return this.#heartbeats.get(brokerId);
  }

  #touch(brokerId: number, nowMs: number, metadataOffset: number): void {
    const hb = this.#heartbeats.get(brokerId);
    if (hb === undefined) {
      this.#heartbeats.set(brokerId, { lastContactMs: nowMs, metadataOffset });
      return;
    }
    hb.lastContactMs = Math.max(hb.lastContactMs, nowMs);
    hb.metadataOffset = Math.max(hb.metadataOffset, metadataOffset);
  }

  #expireSession(brokerId: number): void {
    const hb = this.#heartbeats.get(brokerId);
    if (hb !== undefined) hb.lastContactMs = Number.NEGATIVE_INFINITY;
  }

  /**
   * Heard from within the session timeout, fenced or not. A broker told to
   * shut down, or whose heartbeat stream broke, has its session expired at
   * once, so its restart is not refused as a duplicate.
   */
  #hasLiveSession(brokerId: number, nowMs: number): boolean {
    const hb = this.#heartbeats.get(brokerId);
    return hb !== undefined && nowMs <= hb.lastContactMs + this.brokerSessionTimeoutMs;
  }

  #checkBrokerEpoch(brokerId: number, brokerEpoch: number): BrokerRegistration {
    const broker = this.#latest.broker(brokerId);
    if (broker === undefined) throw new RaftkaError('STALE_BROKER_EPOCH', `no registration for broker ${brokerId}`);
    if (broker.brokerEpoch !== brokerEpoch) {
      throw new RaftkaError(
        'STALE_BROKER_EPOCH',
        `broker ${brokerId} has epoch ${broker.brokerEpoch}, the request carries ${brokerEpoch}`,
      );
    }
    return broker;
  }

  /**
   * Controlled shutdown is complete when the broker leads nothing and every
   * unfenced broker has replayed past the offset that started it, i.e. has
   * seen the leader moves.
   */
  #controlledShutdownDone(broker: BrokerRegistration): boolean {
    const image = this.#latest;
    for (const topic of image.topicsById.values()) {
      if (topic.partitions.some((p) => p.leader === broker.brokerId)) return false;
    }
    for (const other of image.brokers.values()) {
      if (other.fenced) continue;
      const offset = this.#heartbeats.get(other.brokerId)?.metadataOffset ?? -1;
      if (offset < broker.controlledShutdownOffset) return false;
    }
    return true;
  }

  /**
   * Takes a broker out of every ISR it is in (the last member stays) and gives
   * every partition it leads a new leader, all in the caller's batch.
   */
  #moveAway(batch: RecordsBuilder, brokerId: number): void {
    const image = batch.image;
    const mayLead = (id: number): boolean => id !== brokerId && image.isActiveBroker(id);
    for (const topic of image.topicsById.values()) {
      const uncleanAllowed = parseBooleanConfig(image.effectiveConfig(topic.name, 'unclean.leader.election.enable'));
      topic.partitions.forEach((current, partition) => {
        if (!current.isr.includes(brokerId) && current.leader !== brokerId) return;
        batch.addChange(
          buildPartitionChange({
            topicId: topic.topicId,
            partition,
            current,
            mayLead,
            targetIsr: current.isr.filter((id) => id !== brokerId),
            election: 'online',
            uncleanAllowed,
          }),
        );
      });
    }
  }

  /** A broker comes back: offline partitions it can lead get a leader again. */
  #electOnUnfence(batch: RecordsBuilder, brokerId: number): void {
    const image = batch.image;
    const mayLead = (id: number): boolean => id === brokerId || image.isActiveBroker(id);
    for (const topic of image.topicsById.values()) {
      const uncleanAllowed = parseBooleanConfig(image.effectiveConfig(topic.name, 'unclean.leader.election.enable'));
      topic.partitions.forEach((current, partition) => {
        if (current.leader !== NO_LEADER || !current.replicas.includes(brokerId)) return;
        batch.addChange(
          buildPartitionChange({
            topicId: topic.topicId,
            partition,
            current,
            mayLead,
            election: 'online',
            uncleanAllowed,
          }),
        );
      });
    }
  }

  // --- Topics -----------------------------------------------------------------

  createTopics(topics: readonly CreatableTopic[]): ControllerResult<CreateTopicResult[]> {
    this.#requireActive('createTopics');
    const batch = new RecordsBuilder(this.#latest);
    const counts = new Map<string, number>();
    for (const t of topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    const results = topics.map((topic): CreateTopicResult => {
      const failed = (errorName: ErrorName, message: string): CreateTopicResult => ({
        name: topic.name,
        topicId: null,
        numPartitions: -1,
        replicationFactor: -1,
        error: apiError(errorName, message),
      });
      if ((counts.get(topic.name) ?? 0) > 1) return failed('INVALID_REQUEST', `Duplicate topic name ${topic.name}`);
      try {
        return this.#createTopic(batch, topic);
      } catch (e) {
        if (e instanceof RaftkaError) return failed(e.errorName, e.message);
        throw e;
      }
    });
    return this.#finish(batch, results);
  }

  #createTopic(batch: RecordsBuilder, topic: CreatableTopic): CreateTopicResult {
    const image = batch.image;
    validateTopicName(topic.name, image);
    const configRecords: ConfigRecord[] = Object.entries(topic.configs ?? {}).map(([name, value]) => ({
      type: 'Config',
      resourceType: 'topic',
      resourceName: topic.name,
      name,
      value: validateConfigValue('topic', name, value),
    }));
    let assignments: (readonly number[])[];
    if (topic.assignments !== undefined) {
      if ((topic.numPartitions ?? -1) !== -1 || (topic.replicationFactor ?? -1) !== -1) {
        throw new RaftkaError(
          'INVALID_REQUEST',
          'give either assignments or numPartitions/replicationFactor, not both',
        );
      }
      if (topic.assignments.length === 0)
        throw new RaftkaError('INVALID_PARTITIONS', 'the assignment has no partitions');
      assignments = this.#validateAssignments(image, topic.assignments, null);
    } else {
      const numPartitions =
        (topic.numPartitions ?? -1) === -1
          ? parseIntConfig('num.partitions', image.effectiveConfig(null, 'num.partitions'))
          : topic.numPartitions!;
      const rf =
        (topic.replicationFactor ?? -1) === -1
          ? parseIntConfig('default.replication.factor', image.effectiveConfig(null, 'default.replication.factor'))
          : topic.replicationFactor!;
      this.#checkPartitionCount(numPartitions);
      assignments = this.#place(image, numPartitions, rf, 0, undefined);
    }
    let topicId = randomTopicId(this.#random);
    for (let tries = 0; image.topicsById.has(topicId); tries++) {
      assert(tries < 100, 'topic id generator keeps colliding');
      topicId = randomTopicId(this.#random);
    }
    batch.add({ type: 'Topic', name: topic.name, topicId });
    for (const r of configRecords) batch.add(r);
    assignments.forEach((replicas, partition) => {
      batch.add(newPartition(image, topicId, partition, replicas));
    });
    return {
      name: topic.name,
      topicId,
      numPartitions: assignments.length,
      replicationFactor: assignments[0]!.length,
      error: null,
    };
  }

  #checkPartitionCount(count: number): void {
    if (!Number.isSafeInteger(count) || count <= 0) {
      throw new RaftkaError(
        'INVALID_PARTITIONS',
        `Number of partitions was set to an invalid non-positive value ${count}`,
      );
    }
    if (count > this.#maxPartitionsPerTopic) {
      throw new RaftkaError(
        'INVALID_PARTITIONS',
        `${count} partitions is above the limit of ${this.#maxPartitionsPerTopic}`,
      );
    }
  }

  #place(
    image: MetadataImage,
    count: number,
    rf: number,
    startPartitionId: number,
    partitionZeroLeader: number | undefined,
  ): number[][] {
    if (!Number.isSafeInteger(rf) || rf <= 0) {
      throw new RaftkaError('INVALID_REPLICATION_FACTOR', `Replication factor must be larger than 0, was ${rf}`);
    }
    const brokers = [...image.brokers.values()].filter((b) => image.isActiveBroker(b.brokerId));
    if (brokers.length < rf) {
      throw new RaftkaError(
        'INVALID_REPLICATION_FACTOR',
        `Unable to replicate the partition ${rf} time(s): only ${brokers.length} broker(s) are unfenced`,
      );
    }
    return placeReplicas({
      brokers: brokers.map((b) => ({ brokerId: b.brokerId, rack: b.rack })),
      partitionCount: count,
      replicationFactor: rf,
      startPartitionId,
      ...(partitionZeroLeader === undefined ? {} : { partitionZeroLeader }),
      random: this.#random,
    });
  }

  #validateAssignments(
    image: MetadataImage,
    assignments: readonly (readonly number[])[],
    replicationFactor: number | null,
  ): (readonly number[])[] {
    this.#checkPartitionCount(assignments.length);
    const rf = replicationFactor ?? assignments[0]!.length;
    assignments.forEach((replicas, i) => {
      const bad = (why: string) => new RaftkaError('INVALID_REPLICA_ASSIGNMENT', `partition ${i}: ${why}`);
      if (replicas.length === 0) throw bad('the replica list is empty');
      if (replicas.length !== rf) {
        throw bad(`${replicas.length} replica(s), inconsistent with the replication factor ${rf} of the others`);
      }
      if (new Set(replicas).size !== replicas.length) throw bad(`duplicate brokers in ${JSON.stringify(replicas)}`);
      const unknown = replicas.find((id) => image.broker(id) === undefined);
      if (unknown !== undefined) throw bad(`broker ${unknown} is not registered`);
      if (!replicas.some((id) => image.isActiveBroker(id))) {
        throw bad('every broker in the assignment is fenced or in controlled shutdown');
      }
    });
    return [...assignments];
  }

  deleteTopics(names: readonly string[]): ControllerResult<DeleteTopicResult[]> {
    this.#requireActive('deleteTopics');
    const batch = new RecordsBuilder(this.#latest);
    const results = [...new Set(names)].map((name): DeleteTopicResult => {
      const topic = batch.image.topicByName(name);
      if (topic === undefined) {
        return { name, topicId: null, error: apiError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic ${name}`) };
      }
      batch.add({ type: 'RemoveTopic', topicId: topic.topicId });
      return { name, topicId: topic.topicId, error: null };
    });
    return this.#finish(batch, results);
  }

  createPartitions(topics: readonly CreatePartitionsTopic[]): ControllerResult<CreatePartitionsResult[]> {
    this.#requireActive('createPartitions');
    const batch = new RecordsBuilder(this.#latest);
    const results = topics.map((request): CreatePartitionsResult => {
      try {
        this.#createPartitions(batch, request);
        return { name: request.name, error: null };
      } catch (e) {
        if (e instanceof RaftkaError) return { name: request.name, error: apiError(e.errorName, e.message) };
        throw e;
      }
    });
    return this.#finish(batch, results);
  }

  #createPartitions(batch: RecordsBuilder, request: CreatePartitionsTopic): void {
    const image = batch.image;
    const topic = image.topicByName(request.name);
    if (topic === undefined) throw new RaftkaError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic ${request.name}`);
    const existing = topic.partitions.length;
    if (!Number.isSafeInteger(request.count) || request.count <= existing) {
      throw new RaftkaError(
        'INVALID_PARTITIONS',
        `Topic currently has ${existing} partitions, which is higher than or equal to the requested ${request.count}`,
      );
    }
    this.#checkPartitionCount(request.count);
    const rf = topic.partitions[0]!.replicas.length;
    let assignments: (readonly number[])[];
    if (request.assignments !== undefined) {
      if (request.assignments.length !== request.count - existing) {
        throw new RaftkaError(
          'INVALID_REPLICA_ASSIGNMENT',
          `${request.assignments.length} assignments given for ${request.count - existing} new partitions`,
        );
      }
      assignments = this.#validateAssignments(image, request.assignments, rf);
    } else {
      assignments = this.#place(image, request.count - existing, rf, existing, topic.partitions[0]!.replicas[0]);
    }
    assignments.forEach((replicas, i) => {
      batch.add(newPartition(image, topic.topicId, existing + i, replicas));
    });
  }

  describeTopics(names: readonly string[] | null): TopicDescription[] {
    return describeTopics(this.#latest, names);
  }

  listTopics(): { name: string; topicId: string }[] {
    return [...this.#latest.topicIdsByName.entries()]
      .map(([name, topicId]) => ({ name, topicId }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  // --- Configs ------------------------------------------------------------------

  describeConfigs(resources: readonly ConfigResource[]): DescribeConfigsResult[] {
    return describeConfigs(this.#latest, resources);
  }

  incrementalAlterConfigs(
    resources: readonly AlterConfigsResource[],
    validateOnly = false,
  ): ControllerResult<AlterConfigsResult[]> {
    this.#requireActive('incrementalAlterConfigs');
    const batch = new RecordsBuilder(this.#latest);
    const results = resources.map((resource): AlterConfigsResult => {
      const { resourceType, resourceName } = resource;
      try {
        const records = this.#alterConfigRecords(batch.image, resource);
        if (!validateOnly) for (const r of records) batch.add(r);
        return { resourceType, resourceName, error: null };
      } catch (e) {
        if (e instanceof RaftkaError) return { resourceType, resourceName, error: apiError(e.errorName, e.message) };
        throw e;
      }
    });
    return this.#finish(batch, results);
  }

  #alterConfigRecords(image: MetadataImage, resource: AlterConfigsResource): ConfigRecord[] {
    const { resourceType, resourceName } = resource;
    if (resourceType === 'cluster' && resourceName !== '') {
      throw new RaftkaError('INVALID_REQUEST', `the cluster config resource has the name '', not '${resourceName}'`);
    }
    if (resourceType === 'topic' && image.topicByName(resourceName) === undefined) {
      throw new RaftkaError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic ${resourceName}`);
    }
    const seen = new Set<string>();
    return resource.ops.map((op): ConfigRecord => {
      if (seen.has(op.name)) throw new RaftkaError('INVALID_REQUEST', `config '${op.name}' appears twice`);
      seen.add(op.name);
      if (op.op === 'delete') {
        requireConfigKey(resourceType, op.name);
        return { type: 'Config', resourceType, resourceName, name: op.name, value: null };
      }
      if (op.value === undefined) throw new RaftkaError('INVALID_CONFIG', `Config '${op.name}': set without a value`);
      const value = validateConfigValue(resourceType, op.name, op.value);
      return { type: 'Config', resourceType, resourceName, name: op.name, value };
    });
  }

  // --- Partition leadership and ISR -----------------------------------------------

  alterPartition(request: AlterPartitionRequest): ControllerResult<AlterPartitionResponse> {
    this.#requireActive('alterPartition');
    const image = this.#latest;
    this.#checkBrokerEpoch(request.brokerId, request.brokerEpoch);
    const { topicId, partition } = request;
    const current = image.partition(topicId, partition);
    if (current === undefined) {
      throw new RaftkaError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown partition ${topicId}-${partition}`);
    }
    if (current.leader !== request.brokerId) {
      throw new RaftkaError(
        'NOT_LEADER_OR_FOLLOWER',
        `broker ${request.brokerId} does not lead ${topicId}-${partition}`,
      );
    }
    if (request.leaderEpoch !== current.leaderEpoch) {
      throw new RaftkaError(
        'FENCED_LEADER_EPOCH',
        `leader epoch ${request.leaderEpoch} of ${topicId}-${partition} is not the current ${current.leaderEpoch}`,
      );
    }
    if (request.partitionEpoch !== current.partitionEpoch) {
      throw new RaftkaError(
        'INVALID_UPDATE_VERSION',
        `partition epoch ${request.partitionEpoch} of ${topicId}-${partition} is not the current ${current.partitionEpoch}`,
      );
    }
    const newIsr = request.newIsr;
    if (newIsr.length === 0 || new Set(newIsr).size !== newIsr.length || !newIsr.includes(current.leader)) {
      throw new RaftkaError(
        'INVALID_REQUEST',
        `new ISR ${JSON.stringify(newIsr)} must be distinct and hold the leader`,
      );
    }
    const notReplica = newIsr.find((id) => !current.replicas.includes(id));
    if (notReplica !== undefined) {
      throw new RaftkaError('INVALID_REQUEST', `broker ${notReplica} is not a replica of ${topicId}-${partition}`);
    }
    const ineligible = newIsr.find((id) => !current.isr.includes(id) && !image.isActiveBroker(id));
    if (ineligible !== undefined) {
      throw new RaftkaError(
        'INELIGIBLE_REPLICA',
        `broker ${ineligible} cannot join the ISR of ${topicId}-${partition}: fenced or in controlled shutdown`,
      );
    }
    const batch = new RecordsBuilder(image);
    const changed = newIsr.length !== current.isr.length || newIsr.some((id, i) => current.isr[i] !== id);
    if (changed) {
      batch.add({ type: 'PartitionChange', topicId, partition, leader: null, isr: [...newIsr], replicas: null });
    }
    return this.#finish(batch, {
      topicId,
      partition,
      leader: current.leader,
      leaderEpoch: current.leaderEpoch,
      partitionEpoch: changed ? current.partitionEpoch + 1 : current.partitionEpoch,
      isr: [...newIsr],
    });
  }

  electLeaders(request: ElectLeadersRequest): ControllerResult<ElectLeadersResult[]> {
    this.#requireActive('electLeaders');
    // Elections of different partitions are independent, so each decides on the starting image; asking
    // for the same partition twice gets one election.
    const image = this.#latest;
    const batch = new RecordsBuilder(image);
    const requested =
      request.partitions ??
      [...image.topicsById.values()].flatMap((t) => t.partitions.map((_, partition) => ({ topic: t.name, partition })));
    const seen = new Set<string>();
    const targets = requested.filter(({ topic, partition }) => {
      const key = `${topic}\u0000${partition}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const results = targets.map(({ topic, partition }): ElectLeadersResult => {
      const t = image.topicByName(topic);
      const current = t?.partitions[partition];
      const result = (error: ApiError | null) => ({ topic, partition, error });
      if (t === undefined || current === undefined) {
        return result(apiError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown partition ${topic}-${partition}`));
      }
      const error = this.#elect(batch, image, t.topicId, t.name, partition, current, request.electionType);
      return result(error);
    });
    return this.#finish(batch, results);
  }

  #elect(
    batch: RecordsBuilder,
    image: MetadataImage,
    topicId: string,
    topicName: string,
    partition: number,
    current: PartitionRegistration,
    electionType: 'preferred' | 'unclean',
  ): ApiError | null {
    const mayLead = (id: number) => image.isActiveBroker(id);
    if (electionType === 'preferred') {
      const preferred = current.replicas[0]!;
      if (current.leader === preferred) return apiError('ELECTION_NOT_NEEDED', 'the preferred replica already leads');
      if (!current.isr.includes(preferred) || !mayLead(preferred)) {
        return apiError(
          'PREFERRED_LEADER_NOT_AVAILABLE',
          `preferred replica ${preferred} is not in the ISR or not active`,
        );
      }
      batch.addChange(
        buildPartitionChange({ topicId, partition, current, mayLead, election: 'preferred', uncleanAllowed: false }),
      );
      return null;
    }
    if (current.leader !== NO_LEADER) return apiError('ELECTION_NOT_NEEDED', 'the partition has a leader');
    const outcome = buildPartitionChange({
      topicId,
      partition,
      current,
      mayLead,
      election: 'online',
      uncleanAllowed: true,
    });
    if (outcome.leader === NO_LEADER) {
      return apiError('ELIGIBLE_LEADERS_NOT_AVAILABLE', `no replica of ${topicName}-${partition} is active`);
    }
    batch.addChange(outcome);
    return null;
  }

  /**
   * The automatic preferred-leader check (`auto.leader.rebalance.enable`),
   * called by the driver every `leader.imbalance.check.interval.seconds`. A
   * broker whose share of preferred partitions led elsewhere exceeds
   * `leader.imbalance.per.broker.percentage` gets them back where it can
   * lead; at most `maxElectionsPerImbalancePass` elections per call.
   */
  maybeBalancePartitionLeaders(): ControllerResult<BalanceLeadersResponse> {
    this.#requireActive('maybeBalancePartitionLeaders');
    const image = this.#latest;
    const batch = new RecordsBuilder(image);
    if (!parseBooleanConfig(image.effectiveConfig(null, 'auto.leader.rebalance.enable'))) {
      return this.#finish(batch, { elections: 0, moreRemaining: false });
    }
    const thresholdPercent = parseIntConfig(
      'leader.imbalance.per.broker.percentage',
      image.effectiveConfig(null, 'leader.imbalance.per.broker.percentage'),
    );
    const preferredCount = new Map<number, number>();
    const imbalancedCount = new Map<number, number>();
    for (const topic of image.topicsById.values()) {
      for (const p of topic.partitions) {
        const preferred = p.replicas[0]!;
        preferredCount.set(preferred, (preferredCount.get(preferred) ?? 0) + 1);
        if (p.leader !== preferred) imbalancedCount.set(preferred, (imbalancedCount.get(preferred) ?? 0) + 1);
      }
    }
    const overThreshold = (brokerId: number) =>
      ((imbalancedCount.get(brokerId) ?? 0) * 100) / (preferredCount.get(brokerId) ?? 1) > thresholdPercent;
    let elections = 0;
    let moreRemaining = false;
    for (const topic of image.topicsById.values()) {
      topic.partitions.forEach((current, partition) => {
        const preferred = current.replicas[0]!;
        if (current.leader === preferred || !overThreshold(preferred)) return;
        if (!current.isr.includes(preferred) || !image.isActiveBroker(preferred)) return;
        if (elections >= this.#maxElectionsPerPass) {
          moreRemaining = true;
          return;
        }
        elections++;
        batch.addChange(
          buildPartitionChange({
            topicId: topic.topicId,
            partition,
            current,
            mayLead: (id) => image.isActiveBroker(id),
            election: 'preferred',
            uncleanAllowed: false,
          }),
        );
      });
    }
    return this.#finish(batch, { elections, moreRemaining });
  }

  /**
   * Elects leaders for offline partitions of topics that allow unclean
   * election (`unclean.leader.election.enable` may have been turned on after
   * they went offline). Kafka runs this every
   * `unclean.leader.election.interval.ms` (5 min); so should the driver.
   */
  maybeElectUncleanLeaders(): ControllerResult<{ elections: number }> {
    this.#requireActive('maybeElectUncleanLeaders');
    const image = this.#latest;
    const batch = new RecordsBuilder(image);
    let elections = 0;
    for (const topic of image.topicsById.values()) {
      if (!parseBooleanConfig(image.effectiveConfig(topic.name, 'unclean.leader.election.enable'))) continue;
      topic.partitions.forEach((current, partition) => {
        if (current.leader !== NO_LEADER || elections >= this.#maxElectionsPerPass) return;
        const outcome = buildPartitionChange({
          topicId: topic.topicId,
          partition,
          current,
          mayLead: (id) => image.isActiveBroker(id),
          election: 'online',
          uncleanAllowed: true,
        });
        if (outcome.leaderChanged) elections++;
        batch.addChange(outcome);
      });
    }
    return this.#finish(batch, { elections });
  }

  // --- Producer ids, features, no-op -------------------------------------------

  allocateProducerIds(request: AllocateProducerIdsRequest): ControllerResult<AllocateProducerIdsResponse> {
    this.#requireActive('allocateProducerIds');
    this.#checkBrokerEpoch(request.brokerId, request.brokerEpoch);
    const start = this.#latest.nextProducerId;
    const next = start + this.#producerIdBlockSize;
    if (!Number.isSafeInteger(next)) throw new RaftkaError('UNKNOWN_SERVER_ERROR', 'producer ids are exhausted');
    const batch = new RecordsBuilder(this.#latest);
    batch.add({
      type: 'ProducerIds',
      brokerId: request.brokerId,
      brokerEpoch: request.brokerEpoch,
      nextProducerId: next,
    });
    return this.#finish(batch, { producerIdStart: start, producerIdLen: this.#producerIdBlockSize });
  }

  updateFeatures(updates: readonly FeatureUpdate[]): ControllerResult<null> {
    this.#requireActive('updateFeatures');
    const batch = new RecordsBuilder(this.#latest);
    for (const u of updates) {
      if (u.name === '' || !Number.isSafeInteger(u.featureLevel) || u.featureLevel < 0 || u.featureLevel > 32_767) {
        throw new RaftkaError('INVALID_REQUEST', `feature ${JSON.stringify(u.name)} level ${u.featureLevel}`);
      }
      batch.add({ type: 'FeatureLevel', name: u.name, featureLevel: u.featureLevel });
    }
    return this.#finish(batch, null);
  }

  /** The record the driver appends every `metadata.max.idle.interval.ms` (500 ms). */
  noOp(): ControllerResult<null> {
    return { records: [{ type: 'NoOp' }], response: null };
  }
}

function newPartition(
  image: MetadataImage,
  topicId: string,
  partition: number,
  replicas: readonly number[],
): PartitionRecord {
  const isr = replicas.filter((id) => image.isActiveBroker(id));
  assert(isr.length > 0, `new partition ${partition} has no active replica`);
  return {
    type: 'Partition',
    topicId,
    partition,
    replicas: [...replicas],
    isr,
    leader: isr[0]!,
    leaderEpoch: 0,
    partitionEpoch: 0,
  };
}

/** 16 random bytes as unpadded base64url, Kafka's Uuid.toString; never starts with '-' (Kafka avoids it too). */
export function randomTopicId(random: Random): string {
  for (let tries = 0; ; tries++) {
    assert(tries < 1000, 'the random source never yields a usable topic id');
    const bytes = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) bytes[i] = random.int(0, 256);
    const id = bytes.toString('base64url');
    if (!id.startsWith('-') && bytes.some((b) => b !== 0)) return id;
  }
}
