// A simulated broker of the data plane: the driver loop the real broker will
// run around the @raftka/replication cores, with the IO simulated. Per
// partition it is leader (a `LeaderPartitionState`, an idempotent
// `ProducerStateManager`, parked follower fetches for long polling, the one
// AlterPartition in flight), follower (a `FollowerPartitionState` with one
// fetch in flight, matched by correlation id) or nothing, as the controller's
// latest partition state says. Logs live in a page cache (`SimPartitionLog`)
// that a process kill keeps and a power loss cuts back to its flushed prefix;
// the HW checkpoint is written every second, durably, and clamped to the
// recovered log end on start. Every start registers a new incarnation with
// the controller and acts on no partition until that registration's metadata
// arrives. A pause freezes the process: messages wait and run when it wakes.
import { assert, type ErrorName, type SeededRandom } from '@raftka/common';
import { NO_LEADER } from '@raftka/metadata';
import {
  type AlterPartitionRequest,
  type AlterPartitionResponse,
  FollowerPartitionState,
  type LeaderEffects,
  LeaderPartitionState,
  type ProducerBatchHeader,
  type ProducerCheck,
  ProducerStateManager,
  UNDEFINED_EPOCH,
} from '@raftka/replication';
import type { SimMessage, World } from '../world.js';
import type { DataPlaneMessage, PartitionState } from './messages.js';
import { batchHeader, type SimBatch, SimPartitionLog } from './partition-log.js';

/** Deliberate bugs for the checker tests; each must be caught by some seed. */
export interface DataPlaneMutants {
  /** A leader answers acks=all as soon as its own append is done. */
  ackOnLocalAppend?: boolean;
  /** A follower never sends its last fetched epoch, so it never learns that its log diverged. */
  skipTruncation?: boolean;
  /** The HW ignores a pending ISR addition (no maximal ISR, KIP-497). */
  hwWithoutMaximalIsr?: boolean;
  /** The leader never recognises a retried batch. */
  noDedup?: boolean;
  /** A restarted broker acts on the metadata of its previous life before registering. */
  staleMetadataAfterRestart?: boolean;
  /** The controller elects a replica outside the ISR when no ISR member may lead. */
  uncleanElection?: boolean;
}

export interface BrokerTimings {
  readonly replicaLagTimeMaxMs: number;
  readonly heartbeatIntervalMs: number;
  readonly fetchMaxWaitMs: number;
  readonly fetchTimeoutMs: number;
  readonly alterPartitionTimeoutMs: number;
  readonly hwCheckpointIntervalMs: number;
}

/** What the checkers hear from a broker as it happens. */
export interface BrokerObserver {
  leaderAppend(broker: SimBroker, partition: number, batch: SimBatch): void;
  followerAppend(broker: SimBroker, partition: number, batch: SimBatch): void;
  truncated(broker: SimBroker, partition: number, offset: number): void;
}

type Role =
  | { kind: 'none' }
  | {
      kind: 'leader';
      state: LeaderPartitionState;
      parked: ParkedFetch[];
      alter?: { request: AlterPartitionRequest; message: DataPlaneMessage; sentMs: number };
    }
  | {
      kind: 'follower';
      state: FollowerPartitionState;
      inFlight?: { correlationId: number; fetchOffset: number; lastFetchedEpoch: number; sentMs: number };
      nextFetchMs: number;
      awaitingMetadata: boolean;
    };

interface ParkedFetch {
  from: number;
  correlationId: number;
  fetchOffset: number;
  deadlineMs: number;
}

interface DelayedAnswer {
  to: number;
  correlationId: number;
  partition: number;
  baseOffset: number;
}

class MaximalIsrIgnored extends LeaderPartitionState {
  override get maximalIsr(): readonly number[] {
    return this.isr;
  }
}

class NoDedupProducerState extends ProducerStateManager {
  override check(header: ProducerBatchHeader): ProducerCheck {
    const c = super.check(header);
    return c.kind === 'duplicate' ? { kind: 'append' } : c;
  }
}

const REGISTRATION_RETRY_MS = 300;
const FETCH_BATCHES_MAX = 6;

