// The state of one partition on the broker that leads it (Kafka's Partition
// while it is leader): the replica set and the ISR as the controller committed
// them, the leader and partition epochs, each follower's progress, the high
// watermark, the one AlterPartition that may be in flight, and the produce
// purgatory. Events go in (a local append, a follower fetch, a clock tick, an
// AlterPartition answer, new metadata); each returns `LeaderEffects`: the HW,
// completed produce requests, and at most one AlterPartition to send. Nothing
// here does IO or reads a clock.
//
// Rules, as in Kafka (Partition.scala, KIP-497, KAFKA-15583):
// - HW = min LEO over the *maximal* ISR (committed ISR plus a pending
//   addition); it advances only while |ISR| >= min(min.insync.replicas, RF),
//   and never moves backwards.
// - A follower is caught up when its fetch offset reached the leader's LEO of
//   its previous fetch (or the current LEO); one not caught up for
//   replica.lag.time.max.ms is proposed out of the ISR; one whose LEO >= HW
//   and >= the start offset of this leader epoch, and that the controller
//   calls eligible, is proposed back in.
import { assert, type ErrorName } from '@raftka/common';
import { type FetchDecision, type FetchPartitionRequest, type LeaderLogView, validateLeaderFetch } from './fetch.js';
import { type ProduceCompletion, ProducePurgatory } from './purgatory.js';

export const DEFAULT_REPLICA_LAG_TIME_MAX_MS = 30_000;
export const UNKNOWN_OFFSET = -1;

export interface LeaderPartitionConfig {
  readonly localBrokerId: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly minInsyncReplicas: number;
  /** The leader's LEO when it took this epoch: the start offset of the epoch. */
  readonly leaderEpochStartOffset: number;
  /** The leader's checkpointed high watermark. */
  readonly highWatermark: number;
  readonly nowMs: number;
  readonly replicaLagTimeMaxMs?: number;
  readonly maxDelayedProduces?: number;
}

export interface FollowerProgress {
  readonly brokerId: number;
  /** UNKNOWN_OFFSET (-1) until the follower's first fetch in this epoch. */
  readonly logEndOffset: number;
  readonly lastFetchTimeMs: number;
  readonly lastCaughtUpTimeMs: number;
  /** The leader's LEO when this follower last fetched. */
  readonly lastFetchLeaderLogEndOffset: number;
}

export interface AlterPartitionRequest {
  readonly kind: 'expand' | 'shrink';
  readonly leaderEpoch: number;
  /** The partition epoch the change is based on (the controller rejects a stale one). */
  readonly partitionEpoch: number;
  readonly newIsr: readonly number[];
  /** The brokers added or removed. */
  readonly changed: readonly number[];
}

export type AlterPartitionResponse =
  | {
      readonly error: 'NONE';
      readonly leaderEpoch: number;
      readonly partitionEpoch: number;
      readonly isr: readonly number[];
    }
  | { readonly error: ErrorName };

export interface LeaderEffects {
  readonly highWatermark: number;
  readonly highWatermarkAdvanced: boolean;
  readonly completedProduces: readonly ProduceCompletion[];
  readonly alterPartition?: AlterPartitionRequest;
  /** For an AlterPartition answer: whether the caller should send the same request again. */
  readonly retryAlterPartition?: boolean;
}

/** Which brokers may join the ISR: registered, unfenced, not in controlled shutdown. */
export type IsEligible = (brokerId: number) => boolean;

interface MutableProgress {
  brokerId: number;
  logEndOffset: number;
  lastFetchTimeMs: number;
  lastCaughtUpTimeMs: number;
  lastFetchLeaderLogEndOffset: number;
}

export class LeaderPartitionState {
  readonly localBrokerId: number;
  readonly leaderEpoch: number;
  readonly leaderEpochStartOffset: number;
  readonly replicaLagTimeMaxMs: number;
  private replicaSet: readonly number[];
  private committedIsr: readonly number[];
  private partitionEpochValue: number;
  private minIsr: number;
  private leaderLeo: number;
  private hw: number;
  private pending: AlterPartitionRequest | undefined;
  private readonly followers = new Map<number, MutableProgress>();
  private readonly purgatory: ProducePurgatory;
  private resigned = false;

