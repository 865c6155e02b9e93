// The broker's data plane (Kafka's ReplicaManager): the partition replicas on
// this broker, what they do for Produce, Fetch and ListOffsets, and how they
// follow the control plane's decisions.
//
// - Metadata: committed metadata updates arrive synchronously from the Raft
//   observer. Until the broker has caught up on metadata (`start()`, called
//   when the lifecycle leaves STARTING) they are only remembered, so a
//   restarting broker never acts on the leadership of an old image; then the
//   whole image is applied once, and every later delta incrementally: this
//   broker's partitions become leaders (a new LeaderPartitionState per leader
//   epoch) or followers (moved to the fetcher of their new leader at once),
//   and replicas this broker lost are deleted.
// - Produce: the leader's checks (leader epoch and role, min.insync.replicas,
//   batch validation, idempotent sequences) come before any byte is written;
//   acks=1 is answered after the append, acks=all is parked in the leader's
//   purgatory until the high watermark passes the batch.
// - Fetch: followers and consumers long-poll. A waiting fetch is woken by an
//   append (for followers) or an HW advance (for consumers) on any of its
//   partitions, or a role change, and re-reads.
// - ISR: follower fetches are the leader's evidence of progress; the cores
//   decide when to propose an ISR change, and this class sends it
//   (AlterPartition) and feeds the answer back.
//
// Every decision is made by the sans-IO cores in @raftka/replication; this
// file does the IO and the bookkeeping around them.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBatchHeader, validateProducedBatch } from '@raftka/codec';
import { assert, ErrorCodes, type ErrorName, errorNameOf, isRaftkaError, RaftkaError } from '@raftka/common';
import { LOG_CONFIG_KEYS, PartitionLog } from '@raftka/log';
import {
  type AllocateProducerIdsResponse,
  type LocalPartition,
  localChanges,
  type AlterPartitionRequest as MetadataAlterPartitionRequest,
  type AlterPartitionResponse as MetadataAlterPartitionResponse,
  MetadataDelta,
  MetadataImage,
} from '@raftka/metadata';
import type { Logger } from '@raftka/observability';
import {
  type AlterPartitionRequest,
  type AlterPartitionResponse,
  checkCurrentLeaderEpoch,
  type FollowerFetchRequest,
  type LeaderEffects,
  type ProduceCompletion,
} from '@raftka/replication';
import {
  BrokerDataClient,
  type FetchPartitionResponseWire,
  type FetchRequestWire,
  type FetchResponseWire,
  type InitProducerIdResponseWire,
  type ListOffsetsRequestWire,
  type ListOffsetsResponseWire,
  type MetadataRequestWire,
  type MetadataResponseWire,
  type ProducePartitionResponseWire,
  type ProduceRequestWire,
  type ProduceResponseWire,
} from '@raftka/transport';
import type { DataPlaneMetrics } from './data-metrics.js';
import type { MetadataUpdate } from './metadata-publisher.js';
import { Partition, partitionKey } from './partition.js';
import { ReplicaFetcher, type ReplicaFetcherHost } from './replica-fetcher.js';
import {
  type CheckpointedHighWatermark,
  readReplicationOffsets,
  writeReplicationOffsets,
} from './replication-offset-checkpoint.js';

export interface ReplicaManagerConfig {
  brokerId: number;
  clusterId: string;
  /** log.dirs: partition directories `<topic>-<partition>` live here. */
  logDir: string;
  replicaLagTimeMaxMs: number;
  replicaFetchWaitMaxMs: number;
  replicaFetchMinBytes: number;
  replicaFetchMaxBytes: number;
  replicaFetchResponseMaxBytes: number;
  replicaFetchBackoffMs: number;
  /** How long a follower's fetch RPC may take beyond its max wait. */
  requestTimeoutMs: number;
  /** replica.high.watermark.checkpoint.interval.ms */
  highWatermarkCheckpointIntervalMs: number;
  /** log.retention.check.interval.ms */
  retentionCheckIntervalMs: number;
  /** producer.id.expiration.ms */
  producerIdExpirationMs: number;
  /** producer.id.expiration.check.interval.ms */
  producerIdExpirationCheckIntervalMs: number;
  logger: Logger;
  metrics: DataPlaneMetrics;
  controller: ControllerCalls;
}

/** What the replica manager asks of the active controller, through the broker node. */
export interface ControllerCalls {
  alterPartition(
    request: Omit<MetadataAlterPartitionRequest, 'brokerId' | 'brokerEpoch'>,
  ): Promise<MetadataAlterPartitionResponse>;
  allocateProducerIds(): Promise<AllocateProducerIdsResponse>;
  /** The active controller's node id, -1 if none known. */
  activeControllerId(): number;
  /** This broker's epoch (for follower fetches), -1 while unregistered. */
  brokerEpoch(): number;
}

interface PendingProduce {
  resolve: (error: ErrorName) => void;
}

interface FetchWaiter {
  readonly keys: readonly string[];
  /** `woken`: the partitions that got data or a new HW since the last wake (a superset of this waiter's). */
  wake(woken: ReadonlySet<string>): void;
}

/** Kafka's partition.metadata: binds a directory to a topic id. */
const PARTITION_METADATA_FILE = 'partition.metadata';
const TICK_MS = 100;
const ALTER_PARTITION_RETRY_MS = 100;
const METRICS_REFRESH_MS = 1000;
/** Kafka's suffix for a partition directory being deleted. */
const DELETE_SUFFIX = '-delete';
/** Longest stretch of log opening (or directory removal) in one event-loop turn. */
const CREATE_SLICE_MS = 20;