export class SimBroker {
  readonly nodeId: number;
  up = true;
  incarnation = 0;
  /** Durable across kills (page cache), cut back on power loss. */
  readonly logs: SimPartitionLog[];
  private readonly hwCheckpoint: number[];
  /** Set by the scenario just before a crash: whether this one loses the page cache. */
  nextCrashLosesPageCache = false;

  // Process state, gone in a crash.
  brokerEpoch = -1;
  view: (PartitionState | undefined)[] = [];
  activeBrokers: readonly number[] = [];
  roles: Role[] = [];
  hw: number[] = [];
  producers: ProducerStateManager[] = [];
  private followerBrokerEpochs: Map<number, number>[] = [];
  private readonly delayed = new Map<number, DelayedAnswer>();
  private nextDelayedId = 1;
  private nextCorrelationId = 1;
  private readonly alterByCorrelation = new Map<number, AlterPartitionRequest>();
  private nextRegistrationMs = 0;
  private nextHeartbeatMs = 0;
  private nextLeaderTickMs = 0;
  private nextCheckpointMs = 0;
  private pausedUntilMs = -1;
  private backlog: DataPlaneMessage[] = [];
  leaderships = 0;
  truncations = 0;

  constructor(
    private readonly world: World,
    brokerId: number,
    private readonly controllerId: number,
    private readonly assignments: readonly (readonly number[])[],
    private readonly minInsyncReplicas: number,
    private readonly timings: BrokerTimings,
    private readonly random: SeededRandom,
    private readonly observer: BrokerObserver,
    private readonly mutants: DataPlaneMutants,
  ) {
    this.nodeId = brokerId;
    this.logs = assignments.map(() => new SimPartitionLog());
    this.hwCheckpoint = assignments.map(() => 0);
    this.resetProcess(0);
  }

  get paused(): boolean {
    return this.pausedUntilMs >= 0;
  }

  private resetProcess(nowMs: number): void {
    this.brokerEpoch = -1;
    this.view = this.assignments.map(() => undefined);
    this.activeBrokers = [];
    this.roles = this.assignments.map(() => ({ kind: 'none' }));
    this.hw = this.logs.map((log, p) => Math.min(this.hwCheckpoint[p]!, log.logEndOffset));
    this.producers = this.logs.map((log) => {
      const m = this.mutants.noDedup ? new NoDedupProducerState() : new ProducerStateManager();
      for (const b of log.allBatches) m.replay(batchHeader(b), b.baseOffset, 0);
      return m;
    });
    this.followerBrokerEpochs = this.assignments.map(() => new Map());
    this.delayed.clear();
    this.alterByCorrelation.clear();
    this.backlog = [];
    this.pausedUntilMs = -1;
    this.nextRegistrationMs = nowMs;
    this.nextHeartbeatMs = nowMs;
    this.nextLeaderTickMs = nowMs + this.timings.replicaLagTimeMaxMs / 2;
    this.nextCheckpointMs = nowMs + this.timings.hwCheckpointIntervalMs;
  }

  // --- SimNode -----------------------------------------------------------------------------

  receive(message: SimMessage, nowMs: number): void {
    const m = message as DataPlaneMessage;
    if (this.paused) {
      this.backlog.push(m);
      return;
    }
    this.handle(m, nowMs);
  }

