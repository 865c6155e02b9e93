// The controller engine: the glue between the quorum controller's decisions
// and the Raft metadata log, shared by the controller process and the
// simulator. It owns a QuorumController and talks to the Raft node through a
// narrow interface (`MetadataLog`), so this package never depends on the Raft
// core's class. It does no IO and reads no clock: the driver hands it
// committed entries, snapshots, requests and `nowMs`, and arms a timer for
// `nextDeadlineMs()`.
//
// What it does, after Kafka's QuorumController:
// - Replays every committed `data` entry (one encoded metadata record each);
//   loads a snapshot's image; hands out snapshot bytes of the committed image.
// - Activates (becomes the active controller) only when this node leads the
//   Raft epoch *and* has applied that epoch's own `leader-change` entry as
//   committed: committing it commits everything before it, so the image the
//   new active controller decides on is complete. Kafka waits the same way
//   for its LeaderChange record before claiming leadership.
// - Runs a handler, proposes its records, replays them at once at the offsets
//   the log assigned (so the next handler decides on top of them), and
//   answers only once they are committed. Losing leadership first fails the
//   answer with NOT_CONTROLLER and drops the uncommitted tail.
// - Periodic duties of the active controller: fence brokers whose session
//   expired, preferred-leader rebalancing, unclean elections where allowed,
//   and a NoOp record when nothing was appended for
//   `metadata.max.idle.interval.ms`, so the HW keeps moving.
// - Heartbeats are never held back by other work: their soft state is updated
//   at once, an answer that needs no records and depends on no uncommitted
//   registration change is given at once, and the admin-write cap never
//   refuses them. A broker whose connection closed is fenced at once.
//
// Answers are delivered through completion callbacks, called at the end of
// the engine call that decided them (never in the middle of its bookkeeping),
// so a callback may submit more work.
import { assert, type ErrorName, isRaftkaError, type Random } from '@raftka/common';
import { parseIntConfig } from './config-schema.js';
import { MetadataImage } from './image.js';
import { QuorumController, type QuorumControllerOptions } from './quorum-controller.js';
import { decodeRecord, encodeRecords, type MetadataRecord } from './records.js';
import {
  type AllocateProducerIdsRequest,
  type AllocateProducerIdsResponse,
  type AlterConfigsResource,
  type AlterConfigsResult,
  type AlterPartitionRequest,
  type AlterPartitionResponse,
  type ApiError,
  apiError,
  type BrokerHeartbeatRequest,
  type BrokerHeartbeatResponse,
  type BrokerRegistrationRequest,
  type ControllerResult,
  type CreatableTopic,
  type CreatePartitionsResult,
  type CreatePartitionsTopic,
  type CreateTopicResult,
  type DeleteTopicResult,
  type ElectLeadersRequest,
  type ElectLeadersResult,
  type FeatureUpdate,
} from './requests.js';

/** A committed Raft entry as the engine needs it; `@raftka/raft`'s LogEntry fits. */
export interface MetadataLogEntry {
  readonly offset: number;
  readonly epoch: number;
  /** `data` entries hold one encoded metadata record; `leader-change` opens an epoch; others are ignored. */
  readonly kind: string;
  readonly data: Uint8Array;
}

/** A Raft snapshot as the engine needs it; `@raftka/raft`'s Snapshot fits. */
export interface MetadataSnapshot {
  readonly id: { readonly endOffset: number; readonly epoch: number };
  readonly data: Uint8Array;
}

export type MetadataLogAppend =
  | { readonly ok: true; readonly epoch: number; readonly firstOffset: number; readonly lastOffset: number }
  | { readonly ok: false; readonly epoch: number; readonly leaderId: number };

/**
 * The slice of the Raft node the engine uses; `RaftNode` fits. `propose`
 * appends one entry per record and must not call back into the engine: the
 * driver drains the node's Ready after the engine call returns.
 */
export interface MetadataLog {
  propose(records: Uint8Array[], nowMs: number): MetadataLogAppend;
  readonly role: string;
  readonly epoch: number;
  /** The leader this node knows, or -1. */
  readonly leaderId: number;
}

export type EngineOutcome<T> =
  | { readonly ok: true; readonly response: T }
  | { readonly ok: false; readonly error: ApiError };
export type Completion<T> = (outcome: EngineOutcome<T>) => void;