export class ReplicaManager implements ReplicaFetcherHost {
  readonly config: ReplicaManagerConfig;
  readonly #log: Logger;
  readonly #partitions = new Map<string, Partition>();
  /** Unassigned logs found on disk at start, by directory name, until the first image says what they are. */
  readonly #onDisk = new Map<string, { topicId: string; dir: string }>();
  /** HWs from the replication-offset-checkpoint of logs not open yet, by directory name. */
  readonly #checkpointedHighWatermarks = new Map<string, CheckpointedHighWatermark>();
  readonly #fetchers = new Map<number, ReplicaFetcher>();
  readonly #pendingProduces = new Map<number, PendingProduce>();
  readonly #waiters = new Map<string, Set<FetchWaiter>>();
  readonly #wakeKeys = new Set<string>();
  #wakeScheduled = false;
  #nextProduceId = 1;
  #image: MetadataImage = MetadataImage.EMPTY;
  #started = false;
  #closed = false;
  #producerIds: { next: number; end: number } | undefined;
  #producerIdsPending: Promise<void> | undefined;
  #tick: NodeJS.Timeout | undefined;
  #lastIsrCheckMs = 0;
  #lastCheckpointMs = 0;
  #lastRetentionMs = 0;
  #lastProducerExpiryMs = 0;
  #lastMetricsMs = 0;
  #fetchWaiting = 0;
  /** Partitions assigned to this broker whose logs are not open yet, with their latest assignment. */
  readonly #pendingCreates = new Map<string, LocalPartition>();
  #createsScheduled = false;
  readonly #logsOpenWaiters: (() => void)[] = [];
  readonly #pendingProducerLoads: Partition[] = [];
  /** Renamed partition directories waiting to be removed. */
  readonly #pendingDeletes: string[] = [];
  readonly dataClient: BrokerDataClient;

  constructor(config: ReplicaManagerConfig) {
    this.config = config;
    this.dataClient = new BrokerDataClient({ clusterId: config.clusterId });
    this.#log = config.logger.child({ component: 'replica-manager' });
    mkdirSync(config.logDir, { recursive: true });
    this.#scanLogDir();
  }

  get brokerId(): number {
    return this.config.brokerId;
  }

  get image(): MetadataImage {
    return this.#image;
  }

  get started(): boolean {
    return this.#started;
  }

  partition(topicName: string, partition: number): Partition | undefined {
    const topicId = this.#image.topicIdsByName.get(topicName);
    return topicId === undefined ? undefined : this.#partitions.get(partitionKey(topicId, partition));
  }

  partitions(): IterableIterator<Partition> {
    return this.#partitions.values();
  }

  // --- Metadata -------------------------------------------------------------------

  /** From the broker's metadata state machine: every committed image, in order. */
  onMetadataUpdate(update: MetadataUpdate): void {
    if (this.#closed) return;
    const before = this.#image;
    this.#image = update.image;
    if (!this.#started) return;
    this.#applyConfigChanges(before, update.image);
    this.#applyLocalChanges(update.changes.leaders, update.changes.followers, update.changes.deletes);
  }

  /**
   * The broker caught up on metadata: apply the whole image now (what the
   * loader published before was remembered only), then run the timers.
   */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const image = this.#image;
    const changes = localChanges(MetadataDelta.between(MetadataImage.EMPTY, image), image, this.brokerId);
    // What is on disk and not assigned here any more is a stray: Kafka deletes those too.
    const assigned = new Set([...changes.leaders, ...changes.followers].map((lp) => `${lp.topicName}-${lp.partition}`));
    for (const [dirName, found] of this.#onDisk) {
      if (assigned.has(dirName)) continue;
      this.#log.info({ dir: dirName, topicId: found.topicId }, 'deleting a stray partition directory');
      this.#scheduleDelete(found.dir);
      this.#onDisk.delete(dirName);
      this.#checkpointedHighWatermarks.delete(dirName);
    }
    this.#applyLocalChanges(changes.leaders, changes.followers, changes.deletes);
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    this.#tick.unref();
    this.#log.info(
      { leaders: changes.leaders.length, followers: changes.followers.length },
      'data plane started; opening partition logs',
    );
  }

  /** Resolves once every partition assigned so far has its log open (the broker then asks to be unfenced). */
  whenLogsOpen(): Promise<void> {
    if (this.#pendingCreates.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#logsOpenWaiters.push(resolve));
  }

  #applyLocalChanges(
    leaders: readonly LocalPartition[],
    followers: readonly LocalPartition[],
    deletes: readonly { topicId: string; topicName: string; partition: number }[],
  ): void {
    const nowMs = Date.now();
    for (const d of deletes) {
      const key = partitionKey(d.topicId, d.partition);
      this.#pendingCreates.delete(key);
      this.#deletePartition(key);
    }
    let newLeaders = 0;
    let newFollowers = 0;
    for (const lp of [...leaders, ...followers]) {
      const key = partitionKey(lp.topicId, lp.partition);
      const p = this.#partitions.get(key);
      if (p === undefined) {
        // Opening a log costs file creations; thousands at once (a big topic,
        // a broker start) are spread over event-loop turns so heartbeats and
        // requests keep flowing. The latest assignment wins.
        this.#pendingCreates.set(key, lp);
        continue;
      }
      const changed = this.#applyRole(p, lp, nowMs);
      if (changed === 'leader') newLeaders++;
      else if (changed === 'follower') newFollowers++;
    }
    if (newLeaders + newFollowers > 0) {
      this.#log.info({ leaders: newLeaders, followers: newFollowers }, 'partition roles changed');
    }
    this.#scheduleCreates();
  }