  tick(nowMs: number): void {
    if (this.paused) {
      if (nowMs < this.pausedUntilMs) return;
      this.pausedUntilMs = -1;
      const backlog = this.backlog;
      this.backlog = [];
      for (const m of backlog) this.handle(m, nowMs);
    }
    if (this.brokerEpoch < 0 && nowMs >= this.nextRegistrationMs) {
      this.nextRegistrationMs = nowMs + REGISTRATION_RETRY_MS;
      this.send({
        type: 'BrokerRegistration',
        from: this.nodeId,
        to: this.controllerId,
        incarnation: this.incarnation,
      });
    }
    if (this.brokerEpoch >= 0 && nowMs >= this.nextHeartbeatMs) {
      this.nextHeartbeatMs = nowMs + this.timings.heartbeatIntervalMs;
      const caughtUp = this.view.every((v) => v !== undefined);
      this.send({
        type: 'BrokerHeartbeat',
        from: this.nodeId,
        to: this.controllerId,
        brokerEpoch: this.brokerEpoch,
        caughtUp,
      });
    }
    if (nowMs >= this.nextCheckpointMs) {
      this.nextCheckpointMs = nowMs + this.timings.hwCheckpointIntervalMs;
      // write-temp, fsync, rename: durable at once, but it can run ahead of the flushed log.
      this.hw.forEach((h, p) => {
        this.hwCheckpoint[p] = h;
      });
    }
    const leaderTick = nowMs >= this.nextLeaderTickMs;
    if (leaderTick) this.nextLeaderTickMs = nowMs + this.timings.replicaLagTimeMaxMs / 2;
    this.roles.forEach((role, p) => {
      if (role.kind === 'leader') {
        if (leaderTick) this.settle(p, role.state.onTick(nowMs));
        this.answerParked(p, nowMs, false);
        if (role.alter !== undefined && nowMs - role.alter.sentMs >= this.timings.alterPartitionTimeoutMs) {
          if (role.state.pendingAlterPartition === role.alter.request) this.sendAlter(p, role.alter.request, nowMs);
          else role.alter = undefined;
        }
      } else if (role.kind === 'follower') {
        if (role.inFlight !== undefined && nowMs - role.inFlight.sentMs >= this.timings.fetchTimeoutMs) {
          role.inFlight = undefined;
        }
        if (role.inFlight === undefined && !role.awaitingMetadata && nowMs >= role.nextFetchMs) this.fetch(p, nowMs);
      }
    });
  }

  nextDeadlineMs(): number {
    if (!this.up) return Number.POSITIVE_INFINITY;
    if (this.paused) return this.pausedUntilMs;
    let next = Math.min(this.nextCheckpointMs, this.nextLeaderTickMs);
    next = Math.min(next, this.brokerEpoch < 0 ? this.nextRegistrationMs : this.nextHeartbeatMs);
    for (const role of this.roles) {
      if (role.kind === 'leader') {
        for (const f of role.parked) next = Math.min(next, f.deadlineMs);
        if (role.alter !== undefined) next = Math.min(next, role.alter.sentMs + this.timings.alterPartitionTimeoutMs);
      } else if (role.kind === 'follower') {
        if (role.inFlight !== undefined) next = Math.min(next, role.inFlight.sentMs + this.timings.fetchTimeoutMs);
        else if (!role.awaitingMetadata) next = Math.min(next, role.nextFetchMs);
      }
    }
    return next;
  }

  peerDisconnected(): void {}

  crash(random: SeededRandom): void {
    this.up = false;
    this.incarnation += 1;
    if (this.nextCrashLosesPageCache) for (const log of this.logs) log.loseUnflushed(random);
    this.nextCrashLosesPageCache = false;
  }

  restart(nowMs: number): void {
    this.up = true;
    if (this.mutants.staleMetadataAfterRestart) {
      const { view, roles, brokerEpoch } = this;
      this.resetProcess(nowMs);
      // The bug: the old life's leadership and view are taken over before any registration.
      this.brokerEpoch = brokerEpoch;
      this.view = view;
      roles.forEach((r, p) => {
        if (r.kind === 'leader' && view[p] !== undefined) this.applyPartition(view[p]!, nowMs, true);
      });
      this.brokerEpoch = -1;
      return;
    }
    this.resetProcess(nowMs);
  }

  pause(untilMs: number): void {
    if (this.up) this.pausedUntilMs = Math.max(this.pausedUntilMs, untilMs);
  }

  /** Ends a pause now; the waiting messages run at the next tick. */
  wake(nowMs: number): void {
    if (this.paused) this.pausedUntilMs = nowMs;
  }

  /** The OS writes back dirty pages of some partitions. */
  flush(partitions: readonly number[]): void {
    for (const p of partitions) this.logs[p]!.flush();
  }

  describe(): string {
    const parts = this.roles
      .map((r, p) => {
        const log = this.logs[p]!;
        const role =
          r.kind === 'leader'
            ? `L${r.state.leaderEpoch}[${r.state.maximalIsr}]${r.state.pendingAlterPartition === undefined ? '' : '*'}`
            : r.kind === 'follower'
              ? `F${r.state.leaderEpoch}<-${r.state.leaderId}${r.awaitingMetadata ? '!' : ''}`
              : '-';
        return `p${p}:${role} leo=${log.logEndOffset} hw=${this.hw[p]} flushed=${log.flushedOffset}`;
      })
      .join(' ');
    return `broker ${this.nodeId}${this.up ? '' : ' (down)'}${this.paused ? ' (paused)' : ''} epoch=${this.brokerEpoch} ${parts}`;
  }