  constructor(config: LeaderPartitionConfig) {
    assert(config.replicas.includes(config.localBrokerId), 'the leader is one of the replicas');
    assert(config.isr.includes(config.localBrokerId), 'the leader is in the ISR');
    assert(config.minInsyncReplicas >= 1, 'min.insync.replicas >= 1');
    assert(config.highWatermark <= config.leaderEpochStartOffset, 'HW <= LEO');
    this.localBrokerId = config.localBrokerId;
    this.leaderEpoch = config.leaderEpoch;
    this.leaderEpochStartOffset = config.leaderEpochStartOffset;
    this.replicaLagTimeMaxMs = config.replicaLagTimeMaxMs ?? DEFAULT_REPLICA_LAG_TIME_MAX_MS;
    this.replicaSet = [...config.replicas];
    this.committedIsr = [...config.isr];
    this.partitionEpochValue = config.partitionEpoch;
    this.minIsr = config.minInsyncReplicas;
    this.leaderLeo = config.leaderEpochStartOffset;
    this.hw = config.highWatermark;
    this.purgatory = new ProducePurgatory(config.maxDelayedProduces ?? 10_000);
    // Kafka's resetReplicaState for a new leader: ISR members count as caught
    // up now, so they get a full replica.lag.time.max.ms to show up.
    for (const id of this.replicaSet) if (id !== this.localBrokerId) this.resetFollower(id, config.nowMs);
  }

  private resetFollower(id: number, nowMs: number): void {
    const inSync = this.committedIsr.includes(id);
    this.followers.set(id, {
      brokerId: id,
      logEndOffset: UNKNOWN_OFFSET,
      lastFetchTimeMs: inSync ? nowMs : 0,
      lastCaughtUpTimeMs: inSync ? nowMs : 0,
      lastFetchLeaderLogEndOffset: inSync ? this.leaderLeo : UNKNOWN_OFFSET,
    });
  }

  get replicas(): readonly number[] {
    return this.replicaSet;
  }
  /** The ISR the controller committed. */
  get isr(): readonly number[] {
    return this.committedIsr;
  }
  /** Committed ISR plus a pending addition (KIP-497); used for HW and acks. */
  get maximalIsr(): readonly number[] {
    const p = this.pending;
    if (p?.kind === 'expand')
      return [...this.committedIsr, ...p.changed.filter((id) => !this.committedIsr.includes(id))];
    return this.committedIsr;
  }
  get partitionEpoch(): number {
    return this.partitionEpochValue;
  }
  get highWatermark(): number {
    return this.hw;
  }
  get logEndOffset(): number {
    return this.leaderLeo;
  }
  get pendingAlterPartition(): AlterPartitionRequest | undefined {
    return this.pending;
  }
  get delayedProduceCount(): number {
    return this.purgatory.size;
  }
  get isResigned(): boolean {
    return this.resigned;
  }
  /** min(min.insync.replicas, RF), as Kafka's effectiveMinIsr. */
  get effectiveMinIsr(): number {
    return Math.min(this.minIsr, this.replicaSet.length);
  }
  get isUnderMinIsr(): boolean {
    return this.committedIsr.length < this.effectiveMinIsr;
  }
  get isUnderReplicated(): boolean {
    return this.committedIsr.length < this.replicaSet.length;
  }
  follower(id: number): FollowerProgress | undefined {
    const f = this.followers.get(id);
    return f === undefined ? undefined : { ...f };
  }

  /** Produce checks before the append (Kafka's appendRecordsToLeader). */
  checkProduce(request: { readonly acks: number }): ErrorName {
    if (this.resigned) return 'NOT_LEADER_OR_FOLLOWER';
    if (request.acks !== 0 && request.acks !== 1 && request.acks !== -1) return 'INVALID_REQUIRED_ACKS';
    if (request.acks === -1 && this.isUnderMinIsr) return 'NOT_ENOUGH_REPLICAS';
    return 'NONE';
  }

  /** The leader appended to its log; its LEO is now `logEndOffset`. */
  onLocalAppend(logEndOffset: number): LeaderEffects {
    this.assertLeading();
    assert(logEndOffset >= this.leaderLeo, () => `leader LEO moved back: ${this.leaderLeo} -> ${logEndOffset}`);
    this.leaderLeo = logEndOffset;
    return this.effects();
  }