/** A registration once its record committed: the broker epoch is that record's offset. */
export interface EngineRegistrationResponse {
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

export interface ControllerEngineOptions {
  readonly log: MetadataLog;
  readonly random: Random;
  /** broker.session.timeout.ms, default 9000. */
  readonly brokerSessionTimeoutMs?: number;
  /** metadata.max.idle.interval.ms: a NoOp after this long without an append; 0 turns it off. Default 500. */
  readonly maxIdleIntervalMs?: number;
  /** unclean.leader.election.interval.ms, default 300000 (5 min). */
  readonly uncleanLeaderElectionIntervalMs?: number;
  /** Admin writes (topics, configs, elections, features) waiting to commit above this are refused. Default 1000. */
  readonly maxPendingAdminWrites?: number;
  /** Passed through to the QuorumController. */
  readonly producerIdBlockSize?: number;
  readonly maxElectionsPerImbalancePass?: number;
  readonly maxPartitionsPerTopic?: number;
  /** Builds the QuorumController (tests and the simulator's mutants substitute one); `new QuorumController` by default. */
  readonly createController?: (options: QuorumControllerOptions) => QuorumController;
}

export const DEFAULT_MAX_IDLE_INTERVAL_MS = 500;
export const DEFAULT_UNCLEAN_LEADER_ELECTION_INTERVAL_MS = 300_000;
export const DEFAULT_MAX_PENDING_ADMIN_WRITES = 1000;

/** Which writes the pending cap may refuse: broker lifecycle and safety work never waits behind admin load. */
type WriteClass = 'admin' | 'broker' | 'internal';

interface PendingWrite {
  /** Answer once everything up to this offset is committed. */
  readonly waitOffset: number;
  readonly writeClass: WriteClass;
  readonly complete: () => void;
  readonly fail: (error: ApiError) => void;
  /** Set when the records elected leaders: commit latency feeds LeaderElectionRateAndTimeMs. */
  readonly electionStartMs: number | null;
  /** Answers with the same key go out in the order the requests came (one broker's heartbeat stream). */
  readonly orderKey: string | null;
}

const NO_DEADLINE = Number.POSITIVE_INFINITY;

export class ControllerEngine {
  readonly controller: QuorumController;
  readonly #log: MetadataLog;
  readonly #maxIdleIntervalMs: number;
  readonly #uncleanIntervalMs: number;
  readonly #maxPendingAdmin: number;

  /** The Raft epoch this engine is the active controller of, or -1 on a standby. */
  #activeEpoch = -1;
  /** Last committed entry applied (data or control), and its epoch: the snapshot id comes from them. */
  #appliedOffset = -1;
  #appliedEpoch = 0;
  /** Last offset this active controller proposed, or -1 before its first proposal. */
  #proposedEndOffset = -1;
  /** Waiting for commit, in offset order; answered from the front. */
  #pending: PendingWrite[] = [];
  #pendingAdmin = 0;
  /** Pending writes per order key. */
  readonly #pendingByKey = new Map<string, number>();
  /** Callbacks decided during the current call, run when it finishes. */
  #completions: (() => void)[] = [];
  #busy = false;

  #nextFenceCheckMs = NO_DEADLINE;
  #nextNoOpMs = NO_DEADLINE;
  /** Last preferred-leader pass (or activation); the interval is a dynamic cluster config, read when needed. */
  #lastRebalanceMs = NO_DEADLINE;
  #rebalanceAgain = false;
  #nextUncleanMs = NO_DEADLINE;