  // --- messages ----------------------------------------------------------------------------

  private handle(m: DataPlaneMessage, nowMs: number): void {
    switch (m.type) {
      case 'BrokerRegistrationResponse':
        if (m.incarnation === this.incarnation && this.brokerEpoch < 0) {
          this.brokerEpoch = m.brokerEpoch;
          this.nextHeartbeatMs = nowMs;
        }
        return;
      case 'BrokerHeartbeatResponse':
        if (m.error === 'STALE_BROKER_EPOCH' && m.brokerEpoch === this.brokerEpoch) {
          this.brokerEpoch = -1;
          this.nextRegistrationMs = nowMs;
        }
        return;
      case 'UpdateMetadata':
        if (m.brokerEpoch !== this.brokerEpoch) return;
        this.activeBrokers = m.activeBrokers;
        for (const ps of m.partitions) {
          const old = this.view[ps.partition];
          if (
            old !== undefined &&
            (ps.leaderEpoch < old.leaderEpoch ||
              (ps.leaderEpoch === old.leaderEpoch && ps.partitionEpoch <= old.partitionEpoch))
          ) {
            continue;
          }
          this.view[ps.partition] = ps;
          this.applyPartition(ps, nowMs, false);
        }
        return;
      case 'AlterPartitionResponse':
        this.onAlterPartitionResponse(m, nowMs);
        return;
      case 'Fetch':
        this.onFetch(m, nowMs);
        return;
      case 'FetchResponse':
        this.onFetchResponse(m, nowMs);
        return;
      case 'Produce':
        this.onProduce(m, nowMs);
        return;
      default:
        return;
    }
  }

  private applyPartition(ps: PartitionState, nowMs: number, force: boolean): void {
    const p = ps.partition;
    const role = this.roles[p]!;
    const log = this.logs[p]!;
    if (!ps.replicas.includes(this.nodeId)) {
      this.stopRole(p, nowMs);
      return;
    }
    if (ps.leader === this.nodeId) {
      if (!force && role.kind === 'leader' && role.state.leaderEpoch === ps.leaderEpoch) {
        this.settle(
          p,
          role.state.onMetadataUpdate({
            replicas: ps.replicas,
            isr: ps.isr,
            leaderEpoch: ps.leaderEpoch,
            partitionEpoch: ps.partitionEpoch,
            minInsyncReplicas: this.minInsyncReplicas,
            nowMs,
          }),
        );
        return;
      }
      this.stopRole(p, nowMs);
      log.assignEpoch(ps.leaderEpoch);
      const config = {
        localBrokerId: this.nodeId,
        replicas: ps.replicas,
        isr: ps.isr,
        leaderEpoch: ps.leaderEpoch,
        partitionEpoch: ps.partitionEpoch,
        minInsyncReplicas: this.minInsyncReplicas,
        leaderEpochStartOffset: log.logEndOffset,
        highWatermark: Math.min(this.hw[p]!, log.logEndOffset),
        nowMs,
        replicaLagTimeMaxMs: this.timings.replicaLagTimeMaxMs,
      };
      const state = this.mutants.hwWithoutMaximalIsr ? new MaximalIsrIgnored(config) : new LeaderPartitionState(config);
      this.roles[p] = { kind: 'leader', state, parked: [] };
      this.hw[p] = state.highWatermark;
      this.leaderships += 1;
      this.world.record(
        `broker ${this.nodeId} leads p${p} e${ps.leaderEpoch} from ${log.logEndOffset}`,
        41,
        this.nodeId,
        p,
      );
      return;
    }
    if (ps.leader === NO_LEADER) {
      this.stopRole(p, nowMs);
      return;
    }
    if (role.kind === 'follower' && role.state.leaderEpoch === ps.leaderEpoch && role.state.leaderId === ps.leader)
      return;
    this.stopRole(p, nowMs);
    this.roles[p] = {
      kind: 'follower',
      state: new FollowerPartitionState({
        localBrokerId: this.nodeId,
        leaderId: ps.leader,
        leaderEpoch: ps.leaderEpoch,
        highWatermark: this.hw[p]!,
      }),
      nextFetchMs: nowMs,
      awaitingMetadata: false,
    };
  }