  /**
   * Park an acks=all produce whose batch ends at `requiredOffset - 1` until
   * the HW passes it. It may complete at once (for example a single-replica ISR).
   */
  addDelayedProduce(entry: { id: number; requiredOffset: number; deadlineMs: number }): LeaderEffects {
    this.assertLeading();
    assert(entry.requiredOffset <= this.leaderLeo, 'a delayed produce waits for data the leader has');
    const refused = this.purgatory.add(entry);
    return this.effects(undefined, refused === undefined ? [] : [refused]);
  }

  /** Validate one partition of a Fetch against this leader; a follower's fetch also counts as progress. */
  validateFetch(
    request: FetchPartitionRequest,
    log: Omit<LeaderLogView, 'leaderEpoch' | 'logEndOffset' | 'highWatermark'>,
  ): FetchDecision {
    if (this.resigned) return { kind: 'error', error: 'NOT_LEADER_OR_FOLLOWER' };
    if (request.replicaId >= 0 && !this.followers.has(request.replicaId)) {
      return { kind: 'error', error: 'NOT_LEADER_OR_FOLLOWER' };
    }
    return validateLeaderFetch(request, {
      leaderEpoch: this.leaderEpoch,
      logStartOffset: log.logStartOffset,
      logEndOffset: this.leaderLeo,
      highWatermark: this.hw,
      endOffsetForEpoch: (e) => log.endOffsetForEpoch(e),
    });
  }