  /** Makes `p` play the role `lp` names; returns the new role if it changed. */
  #applyRole(p: Partition, lp: LocalPartition, nowMs: number): 'leader' | 'follower' | undefined {
    if (lp.leader === this.brokerId) {
      if (p.leader !== undefined && p.leader.leaderEpoch === lp.leaderEpoch) {
        const before = p.leader.isr.length;
        const effects = p.leader.onMetadataUpdate({
          replicas: lp.replicas,
          isr: lp.isr,
          leaderEpoch: lp.leaderEpoch,
          partitionEpoch: lp.partitionEpoch,
          minInsyncReplicas: p.minInsyncReplicas,
          nowMs,
        });
        p.replicas = lp.replicas;
        p.isr = lp.isr;
        this.#countIsrChange(before, lp.isr.length);
        this.#applyEffects(p, effects);
        return undefined;
      }
      this.#removeFromFetcher(p);
      this.#failProduces(p.leader?.resign() ?? []);
      p.becomeLeader(lp, this.brokerId, nowMs, this.config.replicaLagTimeMaxMs);
      this.#log.debug(
        { partition: p.name, leaderEpoch: lp.leaderEpoch, isr: lp.isr, logEndOffset: p.log.logEndOffset },
        'became leader',
      );
      // An ISR of one can move the HW at once.
      this.#applyEffects(p, (p.leader as NonNullable<typeof p.leader>).onLocalAppend(p.log.logEndOffset));
      this.#wake(p.key);
      return 'leader';
    }
    if (p.follower !== undefined && p.follower.leaderEpoch === lp.leaderEpoch && p.leaderId === lp.leader) {
      p.replicas = lp.replicas;
      p.isr = lp.isr;
      return undefined;
    }
    this.#removeFromFetcher(p);
    this.#failProduces(p.leader?.resign() ?? []);
    p.becomeFollower(lp, this.brokerId);
    this.#log.debug({ partition: p.name, leader: lp.leader, leaderEpoch: lp.leaderEpoch }, 'became follower');
    if (p.follower !== undefined) this.#fetcherFor(lp.leader).add(p);
    this.#wake(p.key);
    return 'follower';
  }

  /** Rebuilds producer state of newly opened logs, in time slices after the opening is done. */
  #loadProducerStates(started: number): void {
    // Bounded by the list and the time slice.
    while (this.#pendingProducerLoads.length > 0 && Date.now() - started < CREATE_SLICE_MS) {
      const p = this.#pendingProducerLoads.shift() as Partition;
      if (p.closed) continue;
      try {
        p.loadProducerState();
      } catch (err) {
        this.#log.warn({ err, partition: p.name }, 'cannot rebuild producer state yet');
      }
    }
    if (this.#pendingProducerLoads.length > 0 && !this.#closed) {
      setImmediate(() => this.#loadProducerStates(Date.now()));
    }
  }

  #scheduleCreates(): void {
    if (this.#createsScheduled || this.#pendingCreates.size === 0 || this.#closed) return;
    this.#createsScheduled = true;
    setImmediate(() => {
      this.#createsScheduled = false;
      if (this.#closed) return;
      const started = Date.now();
      let created = 0;
      // Bounded by the map and the time slice.
      for (const [key, lp] of this.#pendingCreates) {
        this.#pendingCreates.delete(key);
        const p = this.#getOrCreate(lp);
        if (p !== undefined) {
          this.#applyRole(p, lp, Date.now());
          created++;
        }
        if (Date.now() - started >= CREATE_SLICE_MS) break;
      }
      if (created > 0) this.#log.debug({ created, pending: this.#pendingCreates.size }, 'opened partition logs');
      if (this.#pendingCreates.size === 0) {
        this.#log.info({ partitions: this.#partitions.size }, 'partition logs open');
        for (const w of this.#logsOpenWaiters.splice(0)) w();
        this.#loadProducerStates(Date.now());
      }
      this.#scheduleCreates();
    });
  }

  #getOrCreate(lp: LocalPartition): Partition | undefined {
    const key = partitionKey(lp.topicId, lp.partition);
    let p = this.#partitions.get(key);
    if (p !== undefined) return p;
    const dirName = `${lp.topicName}-${lp.partition}`;
    const dir = join(this.config.logDir, dirName);
    const found = this.#onDisk.get(dirName);
    if (found !== undefined) {
      this.#onDisk.delete(dirName);
      if (found.topicId !== lp.topicId) {
        // A deleted topic of the same name left this directory behind.
        this.#log.info(
          { dir: dirName, old: found.topicId, topicId: lp.topicId },
          'replacing a stale partition directory',
        );
        this.#scheduleDelete(dir);
      }
    }
    const checkpointed = this.#checkpointedHighWatermarks.get(dirName);
    this.#checkpointedHighWatermarks.delete(dirName);
    let log: PartitionLog;
    try {
      if (found?.topicId !== lp.topicId) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, PARTITION_METADATA_FILE), `version: 0\ntopic_id: ${lp.topicId}\n`);
      }
      log = PartitionLog.open(dir, {
        config: this.#logConfig(lp.topicName),
        highWatermark: checkpointed?.topicId === lp.topicId ? checkpointed.highWatermark : undefined,
      });
    } catch (err) {
      this.#log.error({ err, partition: dirName }, 'cannot open the partition log; the replica is offline');
      return undefined;
    }
    if (log.recovery.truncationReason !== undefined) {
      this.#log.warn({ partition: dirName, recovery: log.recovery }, 'log recovery truncated a torn tail');
    }
    p = new Partition(lp.topicId, lp.topicName, lp.partition, log);
    // Rebuild the idempotent-producer state soon (a background pass; free for
    // a new log) and keep it current on every append from then on: a broker
    // that becomes leader during a failover then answers at once instead of
    // scanning its log on the first produce.
    this.#pendingProducerLoads.push(p);
    this.#applyTopicConfig(p);
    this.#partitions.set(key, p);
    return p;
  }

  #deletePartition(key: string): void {
    const p = this.#partitions.get(key);
    if (p === undefined) return;
    this.#removeFromFetcher(p);
    this.#failProduces(p.leader?.resign() ?? []);
    p.stop();
    p.closed = true;
    this.#partitions.delete(key);
    this.#wake(key);
    // No clean close (its fsyncs are wasted on data about to go): drop the
    // descriptors, rename the directory out of the way at once, as Kafka
    // does, and remove the files later in slices, so deleting a topic of
    // thousands of partitions does not stall the event loop.
    p.log.abandon();
    this.#scheduleDelete(p.log.dir);
    this.#log.debug({ partition: p.name }, 'deleted replica');
  }

  #scheduleDelete(dir: string): void {
    let target = dir;
    if (!dir.endsWith(DELETE_SUFFIX)) {
      try {
        target = `${dir}.${randomUUID().replaceAll('-', '')}${DELETE_SUFFIX}`;
        renameSync(dir, target);
      } catch {
        target = dir;
      }
    }
    this.#pendingDeletes.push(target);
    if (this.#pendingDeletes.length > 1) return;
    const drain = () => {
      const started = Date.now();
      // Bounded by the queue and the time slice.
      while (this.#pendingDeletes.length > 0 && Date.now() - started < CREATE_SLICE_MS) {
        const next = this.#pendingDeletes[0] as string;
        try {
          rmSync(next, { recursive: true, force: true });
        } catch (err) {
          this.#log.warn({ err, dir: next }, 'cannot delete a partition directory');
        }
        this.#pendingDeletes.shift();
      }
      if (this.#pendingDeletes.length > 0) setImmediate(drain);
    };
    setImmediate(drain);
  }

  #scanLogDir(): void {
    for (const name of readdirSync(this.config.logDir)) {
      const dir = join(this.config.logDir, name);
      if (name.endsWith(DELETE_SUFFIX)) {
        // A deletion the last run did not finish.
        this.#scheduleDelete(dir);
        continue;
      }
      const metaPath = join(dir, PARTITION_METADATA_FILE);
      if (!/^.+-\d+$/.test(name) || !existsSync(metaPath)) continue;
      const m = /topic_id:\s*(\S+)/.exec(readFileSync(metaPath, 'utf8'));
      if (m) this.#onDisk.set(name, { topicId: m[1] as string, dir });
    }
    try {
      for (const [dirName, c] of readReplicationOffsets(this.config.logDir)) {
        if (this.#onDisk.get(dirName)?.topicId === c.topicId) this.#checkpointedHighWatermarks.set(dirName, c);
      }
    } catch (err) {
      // Each log still has the HW of its own last durable state write.
      this.#log.warn({ err }, 'ignoring a corrupt replication-offset-checkpoint');
    }
  }

  #logConfig(topicName: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(LOG_CONFIG_KEYS)) {
      try {
        out[key] = this.#image.effectiveConfig(topicName, key);
      } catch {
        // Not a key the metadata schema knows: the log's own default applies.
      }
    }
    return out;
  }

  #applyTopicConfig(p: Partition): void {
    p.minInsyncReplicas = Number(this.#image.effectiveConfig(p.topicName, 'min.insync.replicas'));
    p.maxMessageBytes = Number(this.#image.effectiveConfig(p.topicName, 'max.message.bytes'));
  }

  #applyConfigChanges(before: MetadataImage, after: MetadataImage): void {
    const clusterChanged = before.clusterConfigs !== after.clusterConfigs;
    if (!clusterChanged && before.topicConfigs === after.topicConfigs) return;
    for (const p of this.#partitions.values()) {
      if (!clusterChanged && before.topicConfigs.get(p.topicName) === after.topicConfigs.get(p.topicName)) continue;
      this.#applyTopicConfig(p);
      try {
        p.log.updateConfig(this.#logConfig(p.topicName));
      } catch (err) {
        this.#log.warn({ err, partition: p.name }, 'topic config not applied to the log');
      }
      if (p.leader !== undefined) {
        this.#applyEffects(
          p,
          p.leader.onMetadataUpdate({
            replicas: p.leader.replicas,
            isr: p.leader.isr,
            leaderEpoch: p.leader.leaderEpoch,
            partitionEpoch: p.leader.partitionEpoch,
            minInsyncReplicas: p.minInsyncReplicas,
            nowMs: Date.now(),
          }),
        );
      }
    }
  }

  /** A follower that was fenced or shutting down is re-checked on its next fetch, against the image then. */
  #isEligible = (brokerId: number): boolean => {
    const b = this.#image.broker(brokerId);
    return b !== undefined && !b.fenced && !b.inControlledShutdown;
  };

  // --- Effects of the cores --------------------------------------------------------

  #applyEffects(p: Partition, effects: LeaderEffects): void {
    if (effects.highWatermarkAdvanced) {
      p.log.updateHighWatermark(effects.highWatermark);
      this.#wake(p.key);
    }
    for (const c of effects.completedProduces) this.#completeProduce(c);
    if (effects.alterPartition !== undefined) this.#sendAlterPartition(p, effects.alterPartition);
  }

  #completeProduce(c: ProduceCompletion): void {
    const pending = this.#pendingProduces.get(c.id);
    if (pending === undefined) return;
    this.#pendingProduces.delete(c.id);
    pending.resolve(c.error);
  }

  #failProduces(completions: readonly ProduceCompletion[]): void {
    for (const c of completions) this.#completeProduce(c);
  }

  #countIsrChange(before: number, after: number): void {
    if (after < before) this.config.metrics.isrShrinks.inc();
    else if (after > before) this.config.metrics.isrExpands.inc();
  }

  #sendAlterPartition(p: Partition, request: AlterPartitionRequest): void {
    const leader = p.leader;
    if (leader === undefined) return;
    this.#log.info(
      { partition: p.name, kind: request.kind, changed: request.changed, newIsr: request.newIsr },
      `proposing ISR ${request.kind}`,
    );
    this.config.controller
      .alterPartition({
        topicId: p.topicId,
        partition: p.partition,
        leaderEpoch: request.leaderEpoch,
        partitionEpoch: request.partitionEpoch,
        newIsr: request.newIsr,
      })
      .then(
        (r): AlterPartitionResponse => ({
          error: 'NONE',
          leaderEpoch: r.leaderEpoch,
          partitionEpoch: r.partitionEpoch,
          isr: r.isr,
        }),
        (err: unknown): AlterPartitionResponse => ({
          error: isRaftkaError(err) ? err.errorName : 'UNKNOWN_SERVER_ERROR',
        }),
      )
      .then((response) => {
        if (this.#closed || p.leader !== leader || leader.isResigned) return;
        if (response.error !== 'NONE') {
          this.config.metrics.failedIsrUpdates.inc();
          this.#log.info({ partition: p.name, error: response.error }, 'ISR change not committed');
        } else if ('isr' in response) {
          this.#countIsrChange(leader.isr.length, response.isr.length);
          p.isr = response.isr;
        }
        const effects = leader.onAlterPartitionResponse(request, response);
        this.#applyEffects(p, effects);
        if (effects.retryAlterPartition) {
          setTimeout(() => {
            if (!this.#closed && p.leader === leader && leader.pendingAlterPartition === request) {
              this.#sendAlterPartition(p, request);
            }
          }, ALTER_PARTITION_RETRY_MS).unref();
        }
      });
  }

  // --- Produce -----------------------------------------------------------------------

  async produce(request: ProduceRequestWire): Promise<ProduceResponseWire> {
    const acks = request.acks;
    const deadlineMs = Date.now() + Math.max(0, request.timeout_ms);
    const waits: Promise<void>[] = [];
    const topics = request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((data) => {
        const out: ProducePartitionResponseWire = {
          partition: data.partition,
          error_code: 0,
          error_message: '',
          base_offset: -1,
          log_append_time_ms: -1,
          log_start_offset: -1,
        };
        const result = this.#appendToLeader(t.name, data.partition, data.records, acks, deadlineMs);
        if (!result.ok) {
          this.#setError(out, 'produce', result.error, result.message);
          return out;
        }
        out.base_offset = result.baseOffset;
        out.log_start_offset = result.logStartOffset;
        if (result.wait !== undefined) {
          waits.push(
            result.wait.then((error) => {
              if (error !== 'NONE') {
                this.#setError(out, 'produce', error, waitErrorMessage(error));
                out.base_offset = -1;
              }
            }),
          );
        }
        return out;
      }),
    }));
    if (waits.length > 0) await Promise.all(waits);
    return { topics: acks === 0 ? [] : topics, throttle_time_ms: 0 };
  }

  #appendToLeader(
    topic: string,
    partition: number,
    records: Buffer,
    acks: number,
    deadlineMs: number,
  ):
    | { ok: true; baseOffset: number; logStartOffset: number; wait?: Promise<ErrorName> }
    | { ok: false; error: ErrorName; message: string } {
    const p = this.partition(topic, partition);
    const leader = p?.leader;
    if (p === undefined || leader === undefined) {
      const notLed = this.#notLedHere(this.#image.topicIdsByName.get(topic) ?? '', topic, partition);
      return { ok: false, error: notLed.error, message: notLed.message };
    }
    const check = leader.checkProduce({ acks });
    if (check !== 'NONE') {
      return {
        ok: false,
        error: check,
        message:
          check === 'NOT_ENOUGH_REPLICAS'
            ? `ISR [${leader.isr.join(',')}] of ${p.name} is smaller than min.insync.replicas=${p.minInsyncReplicas}`
            : `${check} for ${p.name}`,
      };
    }
    if (p.log.offline !== undefined) return { ok: false, error: 'KAFKA_STORAGE_ERROR', message: p.log.offline };
    let header: ReturnType<typeof readBatchHeader>;
    try {
      header = validateProducedBatch(records, { maxMessageBytes: p.maxMessageBytes }).header;
    } catch (err) {
      if (isRaftkaError(err)) return { ok: false, error: err.errorName, message: err.message };
      throw err;
    }
    const producers = p.producers;
    const seen = producers.check(header);
    let firstOffset: number;
    let lastOffset: number;
    if (seen.kind === 'error') return { ok: false, error: seen.error, message: seen.message };
    if (seen.kind === 'duplicate') {
      firstOffset = seen.firstOffset;
      lastOffset = seen.lastOffset;
    } else {
      let info: ReturnType<PartitionLog['appendAsLeader']>;
      try {
        info = p.log.appendAsLeader(records, leader.leaderEpoch);
      } catch (err) {
        if (isRaftkaError(err)) return { ok: false, error: err.errorName, message: err.message };
        throw err;
      }
      firstOffset = info.firstOffset;
      lastOffset = info.lastOffset;
      producers.replay(header, firstOffset, info.maxTimestamp);
      this.config.metrics.bytesIn.inc(info.sizeBytes);
      this.config.metrics.messagesIn.inc(info.records);
      // Followers long-polling this partition have data now.
      this.#wake(p.key);
      this.#applyEffects(p, leader.onLocalAppend(p.log.logEndOffset));
    }
    const logStartOffset = p.log.logStartOffset;
    if (acks !== -1) return { ok: true, baseOffset: firstOffset, logStartOffset };
    const id = this.#nextProduceId++;
    const wait = new Promise<ErrorName>((resolve) => this.#pendingProduces.set(id, { resolve }));
    this.#applyEffects(p, leader.addDelayedProduce({ id, requiredOffset: lastOffset + 1, deadlineMs }));
    return { ok: true, baseOffset: firstOffset, logStartOffset, wait };
  }

  // --- Fetch -------------------------------------------------------------------------

  async fetch(request: FetchRequestWire, cancelled: Promise<void>): Promise<FetchResponseWire> {
    const served = (r: { response: FetchResponseWire; bytes: number }) => {
      if (request.replica_id >= 0) this.config.metrics.replicationBytesOut.inc(r.bytes);
      else this.config.metrics.bytesOut.inc(r.bytes);
      return r.response;
    };
    const first = this.#readForFetch(request, true);
    if (first.done || request.max_wait_ms <= 0 || this.#closed) return served(first);
    const deadline = Date.now() + Math.min(request.max_wait_ms, 30_000);
    const keys = first.keys;
    const ownKeys = new Set(keys);
    // Partitions with something to answer: those the first pass found data in, then the woken ones.
    const changed = new Set<string>(first.withRecords);
    // Long poll: re-read whenever one of the partitions may have more.
    return new Promise<FetchResponseWire>((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const waiter: FetchWaiter = {
        keys,
        wake: (woken) => {
          if (settled) return;
          // Only partitions woken since the first pass found too little can have changed:
          // re-reading the other hundreds a follower names on every append cost the leader more
          // than the appends. The answer leaves the unchanged ones out, as Kafka's incremental
          // fetch sessions do; followers and consumers take what an answer names.
          for (const k of woken) if (ownKeys.has(k)) changed.add(k);
          const again = this.#readForFetch(request, false, changed);
          if (again.done) finish(again);
        },
      };
      const finish = (r: { response: FetchResponseWire; bytes: number }) => {
        if (settled) return;
        settled = true;
        this.#fetchWaiting--;
        if (timer) clearTimeout(timer);
        for (const key of keys) this.#waiters.get(key)?.delete(waiter);
        resolve(served(r));
      };
      this.#fetchWaiting++;
      for (const key of keys) {
        let set = this.#waiters.get(key);
        if (set === undefined) {
          set = new Set();
          this.#waiters.set(key, set);
        }
        set.add(waiter);
      }
      timer = setTimeout(() => finish(this.#readForFetch(request, false)), deadline - Date.now());
      // Nobody reads the answer of a cancelled call: do not encode one.
      void cancelled.then(() => finish({ response: { topics: [], throttle_time_ms: 0 }, bytes: 0 }));
    });
  }

  /**
   * One pass over a fetch. `first`: the follower's fetch offset counts as
   * its progress (only once per request). `done` when the answer should go
   * now: enough bytes, or an error or divergence to report.
   */
  #readForFetch(
    request: FetchRequestWire,
    first: boolean,
    only?: ReadonlySet<string>,
  ): { response: FetchResponseWire; done: boolean; keys: string[]; withRecords: string[]; bytes: number } {
    const replicaId = request.replica_id;
    const isFollower = replicaId >= 0;
    let budget = request.max_bytes > 0 ? request.max_bytes : 50 * 1024 * 1024;
    let bytes = 0;
    let urgent = false;
    const keys: string[] = [];
    const withRecords: string[] = [];
    const nowMs = Date.now();
    const topics = request.topics.map((t) => {
      const topicId = t.topic_id !== '' ? t.topic_id : (this.#image.topicIdsByName.get(t.name) ?? '');
      const name = t.name !== '' ? t.name : (this.#image.topicsById.get(topicId)?.name ?? '');
      return {
        topic_id: topicId,
        name,
        partitions: t.partitions.flatMap((fp): FetchPartitionResponseWire | [] => {
          const key = partitionKey(topicId, fp.partition);
          if (only !== undefined && !only.has(key)) return [];
          const out: FetchPartitionResponseWire = {
            partition: fp.partition,
            error_code: 0,
            error_message: '',
            high_watermark: -1,
            log_start_offset: -1,
            diverging_epoch: null,
            current_leader: null,
            records: EMPTY,
          };
          keys.push(key);
          const p = this.#partitions.get(key);
          if (p === undefined || p.leader === undefined) {
            const notLed = this.#notLedHere(topicId, name, fp.partition);
            this.#setError(out, 'fetch', notLed.error, notLed.message);
            out.current_leader = notLed.currentLeader;
            urgent = true;
            return out;
          }
          const leader = p.leader;
          const decision = leader.validateFetch(
            {
              replicaId,
              fetchOffset: fp.fetch_offset,
              currentLeaderEpoch: fp.current_leader_epoch,
              lastFetchedEpoch: fp.last_fetched_epoch,
            },
            {
              logStartOffset: p.log.logStartOffset,
              endOffsetForEpoch: (e) => p.log.endOffsetForEpoch(e),
            },
          );
          if (decision.kind === 'error') {
            this.#setError(out, 'fetch', decision.error, `${decision.error} for ${p.name}`);
            out.current_leader = { leader_id: this.brokerId, leader_epoch: leader.leaderEpoch };
            out.high_watermark = leader.highWatermark;
            out.log_start_offset = p.log.logStartOffset;
            urgent = true;
            return out;
          }
          if (decision.kind === 'diverging') {
            out.diverging_epoch = {
              epoch: decision.divergingEpoch.leaderEpoch,
              end_offset: decision.divergingEpoch.endOffset,
            };
            out.high_watermark = leader.highWatermark;
            out.log_start_offset = p.log.logStartOffset;
            urgent = true;
            return out;
          }
          if (isFollower && first) {
            this.#applyEffects(
              p,
              leader.onFollowerFetch({ replicaId, fetchOffset: fp.fetch_offset, nowMs }, this.#isEligible),
            );
          }
          out.high_watermark = leader.highWatermark;
          out.log_start_offset = p.log.logStartOffset;
          const maxOffset = isFollower ? p.log.logEndOffset : leader.highWatermark;
          if (fp.fetch_offset >= maxOffset || budget <= 0) return out;
          try {
            const partitionMax = fp.partition_max_bytes > 0 ? fp.partition_max_bytes : 1024 * 1024;
            const read = p.log.read(fp.fetch_offset, Math.min(partitionMax, budget), {
              maxOffset,
              minOneBatch: bytes === 0,
            });
            out.records = read.records;
            if (read.records.length > 0) withRecords.push(key);
            bytes += read.records.length;
            budget -= read.records.length;
          } catch (err) {
            if (!isRaftkaError(err)) throw err;
            this.#setError(out, 'fetch', err.errorName, err.message);
            urgent = true;
          }
          return out;
        }),
      };
    });
    const minBytes = Math.max(1, request.min_bytes);
    return {
      response: {
        topics: only === undefined ? topics : topics.filter((t) => t.partitions.length > 0),
        throttle_time_ms: 0,
      },
      done: urgent || bytes >= minBytes,
      keys,
      withRecords,
      bytes,
    };
  }

  /**
   * Wakes the fetches waiting on `key`, after the current synchronous work:
   * a produce request appending to several partitions then wakes each
   * waiting follower once, with all of them in its answer, instead of
   * answering with the first partition and leaving the rest for the next
   * round trip.
   */
  /**
   * The answer for a partition this broker does not lead: UNKNOWN_TOPIC_OR_PARTITION
   * when the image has no such partition, else NOT_LEADER_OR_FOLLOWER with the
   * leader the image names, so the client need not wait for a metadata refresh.
   */
  #notLedHere(
    topicId: string,
    topicName: string,
    partition: number,
  ): {
    error: ErrorName;
    message: string;
    currentLeader: { leader_id: number; leader_epoch: number } | null;
  } {
    const known = this.#image.partition(topicId, partition);
    if (known === undefined) {
      return {
        error: 'UNKNOWN_TOPIC_OR_PARTITION',
        message: `unknown topic-partition ${topicName}-${partition}`,
        currentLeader: null,
      };
    }
    return {
      error: 'NOT_LEADER_OR_FOLLOWER',
      message: `broker ${this.brokerId} does not lead ${topicName}-${partition} (leader ${known.leader}, epoch ${known.leaderEpoch})`,
      currentLeader: { leader_id: known.leader, leader_epoch: known.leaderEpoch },
    };
  }

  #wake(key: string): void {
    const set = this.#waiters.get(key);
    if (set === undefined || set.size === 0) return;
    this.#wakeKeys.add(key);
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    queueMicrotask(() => {
      this.#wakeScheduled = false;
      const waiters = new Set<FetchWaiter>();
      for (const k of this.#wakeKeys) for (const w of this.#waiters.get(k) ?? []) waiters.add(w);
      const woken = new Set(this.#wakeKeys);
      this.#wakeKeys.clear();
      // A waiter that finishes leaves the sets; the copies above keep the iteration stable.
      for (const waiter of waiters) waiter.wake(woken);
    });
  }

  // --- ListOffsets, Metadata, InitProducerId ------------------------------------------

  async listOffsets(request: ListOffsetsRequestWire): Promise<ListOffsetsResponseWire> {
    return {
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((lp) => {
          const out = {
            partition: lp.partition,
            error_code: 0,
            error_message: '',
            timestamp: -1,
            offset: -1,
            leader_epoch: -1,
          };
          const p = this.partition(t.name, lp.partition);
          if (p === undefined || p.leader === undefined) {
            const notLed = this.#notLedHere(this.#image.topicIdsByName.get(t.name) ?? '', t.name, lp.partition);
            this.#setError(out, 'list_offsets', notLed.error, notLed.message);
            return out;
          }
          const fence = checkCurrentLeaderEpoch(lp.current_leader_epoch, p.leader.leaderEpoch);
          if (fence !== 'NONE') {
            this.#setError(out, 'list_offsets', fence, `leader epoch ${lp.current_leader_epoch} vs ${p.leaderEpoch}`);
            return out;
          }
          out.leader_epoch = p.leader.leaderEpoch;
          const hw = p.leader.highWatermark;
          if (lp.timestamp === -2) {
            out.offset = p.log.logStartOffset;
          } else if (lp.timestamp === -1) {
            out.offset = hw;
          } else {
            const found = p.log.offsetForTimestamp(lp.timestamp);
            if (found !== undefined && found.offset < hw) {
              out.offset = found.offset;
              out.timestamp = found.timestamp;
            }
          }
          return out;
        }),
      })),
    };
  }

  async metadata(request: MetadataRequestWire): Promise<MetadataResponseWire> {
    const image = this.#image;
    const brokers = [];
    for (const b of image.brokers.values()) {
      if (b.fenced) continue;
      const listener = b.listeners.find((l) => l.name === 'PLAINTEXT') ?? b.listeners[0];
      if (listener === undefined) continue;
      brokers.push({ node_id: b.brokerId, host: listener.host, port: listener.port, rack: b.rack ?? '' });
    }
    brokers.sort((a, b) => a.node_id - b.node_id);
    const names = request.topics.length > 0 ? request.topics : [...image.topicIdsByName.keys()].sort();
    const live = (id: number) => image.brokers.get(id)?.fenced === false;
    const topics = names.map((name) => {
      const topicId = image.topicIdsByName.get(name);
      const topic = topicId === undefined ? undefined : image.topicsById.get(topicId);
      if (topic === undefined) {
        this.config.metrics.partitionErrors.inc({ api: 'metadata', error: 'UNKNOWN_TOPIC_OR_PARTITION' });
        return {
          error_code: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
          name,
          topic_id: '',
          partitions: [],
        };
      }
      return {
        error_code: 0,
        name,
        topic_id: topic.topicId,
        partitions: topic.partitions.map((p, partition) => ({
          error_code: p.leader < 0 ? ErrorCodes.LEADER_NOT_AVAILABLE.code : 0,
          partition,
          leader_id: p.leader,
          leader_epoch: p.leaderEpoch,
          replicas: [...p.replicas],
          isr: [...p.isr],
          offline_replicas: p.replicas.filter((r) => !live(r)),
        })),
      };
    });
    return {
      cluster_id: this.config.clusterId,
      controller_id: this.config.controller.activeControllerId(),
      brokers,
      topics,
    };
  }

  async initProducerId(): Promise<InitProducerIdResponseWire> {
    // Bounded: each round either takes an id or waits for a new block.
    for (let attempt = 0; attempt < 3; attempt++) {
      const block = this.#producerIds;
      if (block !== undefined && block.next < block.end) {
        const id = block.next++;
        return { error_code: 0, error_message: '', producer_id: id, producer_epoch: 0 };
      }
      this.#producerIdsPending ??= this.config.controller.allocateProducerIds().then(
        (r) => {
          this.#producerIds = { next: r.producerIdStart, end: r.producerIdStart + r.producerIdLen };
          this.#producerIdsPending = undefined;
        },
        (err: unknown) => {
          this.#producerIdsPending = undefined;
          throw err;
        },
      );
      try {
        await this.#producerIdsPending;
      } catch (err) {
        const error = isRaftkaError(err) ? err : new RaftkaError('UNKNOWN_SERVER_ERROR', String(err));
        // Kafka answers COORDINATOR_LOAD_IN_PROGRESS-like retriable errors here; ours is the controller's.
        return {
          error_code: ErrorCodes[error.retriable ? error.errorName : 'BROKER_NOT_AVAILABLE'].code,
          error_message: error.message,
          producer_id: -1,
          producer_epoch: -1,
        };
      }
    }
    return {
      error_code: ErrorCodes.BROKER_NOT_AVAILABLE.code,
      error_message: 'no producer id block available',
      producer_id: -1,
      producer_epoch: -1,
    };
  }

  // --- Followers (ReplicaFetcherHost) -----------------------------------------------

  endpointOf(brokerId: number): string | undefined {
    const b = this.#image.broker(brokerId);
    const l = b?.listeners.find((x) => x.name === 'PLAINTEXT') ?? b?.listeners[0];
    return l === undefined ? undefined : `${l.host}:${l.port}`;
  }

  #fetcherFor(leaderId: number): ReplicaFetcher {
    let f = this.#fetchers.get(leaderId);
    if (f === undefined || f.stopped) {
      f = new ReplicaFetcher(this, leaderId, this.#log);
      this.#fetchers.set(leaderId, f);
    }
    return f;
  }

  #removeFromFetcher(p: Partition): void {
    if (p.follower === undefined) return;
    this.#fetchers.get(p.follower.leaderId)?.remove(p);
  }

  /** Applies one partition of a follower fetch answer; the fetcher calls it for partitions still its own. */
  onFollowerFetchResponse(
    p: Partition,
    request: FollowerFetchRequest,
    r: FetchPartitionResponseWire,
  ): 'ok' | 'backoff' {
    const follower = p.follower;
    assert(follower !== undefined, 'a fetch answer for a partition this broker does not follow');
    const log = p.log;
    const error = r.error_code === 0 ? 'NONE' : errorNameOf(r.error_code);
    const firstOffset = r.records.length > 0 ? readBatchHeader(r.records)?.baseOffset : undefined;
    const decision = follower.handleFetchResponse(
      request,
      {
        error,
        highWatermark: r.high_watermark,
        logStartOffset: r.log_start_offset,
        // A message field has presence: null is "no divergence", (-1, -1) is "diverged, nothing known".
        ...(r.diverging_epoch !== null
          ? { divergingEpoch: { leaderEpoch: r.diverging_epoch.epoch, endOffset: r.diverging_epoch.end_offset } }
          : {}),
        ...(firstOffset !== undefined ? { firstOffset } : {}),
      },
      p.logView(),
    );
    switch (decision.kind) {
      case 'append': {
        if (r.records.length > 0) {
          try {
            log.appendAsFollower(r.records);
          } catch (err) {
            if (!isRaftkaError(err)) throw err;
            this.#log.warn({ err, partition: p.name }, 'follower append failed');
            return 'backoff';
          }
          p.recordAppended(r.records);
          this.config.metrics.replicationBytesIn.inc(r.records.length);
        }
        log.updateHighWatermark(follower.onAppended(r.high_watermark, log.logEndOffset));
        return 'ok';
      }
      case 'truncate':
        this.#log.info(
          { partition: p.name, to: decision.offset, from: log.logEndOffset, leader: follower.leaderId },
          'truncating to the leader',
        );
        p.truncateTo(decision.offset);
        log.updateHighWatermark(follower.onTruncated(log.logEndOffset));
        return 'ok';
      case 'truncate-fully':
        this.#log.info(
          { partition: p.name, startAt: decision.offset },
          'log behind the leader log start: restarting it',
        );
        p.truncateFullyAndStartAt(decision.offset);
        log.updateHighWatermark(follower.onTruncated(log.logEndOffset));
        return 'ok';
      case 'await-metadata':
      case 'retry':
        this.#log.debug({ partition: p.name, error: decision.error }, 'follower fetch refused; backing off');
        return 'backoff';
    }
  }

  // --- Timers ------------------------------------------------------------------------------

  #onTick(): void {
    if (this.#closed) return;
    const nowMs = Date.now();
    const isrCheck = nowMs - this.#lastIsrCheckMs >= this.config.replicaLagTimeMaxMs / 2;
    if (isrCheck) this.#lastIsrCheckMs = nowMs;
    for (const p of this.#partitions.values()) {
      const leader = p.leader;
      if (leader === undefined) continue;
      if (isrCheck || leader.delayedProduceCount > 0) this.#applyEffects(p, leader.onTick(nowMs));
    }
    this.#checkpointHighWatermarks(nowMs);
    if (nowMs - this.#lastProducerExpiryMs >= this.config.producerIdExpirationCheckIntervalMs) {
      this.#lastProducerExpiryMs = nowMs;
      this.#expireProducers(nowMs);
    }
    if (nowMs - this.#lastRetentionMs >= this.config.retentionCheckIntervalMs) {
      this.#lastRetentionMs = nowMs;
      this.#enforceRetention();
    }
    if (nowMs - this.#lastMetricsMs >= METRICS_REFRESH_MS) {
      this.#lastMetricsMs = nowMs;
      this.refreshMetrics();
    }
    for (const p of this.#partitions.values()) {
      try {
        p.log.maybeFlush();
      } catch {
        // An offline log reports itself on the next request.
      }
    }
  }

  /** Every replica's HW in one file per replica.high.watermark.checkpoint.interval.ms, as Kafka does. */
  #checkpointHighWatermarks(nowMs: number): void {
    if (nowMs - this.#lastCheckpointMs < this.config.highWatermarkCheckpointIntervalMs) return;
    this.#lastCheckpointMs = nowMs;
    this.#writeHighWatermarkCheckpoint();
  }

  #writeHighWatermarkCheckpoint(): void {
    const entries: CheckpointedHighWatermark[] = [];
    for (const p of this.#partitions.values()) {
      if (p.closed) continue;
      entries.push({ dirName: p.name, topicId: p.topicId, highWatermark: p.log.highWatermark });
    }
    // Logs still waiting to open keep the HW they had.
    entries.push(...this.#checkpointedHighWatermarks.values());
    try {
      writeReplicationOffsets(this.config.logDir, entries);
    } catch (err) {
      this.#log.warn({ err }, 'high watermark checkpoint failed');
    }
  }

  #expireProducers(nowMs: number): void {
    let expired = 0;
    for (const p of this.#partitions.values()) {
      if (p.leader !== undefined || p.follower !== undefined) {
        expired += p.expireProducers(nowMs, this.config.producerIdExpirationMs);
      }
    }
    if (expired > 0) this.#log.info({ expired }, 'expired idle producer ids (producer.id.expiration.ms)');
  }

  #enforceRetention(): void {
    for (const p of this.#partitions.values()) {
      if (p.leader === undefined && p.follower === undefined) continue;
      try {
        const r = p.log.deleteOldSegments();
        if (r.deletedSegments > 0) {
          this.#log.info({ partition: p.name, ...r }, 'retention deleted segments');
        }
      } catch (err) {
        this.#log.warn({ err, partition: p.name }, 'retention failed');
      }
    }
  }

  refreshMetrics(): void {
    const m = this.config.metrics;
    let leaders = 0;
    let urp = 0;
    let underMin = 0;
    let atMin = 0;
    let offline = 0;
    let purgatory = 0;
    let maxLag = 0;
    for (const p of this.#partitions.values()) {
      if (p.log.offline !== undefined || p.leaderId < 0) offline++;
      const leader = p.leader;
      if (leader !== undefined) {
        leaders++;
        if (leader.isUnderReplicated) urp++;
        if (leader.isUnderMinIsr) underMin++;
        else if (leader.isr.length === leader.effectiveMinIsr) atMin++;
        purgatory += leader.delayedProduceCount;
      } else if (p.follower !== undefined) {
        maxLag = Math.max(maxLag, this.#fetchers.get(p.follower.leaderId)?.lagOf(p) ?? 0);
      }
    }
    m.partitionCount.set(this.#partitions.size);
    m.leaderCount.set(leaders);
    m.underReplicatedPartitions.set(urp);
    m.underMinIsrPartitions.set(underMin);
    m.atMinIsrPartitions.set(atMin);
    m.offlineReplicas.set(offline);
    m.producePurgatorySize.set(purgatory);
    m.fetchPurgatorySize.set(this.#fetchWaiting);
    m.maxFollowerLag.set(maxLag);
  }

  #setError(out: { error_code: number; error_message: string }, api: string, error: ErrorName, message: string): void {
    out.error_code = ErrorCodes[error].code;
    out.error_message = message;
    this.config.metrics.partitionErrors.inc({ api, error });
  }

  // --- Shutdown ----------------------------------------------------------------------------

  /** Stops fetchers and timers, fails waiting requests, checkpoints and closes every log cleanly. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#tick) clearInterval(this.#tick);
    await Promise.allSettled([...this.#fetchers.values()].map((f) => f.stop()));
    this.dataClient.close();
    for (const p of this.#partitions.values()) {
      this.#failProduces(p.leader?.resign() ?? []);
      p.stop();
      this.#wake(p.key);
    }
    this.#writeHighWatermarkCheckpoint();
    for (const p of this.#partitions.values()) {
      try {
        p.log.close();
      } catch (err) {
        this.#log.warn({ err, partition: p.name }, 'error while closing a log');
      }
      p.closed = true;
    }
  }
}

const EMPTY = Buffer.alloc(0);

function waitErrorMessage(error: ErrorName): string {
  switch (error) {
    case 'REQUEST_TIMED_OUT':
      return 'the high watermark did not pass the batch within the request timeout';
    case 'NOT_ENOUGH_REPLICAS_AFTER_APPEND':
      return 'the ISR shrank below min.insync.replicas after the append';
    case 'NOT_LEADER_OR_FOLLOWER':
      return 'leadership moved before the batch was replicated';
    default:
      return error;
  }
}