  private stopRole(p: number, nowMs: number): void {
    const role = this.roles[p]!;
    if (role.kind === 'leader') {
      for (const c of role.state.resign()) this.answerDelayed(c.id, c.error);
      this.answerParked(p, nowMs, true);
    }
    this.roles[p] = { kind: 'none' };
  }

  // --- leader ------------------------------------------------------------------------------

  private onProduce(m: Extract<DataPlaneMessage, { type: 'Produce' }>, nowMs: number): void {
    const p = m.partition;
    const role = this.roles[p];
    const answer = (error: ErrorName, baseOffset = -1) =>
      this.send({
        type: 'ProduceResponse',
        from: this.nodeId,
        to: m.from,
        correlationId: m.correlationId,
        partition: p,
        error,
        baseOffset,
      });
    if (role?.kind !== 'leader') {
      answer('NOT_LEADER_OR_FOLLOWER');
      return;
    }
    const state = role.state;
    const error = state.checkProduce({ acks: m.acks });
    if (error !== 'NONE') {
      answer(error);
      return;
    }
    const log = this.logs[p]!;
    const header = {
      producerId: m.producerId,
      producerEpoch: m.producerEpoch,
      baseSequence: m.baseSequence,
      lastOffsetDelta: m.values.length - 1,
    };
    const check = this.producers[p]!.check(header);
    if (check.kind === 'error') {
      answer(check.error);
      return;
    }
    if (check.kind === 'duplicate') {
      // A retry of a batch in the log: the original offsets, once the HW has passed it (acks=all).
      if (m.acks !== -1) {
        answer('NONE', check.firstOffset);
        return;
      }
      this.park(p, m.from, m.correlationId, check.firstOffset, check.lastOffset + 1, nowMs + m.timeoutMs);
      return;
    }
    const batch: SimBatch = {
      baseOffset: log.logEndOffset,
      epoch: state.leaderEpoch,
      producerId: m.producerId,
      producerEpoch: m.producerEpoch,
      baseSequence: m.baseSequence,
      values: m.values,
    };
    this.observer.leaderAppend(this, p, batch);
    assert(log.append(batch), 'a leader appends at its log end');
    this.producers[p]!.replay(header, batch.baseOffset, nowMs);
    this.settle(p, state.onLocalAppend(log.logEndOffset));
    this.answerParked(p, nowMs, false);
    if (m.acks === 0) return;
    if (m.acks === 1 || this.mutants.ackOnLocalAppend) {
      answer('NONE', batch.baseOffset);
      return;
    }
    this.park(p, m.from, m.correlationId, batch.baseOffset, log.logEndOffset, nowMs + m.timeoutMs);
  }

  private park(
    p: number,
    to: number,
    correlationId: number,
    baseOffset: number,
    requiredOffset: number,
    deadlineMs: number,
  ): void {
    const role = this.roles[p]!;
    assert(role.kind === 'leader', 'only a leader parks produce requests');
    const id = this.nextDelayedId++;
    this.delayed.set(id, { to, correlationId, partition: p, baseOffset });
    this.settle(p, role.state.addDelayedProduce({ id, requiredOffset, deadlineMs }));
  }

  private answerDelayed(id: number, error: ErrorName): void {
    const d = this.delayed.get(id);
    if (d === undefined) return;
    this.delayed.delete(id);
    this.send({
      type: 'ProduceResponse',
      from: this.nodeId,
      to: d.to,
      correlationId: d.correlationId,
      partition: d.partition,
      error,
      baseOffset: error === 'NONE' ? d.baseOffset : -1,
    });
  }

  private settle(p: number, effects: LeaderEffects): void {
    this.hw[p] = effects.highWatermark;
    for (const c of effects.completedProduces) this.answerDelayed(c.id, c.error);
    const role = this.roles[p]!;
    if (role.kind !== 'leader') return;
    if (effects.alterPartition !== undefined) this.sendAlter(p, effects.alterPartition, this.world.nowMs);
  }