  /**
   * A follower fetched from `fetchOffset` (so its LEO is that offset). Call it
   * only for fetches that passed `validateFetch` with kind 'read'.
   */
  onFollowerFetch(
    event: { replicaId: number; fetchOffset: number; nowMs: number },
    isEligible: IsEligible,
  ): LeaderEffects {
    this.assertLeading();
    const f = this.followers.get(event.replicaId);
    assert(f !== undefined, () => `broker ${event.replicaId} is not a follower of this partition`);
    assert(event.fetchOffset <= this.leaderLeo, 'a follower cannot be ahead of the leader');
    // Kafka's Replica.updateFetchStateOrThrow.
    if (event.fetchOffset >= this.leaderLeo) {
      f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, event.nowMs);
    } else if (event.fetchOffset >= f.lastFetchLeaderLogEndOffset) {
      f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, f.lastFetchTimeMs);
    }
    f.logEndOffset = event.fetchOffset;
    f.lastFetchLeaderLogEndOffset = this.leaderLeo;
    f.lastFetchTimeMs = event.nowMs;
    return this.effects(this.maybeExpand(f, isEligible));
  }

  /** Periodic check (Kafka runs it every replica.lag.time.max.ms / 2): expire produces, shrink the ISR. */
  onTick(nowMs: number): LeaderEffects {
    this.assertLeading();
    const expired = this.purgatory.expire(nowMs);
    return this.effects(this.maybeShrink(nowMs), expired);
  }

  /** The controller's answer to the pending AlterPartition (Kafka's handleAlterPartitionError). */
  onAlterPartitionResponse(request: AlterPartitionRequest, response: AlterPartitionResponse): LeaderEffects {
    this.assertLeading();
    if (this.pending !== request) return this.effects(); // an answer to a change we no longer wait for
    if (response.error === 'NONE') {
      assert('isr' in response, 'a successful AlterPartition carries the ISR');
      if (response.leaderEpoch !== this.leaderEpoch || response.partitionEpoch < this.partitionEpochValue) {
        return this.effects(); // stale; new metadata will settle it
      }
      this.pending = undefined;
      this.committedIsr = [...response.isr];
      this.partitionEpochValue = response.partitionEpoch;
      return this.effects();
    }
    switch (response.error) {
      case 'INELIGIBLE_REPLICA':
        // Refused: fall back to the committed ISR; a later fetch or tick proposes again.
        this.pending = undefined;
        return this.effects();
      case 'FENCED_LEADER_EPOCH':
      case 'INVALID_UPDATE_VERSION':
      case 'NEW_LEADER_ELECTED':
      case 'UNKNOWN_TOPIC_OR_PARTITION':
        // Our view is old: keep the change pending (no other may start) until metadata arrives.
        return this.effects();
      default:
        // Transport or controller trouble (NOT_CONTROLLER, REQUEST_TIMED_OUT, ...): send it again.
        return { ...this.effects(), retryAlterPartition: true };
    }
  }

  /**
   * New metadata for the partition while this broker still leads it in the
   * same leader epoch (a committed ISR or replica change). A newer leader
   * epoch means a new `LeaderPartitionState`.
   */
  onMetadataUpdate(update: {
    replicas: readonly number[];
    isr: readonly number[];
    leaderEpoch: number;
    partitionEpoch: number;
    minInsyncReplicas?: number;
    nowMs: number;
  }): LeaderEffects {
    this.assertLeading();
    assert(update.leaderEpoch === this.leaderEpoch, 'a new leader epoch needs a new LeaderPartitionState');
    if (update.minInsyncReplicas !== undefined) this.minIsr = update.minInsyncReplicas;
    if (update.partitionEpoch < this.partitionEpochValue) return this.effects();
    // The very state a pending AlterPartition is based on (its answer came first): nothing new, and
    // the controller may still commit the change, so the maximal ISR must keep counting it.
    if (update.partitionEpoch === this.partitionEpochValue && this.pending !== undefined) return this.effects();
    this.pending = undefined;
    this.committedIsr = [...update.isr];
    this.partitionEpochValue = update.partitionEpoch;
    this.replicaSet = [...update.replicas];
    for (const id of [...this.followers.keys()]) if (!this.replicaSet.includes(id)) this.followers.delete(id);
    for (const id of this.replicaSet) {
      if (id !== this.localBrokerId && !this.followers.has(id)) this.resetFollower(id, update.nowMs);
    }
    return this.effects();
  }

  /** Leadership is gone: fail every waiting produce. The object is dead afterwards. */
  resign(): readonly ProduceCompletion[] {
    if (this.resigned) return [];
    this.resigned = true;
    this.pending = undefined;
    return this.purgatory.failAll('NOT_LEADER_OR_FOLLOWER');
  }

  private assertLeading(): void {
    assert(!this.resigned, 'event for a partition this broker no longer leads');
  }

  private maybeExpand(f: MutableProgress, isEligible: IsEligible): AlterPartitionRequest | undefined {
    if (this.pending !== undefined || this.committedIsr.includes(f.brokerId)) return undefined;
    if (f.logEndOffset < this.hw || f.logEndOffset < this.leaderEpochStartOffset) return undefined;
    if (!isEligible(f.brokerId)) return undefined;
    return this.propose('expand', [...this.committedIsr, f.brokerId], [f.brokerId]);
  }

  private maybeShrink(nowMs: number): AlterPartitionRequest | undefined {
    if (this.pending !== undefined) return undefined;
    const outOfSync = this.committedIsr.filter((id) => {
      if (id === this.localBrokerId) return false;
      const f = this.followers.get(id);
      if (f === undefined) return true;
      return f.logEndOffset !== this.leaderLeo && nowMs - f.lastCaughtUpTimeMs > this.replicaLagTimeMaxMs;
    });
    if (outOfSync.length === 0) return undefined;
    return this.propose(
      'shrink',
      this.committedIsr.filter((id) => !outOfSync.includes(id)),
      outOfSync,
    );
  }

  private propose(kind: 'expand' | 'shrink', newIsr: number[], changed: number[]): AlterPartitionRequest {
    this.pending = { kind, leaderEpoch: this.leaderEpoch, partitionEpoch: this.partitionEpochValue, newIsr, changed };
    return this.pending;
  }

  private maybeAdvanceHw(): boolean {
    if (this.isUnderMinIsr) return false; // strict min ISR (KAFKA-15583)
    let candidate = this.leaderLeo;
    for (const id of this.maximalIsr) {
      if (id === this.localBrokerId) continue;
      const f = this.followers.get(id);
      candidate = Math.min(candidate, f === undefined ? UNKNOWN_OFFSET : f.logEndOffset);
    }
    if (candidate <= this.hw) return false;
    this.hw = candidate;
    return true;
  }

  private effects(
    alterPartition?: AlterPartitionRequest,
    alreadyCompleted: readonly ProduceCompletion[] = [],
  ): LeaderEffects {
    const advanced = this.maybeAdvanceHw();
    const enough = this.maximalIsr.length >= this.effectiveMinIsr;
    const completed = [...alreadyCompleted, ...this.purgatory.tryComplete(this.hw, enough)];
    const out: LeaderEffects = {
      highWatermark: this.hw,
      highWatermarkAdvanced: advanced,
      completedProduces: completed,
    };
    return alterPartition === undefined ? out : { ...out, alterPartition };
  }
}