  constructor(options: ControllerEngineOptions) {
    this.#log = options.log;
    this.#maxIdleIntervalMs = options.maxIdleIntervalMs ?? DEFAULT_MAX_IDLE_INTERVAL_MS;
    this.#uncleanIntervalMs = options.uncleanLeaderElectionIntervalMs ?? DEFAULT_UNCLEAN_LEADER_ELECTION_INTERVAL_MS;
    this.#maxPendingAdmin = options.maxPendingAdminWrites ?? DEFAULT_MAX_PENDING_ADMIN_WRITES;
    assert(this.#maxIdleIntervalMs >= 0, 'metadata.max.idle.interval.ms must not be negative');
    assert(this.#uncleanIntervalMs > 0, 'unclean.leader.election.interval.ms must be positive');
    const controllerOptions: QuorumControllerOptions = {
      random: options.random,
      ...(options.brokerSessionTimeoutMs !== undefined && { brokerSessionTimeoutMs: options.brokerSessionTimeoutMs }),
      ...(options.producerIdBlockSize !== undefined && { producerIdBlockSize: options.producerIdBlockSize }),
      ...(options.maxElectionsPerImbalancePass !== undefined && {
        maxElectionsPerImbalancePass: options.maxElectionsPerImbalancePass,
      }),
      ...(options.maxPartitionsPerTopic !== undefined && { maxPartitionsPerTopic: options.maxPartitionsPerTopic }),
    };
    this.controller = (options.createController ?? ((o) => new QuorumController(o)))(controllerOptions);
  }

  // --- State -------------------------------------------------------------------

  get isActive(): boolean {
    return this.#activeEpoch >= 0;
  }

  /** The Raft epoch this node is the active controller of, or -1. */
  get activeEpoch(): number {
    return this.#activeEpoch;
  }

  /** Offset of the last committed entry applied, or -1. */
  get appliedOffset(): number {
    return this.#appliedOffset;
  }

  /** The image at the applied offset: what snapshots hold and what every node agrees on. */
  get committedImage(): MetadataImage {
    return this.controller.committedImage;
  }

  /** Writes proposed and not yet answered. */
  get pendingWrites(): number {
    return this.#pending.length;
  }

  // --- Driver input: the Raft node's Ready --------------------------------------

  /**
   * `Ready.installSnapshot`: replace the image. Call before the same Ready's
   * committed entries. A leader never installs snapshots, so this resigns
   * first if the Raft role changed.
   */
  handleSnapshot(snapshot: MetadataSnapshot): void {
    this.#run(() => {
      this.#checkLeadership();
      assert(!this.isActive, 'the active controller never loads a snapshot');
      assert(
        snapshot.id.endOffset - 1 >= this.#appliedOffset,
        () => `snapshot ending at ${snapshot.id.endOffset} is behind the applied offset ${this.#appliedOffset}`,
      );
      this.controller.loadSnapshot(MetadataImage.fromBytes(snapshot.data));
      this.#appliedOffset = snapshot.id.endOffset - 1;
      this.#appliedEpoch = snapshot.id.epoch;
    });
  }

  /** `Ready.committed`, in order: replays them, activates on this leader's own leader-change, answers writes. */
  handleCommitted(entries: readonly MetadataLogEntry[], nowMs: number): void {
    if (entries.length === 0) {
      this.checkLeadership();
      return;
    }
    this.#run(() => {
      this.#checkLeadership();
      let batch: MetadataRecord[] = [];
      let batchBase = -1;
      const flush = () => {
        if (batch.length === 0) return;
        this.controller.replayBatch(batch, batchBase);
        this.controller.commit(batchBase + batch.length - 1);
        batch = [];
      };
      for (const entry of entries) {
        assert(
          entry.offset === this.#appliedOffset + 1,
          () => `committed entry ${entry.offset} does not follow the applied offset ${this.#appliedOffset}`,
        );
        if (entry.kind === 'data') {
          if (this.isActive) {
            // Ours: replayed when proposed, so only the commit point moves.
            assert(
              entry.epoch === this.#activeEpoch && entry.offset <= this.#proposedEndOffset,
              () => `active controller of epoch ${this.#activeEpoch} committed entry ${entry.offset} it never proposed`,
            );
          } else {
            if (batch.length === 0) batchBase = entry.offset;
            batch.push(decodeRecord(entry.data));
          }
        } else if (entry.kind === 'leader-change') {
          flush();
          if (!this.isActive && this.#log.role === 'leader' && entry.epoch === this.#log.epoch) {
            this.#appliedOffset = entry.offset;
            this.#appliedEpoch = entry.epoch;
            this.#activate(entry.epoch, nowMs);
            continue;
          }
        }
        this.#appliedOffset = entry.offset;
        this.#appliedEpoch = entry.epoch;
      }
      flush();
      if (this.isActive) {
        this.controller.commit(this.#appliedOffset);
        this.#answerCommitted(nowMs);
      }
    });
  }