  private sendAlter(p: number, request: AlterPartitionRequest, nowMs: number): void {
    const role = this.roles[p]!;
    assert(role.kind === 'leader', 'only a leader sends AlterPartition');
    const correlationId = this.nextCorrelationId++;
    const epochs = this.followerBrokerEpochs[p]!;
    const message: DataPlaneMessage = {
      type: 'AlterPartition',
      from: this.nodeId,
      to: this.controllerId,
      correlationId,
      brokerEpoch: this.brokerEpoch,
      partition: p,
      leaderEpoch: request.leaderEpoch,
      partitionEpoch: request.partitionEpoch,
      newIsr: request.newIsr,
      newIsrBrokerEpochs: request.newIsr.map((id) => (id === this.nodeId ? this.brokerEpoch : (epochs.get(id) ?? -1))),
    };
    this.alterByCorrelation.set(correlationId, request);
    role.alter = { request, message, sentMs: nowMs };
    this.send(message);
  }

  private onAlterPartitionResponse(
    m: Extract<DataPlaneMessage, { type: 'AlterPartitionResponse' }>,
    nowMs: number,
  ): void {
    const request = this.alterByCorrelation.get(m.correlationId);
    this.alterByCorrelation.delete(m.correlationId);
    const role = this.roles[m.partition];
    if (request === undefined || role?.kind !== 'leader' || role.state.leaderEpoch !== request.leaderEpoch) return;
    const response: AlterPartitionResponse =
      m.error === 'NONE'
        ? { error: 'NONE', leaderEpoch: m.leaderEpoch, partitionEpoch: m.partitionEpoch, isr: m.isr }
        : { error: m.error };
    const effects = role.state.onAlterPartitionResponse(request, response);
    if (role.state.pendingAlterPartition !== role.alter?.request) role.alter = undefined;
    this.settle(m.partition, effects);
    if (effects.retryAlterPartition === true && role.state.pendingAlterPartition === request) {
      this.sendAlter(m.partition, request, nowMs);
    }
  }

  private onFetch(m: Extract<DataPlaneMessage, { type: 'Fetch' }>, nowMs: number): void {
    const p = m.partition;
    const role = this.roles[p];
    const log = this.logs[p]!;
    const respond = (error: ErrorName, extra: { divergingEpoch?: { leaderEpoch: number; endOffset: number } } = {}) =>
      this.send({
        type: 'FetchResponse',
        from: this.nodeId,
        to: m.from,
        correlationId: m.correlationId,
        partition: p,
        error,
        highWatermark: this.hw[p]!,
        batches: [],
        ...extra,
      });
    if (role?.kind !== 'leader') {
      respond('NOT_LEADER_OR_FOLLOWER');
      return;
    }
    const decision = role.state.validateFetch(
      {
        replicaId: m.from,
        fetchOffset: m.fetchOffset,
        currentLeaderEpoch: m.currentLeaderEpoch,
        lastFetchedEpoch: m.lastFetchedEpoch,
      },
      { logStartOffset: 0, endOffsetForEpoch: (e) => log.endOffsetForEpoch(e) },
    );
    if (decision.kind === 'error') {
      respond(decision.error);
      return;
    }
    if (decision.kind === 'diverging') {
      respond('NONE', { divergingEpoch: decision.divergingEpoch });
      return;
    }
    this.followerBrokerEpochs[p]!.set(m.from, m.brokerEpoch);
    this.settle(
      p,
      role.state.onFollowerFetch({ replicaId: m.from, fetchOffset: m.fetchOffset, nowMs }, (id) =>
        this.activeBrokers.includes(id),
      ),
    );
    // Long polling (replica.fetch.wait.max.ms): wait for data beyond the fetch offset.
    if (role.kind === 'leader' && this.roles[p] === role) {
      role.parked = role.parked.filter((f) => f.from !== m.from);
      role.parked.push({
        from: m.from,
        correlationId: m.correlationId,
        fetchOffset: m.fetchOffset,
        deadlineMs: nowMs + this.timings.fetchMaxWaitMs,
      });
      this.answerParked(p, nowMs, false);
    }
  }