  /**
   * Call after every Raft event (the role may have changed): an active
   * controller whose node no longer leads its epoch resigns, failing what
   * did not commit with NOT_CONTROLLER.
   */
  checkLeadership(): void {
    this.#run(() => this.#checkLeadership());
  }

  /** A snapshot of the committed image, ending after the last applied entry; undefined before any. */
  takeSnapshot(): MetadataSnapshot | undefined {
    if (this.#appliedOffset < 0) return undefined;
    return {
      id: { endOffset: this.#appliedOffset + 1, epoch: this.#appliedEpoch },
      data: this.controller.committedImage.toBytes(),
    };
  }

  // --- Timers ----------------------------------------------------------------------

  /** When `tick` must run next at the latest; Infinity on a standby. */
  nextDeadlineMs(): number {
    if (!this.isActive) return NO_DEADLINE;
    return Math.min(this.#nextFenceCheckMs, this.#nextNoOpMs, this.#nextRebalanceMs(), this.#nextUncleanMs);
  }

  /** Periodic duties of the active controller; safety work (fencing) first. */
  tick(nowMs: number): void {
    this.#run(() => {
      this.#checkLeadership();
      if (!this.isActive) return;
      if (nowMs >= this.#nextFenceCheckMs) {
        this.#internal(nowMs, (c) => {
          const result = c.maybeFenceStaleBrokers(nowMs);
          this.#nextFenceCheckMs = result.response.nextCheckMs ?? NO_DEADLINE;
          return result;
        });
      }
      if (this.isActive && nowMs >= this.#nextUncleanMs) {
        this.#nextUncleanMs = nowMs + this.#uncleanIntervalMs;
        this.#internal(nowMs, (c) => c.maybeElectUncleanLeaders());
      }
      if (this.isActive && nowMs >= this.#nextRebalanceMs()) {
        this.#internal(nowMs, (c) => {
          const result = c.maybeBalancePartitionLeaders();
          // A pass stopped by its election cap continues at once; each pass moves leaders, so this ends.
          this.#lastRebalanceMs = nowMs;
          this.#rebalanceAgain = result.response.moreRemaining;
          return result;
        });
      }
      if (this.isActive && nowMs >= this.#nextNoOpMs) {
        this.#internal(nowMs, (c) => c.noOp());
        this.#nextNoOpMs = this.#noOpDeadline(nowMs);
      }
    });
  }

  // --- Requests ----------------------------------------------------------------------

  registerBroker(
    request: BrokerRegistrationRequest,
    nowMs: number,
    done: Completion<EngineRegistrationResponse>,
  ): void {
    this.#run(() => {
      this.#write(
        'broker',
        (c) => c.registerBroker(request, nowMs),
        nowMs,
        done,
        (response, firstOffset) => ({
          brokerId: response.brokerId,
          brokerEpoch:
            response.registrationRecordIndex === null
              ? (response.brokerEpoch as number)
              : firstOffset + response.registrationRecordIndex,
        }),
      );
      this.#armFenceCheck(nowMs);
    });
  }

  /**
   * A heartbeat updates the broker's soft state at once. Its answer waits
   * for a commit only when it wrote records, or when it was decided on a
   * registration change (fence, unfence, controlled shutdown, re-registration)
   * that has not committed yet (Kafka's rule for reads of uncommitted state).
   */
  brokerHeartbeat(request: BrokerHeartbeatRequest, nowMs: number, done: Completion<BrokerHeartbeatResponse>): void {
    this.#run(() => {
      const before = this.controller.committedImage.broker(request.brokerId);
      const latest = this.controller.image.broker(request.brokerId);
      const settled =
        before !== undefined &&
        latest !== undefined &&
        before.brokerEpoch === latest.brokerEpoch &&
        before.fenced === latest.fenced &&
        before.inControlledShutdown === latest.inControlledShutdown;
      this.#write(
        'broker',
        (c) => c.brokerHeartbeat(request, nowMs),
        nowMs,
        done,
        (r) => r,
        {
          settled,
          orderKey: `heartbeat:${request.brokerId}`,
        },
      );
      this.#armFenceCheck(nowMs);
    });
  }

  /**
   * The broker's heartbeat connection closed (its process is gone): fence it
   * now rather than at the session timeout. Never refused for load.
   */
  brokerConnectionLost(
    brokerId: number,
    brokerEpoch: number,
    nowMs: number,
    done: Completion<{ fenced: boolean }> = () => {},
  ): void {
    this.#run(() => {
      this.#write(
        'broker',
        (c) => c.brokerConnectionLost(brokerId, brokerEpoch),
        nowMs,
        done,
        (r) => r,
      );
    });
  }

  alterPartition(request: AlterPartitionRequest, nowMs: number, done: Completion<AlterPartitionResponse>): void {
    this.#run(() =>
      this.#write(
        'broker',
        (c) => c.alterPartition(request),
        nowMs,
        done,
        (r) => r,
      ),
    );
  }

  allocateProducerIds(
    request: AllocateProducerIdsRequest,
    nowMs: number,
    done: Completion<AllocateProducerIdsResponse>,
  ): void {
    this.#run(() =>
      this.#write(
        'broker',
        (c) => c.allocateProducerIds(request),
        nowMs,
        done,
        (r) => r,
      ),
    );
  }

  createTopics(topics: readonly CreatableTopic[], nowMs: number, done: Completion<CreateTopicResult[]>): void {
    this.#run(() =>
      this.#write(
        'admin',
        (c) => c.createTopics(topics),
        nowMs,
        done,
        (r) => r,
      ),
    );
  }

  deleteTopics(names: readonly string[], nowMs: number, done: Completion<DeleteTopicResult[]>): void {
    this.#run(() =>
      this.#write(
        'admin',
        (c) => c.deleteTopics(names),
        nowMs,
        done,
        (r) => r,
      ),
    );
  }

  createPartitions(
    topics: readonly CreatePartitionsTopic[],
    nowMs: number,
    done: Completion<CreatePartitionsResult[]>,
  ): void {
    this.#run(() =>
      this.#write(
        'admin',
        (c) => c.createPartitions(topics),
        nowMs,
        done,
        (r) => r,
      ),
    );
  }

  electLeaders(request: ElectLeadersRequest, nowMs: number, done: Completion<ElectLeadersResult[]>): void {
    this.#run(() =>
      this.#write(
        'admin',
        (c) => c.electLeaders(request),
        nowMs,
        done,
        (r) => r,
      ),
    );
  }

  incrementalAlterConfigs(
    resources: readonly AlterConfigsResource[],
    validateOnly: boolean,
    nowMs: number,
    done: Completion<AlterConfigsResult[]>,
  ): void {
    this.#run(() =>
      this.#write(
        'admin',
        (c) => c.incrementalAlterConfigs(resources, validateOnly),
        nowMs,
        done,
        (r) => r,
      ),
    );
  }

  updateFeatures(updates: readonly FeatureUpdate[], nowMs: number, done: Completion<null>): void {
    this.#run(() =>
      this.#write(
        'admin',
        (c) => c.updateFeatures(updates),
        nowMs,
        done,
        (r) => r,
      ),
    );
  }

  // --- Internals -------------------------------------------------------------------

  /** Runs one engine call: no re-entry from the log, then the callbacks it decided. */
  #run(body: () => void): void {
    assert(
      !this.#busy,
      'ControllerEngine re-entered: MetadataLog.propose must not drain the Raft node into the engine',
    );
    this.#busy = true;
    try {
      body();
    } finally {
      this.#busy = false;
    }
    const completions = this.#completions;
    if (completions.length === 0) return;
    this.#completions = [];
    for (const complete of completions) complete();
  }

  #checkLeadership(): void {
    if (!this.isActive) return;
    if (this.#log.role === 'leader' && this.#log.epoch === this.#activeEpoch) return;
    this.#deactivate();
  }

  #activate(epoch: number, nowMs: number): void {
    this.controller.becomeActive(nowMs);
    this.#activeEpoch = epoch;
    this.#proposedEndOffset = -1;
    // Every broker was seeded with contact = now, so none can expire before a full session.
    this.#nextFenceCheckMs = nowMs + this.controller.brokerSessionTimeoutMs + 1;
    this.#nextNoOpMs = this.#noOpDeadline(nowMs);
    this.#lastRebalanceMs = nowMs;
    this.#rebalanceAgain = false;
    this.#nextUncleanMs = nowMs + this.#uncleanIntervalMs;
  }

  #deactivate(): void {
    this.controller.resign();
    this.#activeEpoch = -1;
    this.#proposedEndOffset = -1;
    const failed = this.#pending;
    this.#pending = [];
    this.#pendingAdmin = 0;
    this.#pendingByKey.clear();
    const error = this.#notController();
    for (const p of failed) this.#completions.push(() => p.fail(error));
    this.#nextFenceCheckMs = NO_DEADLINE;
    this.#nextNoOpMs = NO_DEADLINE;
    this.#lastRebalanceMs = NO_DEADLINE;
    this.#rebalanceAgain = false;
    this.#nextUncleanMs = NO_DEADLINE;
  }

  #notController(): ApiError {
    const leader = this.#log.leaderId;
    return apiError(
      'NOT_CONTROLLER',
      leader >= 0 && !this.isActive && this.#log.role !== 'leader'
        ? `this controller is not active; node ${leader} leads the metadata quorum`
        : 'this controller is not active',
    );
  }

  #noOpDeadline(nowMs: number): number {
    return this.#maxIdleIntervalMs === 0 ? NO_DEADLINE : nowMs + this.#maxIdleIntervalMs;
  }

  /** `leader.imbalance.check.interval.seconds` after the last pass, so a config change takes effect at once. */
  #nextRebalanceMs(): number {
    if (!this.isActive) return NO_DEADLINE;
    return this.#rebalanceAgain ? this.#lastRebalanceMs : this.#lastRebalanceMs + this.#rebalanceIntervalMs();
  }

  #rebalanceIntervalMs(): number {
    const image = this.controller.image;
    const seconds = parseIntConfig(
      'leader.imbalance.check.interval.seconds',
      image.effectiveConfig(null, 'leader.imbalance.check.interval.seconds'),
    );
    return seconds * 1000;
  }

  /** A heartbeat or registration may have unfenced a broker: its session deadline is at most one timeout away. */
  #armFenceCheck(nowMs: number): void {
    if (!this.isActive) return;
    this.#nextFenceCheckMs = Math.min(this.#nextFenceCheckMs, nowMs + this.controller.brokerSessionTimeoutMs + 1);
  }

  /**
   * Runs a handler on the active controller and proposes its records. `shape`
   * turns the handler's response into the answer once the first offset is
   * known. `settled`: a record-less answer that read no uncommitted state may
   * be given at once. `orderKey`: answers with the same key keep the order of
   * their requests, so an answer (or error) that could go out at once waits
   * behind an earlier one of the same key.
   */
  #write<R, T>(
    writeClass: WriteClass,
    handler: (controller: QuorumController) => ControllerResult<R>,
    nowMs: number,
    done: Completion<T>,
    shape: (response: R, firstOffset: number) => T,
    options: { settled?: boolean; orderKey?: string } = {},
  ): void {
    this.#checkLeadership();
    const orderKey = options.orderKey ?? null;
    const behind = orderKey !== null && (this.#pendingByKey.get(orderKey) ?? 0) > 0;
    const uncommittedEnd = () => Math.max(this.#proposedEndOffset, this.#appliedOffset);
    const answerLater = (outcome: EngineOutcome<T>) =>
      this.#enqueue({
        waitOffset: uncommittedEnd(),
        writeClass,
        complete: () => done(outcome),
        fail: (error) => done({ ok: false, error }),
        electionStartMs: null,
        orderKey,
      });
    const fail = (error: ApiError) => {
      if (behind && this.isActive) answerLater({ ok: false, error });
      else this.#completions.push(() => done({ ok: false, error }));
    };
    if (!this.isActive) {
      fail(this.#notController());
      return;
    }
    if (writeClass === 'admin' && this.#pendingAdmin >= this.#maxPendingAdmin) {
      fail(
        apiError(
          'THROTTLING_QUOTA_EXCEEDED',
          `${this.#pendingAdmin} admin writes are waiting to commit (limit ${this.#maxPendingAdmin})`,
        ),
      );
      return;
    }
    const electionsBefore = this.controller.counters.leaderElections;
    let result: ControllerResult<R>;
    try {
      result = handler(this.controller);
    } catch (e) {
      if (!isRaftkaError(e)) throw e;
      fail(apiError(e.errorName as ErrorName, e.message));
      return;
    }
    const elected = this.controller.counters.leaderElections > electionsBefore;
    if (result.records.length === 0) {
      const response = shape(result.response, -1);
      if (!behind && (options.settled === true || uncommittedEnd() <= this.#appliedOffset)) {
        this.#completions.push(() => done({ ok: true, response }));
        return;
      }
      answerLater({ ok: true, response });
      return;
    }
    let answer: T | undefined;
    this.#propose(
      writeClass,
      result,
      nowMs,
      (firstOffset) => {
        answer = shape(result.response, firstOffset);
      },
      { done: done as Completion<unknown>, answer: () => answer, electionStartMs: elected ? nowMs : null, orderKey },
    );
  }

  /** Appends a result's records; on success replays them at their offsets and parks the answer until commit. */
  #propose<R>(
    writeClass: WriteClass,
    result: ControllerResult<R>,
    nowMs: number,
    onOffsets: (firstOffset: number) => void,
    waiter: {
      done: Completion<unknown>;
      answer: () => unknown;
      electionStartMs: number | null;
      orderKey: string | null;
    } | null,
  ): void {
    if (result.records.length === 0) return;
    const append = this.#log.propose(encodeRecords(result.records), nowMs);
    if (!append.ok) {
      // The Raft node stopped leading before we noticed: nothing was appended.
      this.#deactivate();
      if (waiter !== null) {
        const error = this.#notController();
        this.#completions.push(() => waiter.done({ ok: false, error }));
      }
      return;
    }
    assert(
      append.epoch === this.#activeEpoch,
      () => `appended in epoch ${append.epoch}, active in ${this.#activeEpoch}`,
    );
    assert(
      append.lastOffset - append.firstOffset + 1 === result.records.length,
      'the log assigns one offset per record',
    );
    assert(append.firstOffset > Math.max(this.#proposedEndOffset, this.#appliedOffset), 'offsets only grow');
    this.controller.replayBatch(result.records, append.firstOffset, result.replayed);
    this.#proposedEndOffset = append.lastOffset;
    this.#nextNoOpMs = this.#noOpDeadline(nowMs);
    onOffsets(append.firstOffset);
    if (waiter === null) return;
    this.#enqueue({
      waitOffset: append.lastOffset,
      writeClass,
      complete: () => waiter.done({ ok: true, response: waiter.answer() }),
      fail: (error) => waiter.done({ ok: false, error }),
      electionStartMs: waiter.electionStartMs,
      orderKey: waiter.orderKey,
    });
  }

  /** The active controller's own periodic work: never refused, answered to nobody. */
  #internal(nowMs: number, handler: (controller: QuorumController) => ControllerResult<unknown>): void {
    const electionsBefore = this.controller.counters.leaderElections;
    const result = handler(this.controller);
    const elected = this.controller.counters.leaderElections > electionsBefore;
    this.#propose('internal', result, nowMs, () => {}, {
      done: () => {},
      answer: () => null,
      electionStartMs: elected ? nowMs : null,
      orderKey: null,
    });
  }

  #enqueue(write: PendingWrite): void {
    const last = this.#pending[this.#pending.length - 1];
    assert(last === undefined || last.waitOffset <= write.waitOffset, 'pending writes stay in offset order');
    this.#pending.push(write);
    if (write.writeClass === 'admin') this.#pendingAdmin++;
    if (write.orderKey !== null)
      this.#pendingByKey.set(write.orderKey, (this.#pendingByKey.get(write.orderKey) ?? 0) + 1);
  }

  #forget(write: PendingWrite): void {
    if (write.writeClass === 'admin') this.#pendingAdmin--;
    if (write.orderKey === null) return;
    const left = (this.#pendingByKey.get(write.orderKey) ?? 0) - 1;
    if (left > 0) this.#pendingByKey.set(write.orderKey, left);
    else this.#pendingByKey.delete(write.orderKey);
  }

  #answerCommitted(nowMs: number): void {
    let answered = 0;
    while (answered < this.#pending.length && this.#pending[answered]!.waitOffset <= this.#appliedOffset) {
      const write = this.#pending[answered]!;
      this.#forget(write);
      if (write.electionStartMs !== null) {
        this.controller.counters.recordLeaderElectionLatency(nowMs - write.electionStartMs);
      }
      this.#completions.push(write.complete);
      answered++;
    }
    if (answered > 0) this.#pending = this.#pending.slice(answered);
  }
}