  /** Answers parked follower fetches that have data, or whose wait is over (all of them when `all`). */
  private answerParked(p: number, nowMs: number, all: boolean): void {
    const role = this.roles[p]!;
    if (role.kind !== 'leader') return;
    const log = this.logs[p]!;
    const keep: ParkedFetch[] = [];
    for (const f of role.parked) {
      const hasData = log.logEndOffset > f.fetchOffset;
      if (!all && !hasData && nowMs < f.deadlineMs) {
        keep.push(f);
        continue;
      }
      const batches = all
        ? []
        : log.batchesFrom(f.fetchOffset, log.logEndOffset, this.random.int(1, FETCH_BATCHES_MAX + 1));
      this.send({
        type: 'FetchResponse',
        from: this.nodeId,
        to: f.from,
        correlationId: f.correlationId,
        partition: p,
        error: all ? 'NOT_LEADER_OR_FOLLOWER' : 'NONE',
        highWatermark: role.state.highWatermark,
        batches,
      });
    }
    role.parked = keep;
  }

  // --- follower ----------------------------------------------------------------------------

  private fetch(p: number, nowMs: number): void {
    const role = this.roles[p]!;
    assert(role.kind === 'follower', 'only a follower fetches');
    const request = role.state.buildFetch(this.logs[p]!.view());
    const lastFetchedEpoch = this.mutants.skipTruncation ? UNDEFINED_EPOCH : request.lastFetchedEpoch;
    const correlationId = this.nextCorrelationId++;
    role.inFlight = { correlationId, fetchOffset: request.fetchOffset, lastFetchedEpoch, sentMs: nowMs };
    this.send({
      type: 'Fetch',
      from: this.nodeId,
      to: role.state.leaderId,
      correlationId,
      brokerEpoch: this.brokerEpoch,
      partition: p,
      currentLeaderEpoch: request.currentLeaderEpoch,
      fetchOffset: request.fetchOffset,
      lastFetchedEpoch,
    });
  }

  private onFetchResponse(m: Extract<DataPlaneMessage, { type: 'FetchResponse' }>, nowMs: number): void {
    const p = m.partition;
    const role = this.roles[p];
    if (
      role?.kind !== 'follower' ||
      role.inFlight?.correlationId !== m.correlationId ||
      m.from !== role.state.leaderId
    ) {
      return; // an answer to a fetch this follower no longer waits for
    }
    const sent = role.inFlight;
    role.inFlight = undefined;
    const log = this.logs[p]!;
    const request = {
      replicaId: this.nodeId,
      currentLeaderEpoch: role.state.leaderEpoch,
      fetchOffset: sent.fetchOffset,
      lastFetchedEpoch: sent.lastFetchedEpoch,
    };
    const decision = role.state.handleFetchResponse(
      request,
      {
        error: m.error,
        highWatermark: m.highWatermark,
        logStartOffset: 0,
        ...(m.divergingEpoch !== undefined && { divergingEpoch: m.divergingEpoch }),
        ...(m.batches.length > 0 && { firstOffset: m.batches[0]!.baseOffset }),
      },
      log.view(),
    );
    switch (decision.kind) {
      case 'append':
        for (const b of m.batches) {
          if (b.baseOffset !== log.logEndOffset) break;
          this.observer.followerAppend(this, p, b);
          log.append(b);
          this.producers[p]!.replay(batchHeader(b), b.baseOffset, nowMs);
        }
        this.hw[p] = role.state.onAppended(m.highWatermark, log.logEndOffset);
        role.nextFetchMs = nowMs;
        return;
      case 'truncate':
      case 'truncate-fully': {
        const offset = decision.kind === 'truncate' ? decision.offset : 0;
        this.observer.truncated(this, p, offset);
        if (offset < log.logEndOffset) this.truncations += 1;
        log.truncateTo(offset);
        this.producers[p]!.truncateTo(offset);
        this.hw[p] = role.state.onTruncated(log.logEndOffset);
        role.nextFetchMs = nowMs;
        return;
      }
      case 'await-metadata':
        role.awaitingMetadata = true;
        return;
      case 'retry':
        role.nextFetchMs = nowMs + 50;
        return;
    }
  }

  private send(message: DataPlaneMessage): void {
    this.world.send(message);
  }
}
