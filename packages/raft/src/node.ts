// A KRaft-style Raft node as a plain object (sans-IO). Events come in through
// step() (a message), tick() (time passed), propose(), resign(),
// peerDisconnected() and snapshotTaken(); what the driver must do comes out of
// ready(): persist, then send, then apply, then advance().
//
// Replication is pulled, as in KIP-595: followers and observers send Fetch
// with their log end offset and the epoch of their last entry; the leader
// answers with entries, with a DivergingEpoch that tells the fetcher where to
// truncate, or with a SnapshotId when the fetcher is behind the log start.
// The fetch doubles as the heartbeat in both directions: a voter that gets no
// successful fetch response for fetchTimeoutMs starts a pre-vote (KIP-996),
// and a leader that gets no fetch from a majority for 1.5 x fetchTimeoutMs
// resigns (check-quorum).
//
// Durability rule: every message in a Ready is sent only after the same
// Ready's persist part is durable, so a vote, an epoch, or a fetch offset
// (which promises the entries below it are on disk) is never visible before
// it is durable. The leader counts its own log toward the high watermark only
// up to what advance() confirmed.

import { assert, ErrorCodes, RaftkaError, type Random, unreachable } from '@raftka/common';
import { ELECTION_BACKOFF_BASE_MS, MAX_TRACKED_OBSERVERS, type RaftConfig, validateConfig } from './config.js';
import { encodeLeaderChange, encodeVoters } from './control-records.js';
import { RaftLog } from './log.js';
import {
  assertTransition,
  type CandidateState,
  type FetchPosition,
  type FollowerState,
  type LeaderState,
  type ProspectiveState,
  type ReplicaProgress,
  type ResignedState,
  type RoleState,
  type UnattachedState,
} from './roles.js';
import type {
  BeginQuorumEpochRequest,
  BeginQuorumEpochResponse,
  EndQuorumEpochRequest,
  EndQuorumEpochResponse,
  FetchRequest,
  FetchResponse,
  FetchSnapshotRequest,
  FetchSnapshotResponse,
  LogEntry,
  NodeId,
  PersistedState,
  QuorumStateRecord,
  RaftMessage,
  RaftRole,
  Ready,
  Snapshot,
  SnapshotId,
  VoteRequest,
  VoteResponse,
} from './types.js';

export interface ReplicaDescription {
  nodeId: NodeId;
  logEndOffset: number;
  lastFetchTimeMs: number;
  lastCaughtUpTimeMs: number;
}

export interface QuorumDescription {
  leaderId: NodeId;
  epoch: number;
  highWatermark: number;
  voters: ReplicaDescription[];
  observers: ReplicaDescription[];
}

export type ProposeResult =
  | { ok: true; epoch: number; firstOffset: number; lastOffset: number }
  | { ok: false; errorName: 'NOT_LEADER_OR_FOLLOWER'; leaderId: NodeId; epoch: number };

/** Kafka's codes for FetchSnapshot failures; not in the shared catalog because only Raft uses them. */
export const SNAPSHOT_NOT_FOUND = 98;
export const POSITION_OUT_OF_RANGE = 99;

/** Committed entries handed out per Ready, so a restart does not produce one giant Ready. */
const MAX_COMMITTED_PER_READY = 4096;
/** Check-quorum window as a multiple of fetchTimeoutMs (Kafka's 1.5). */
const CHECK_QUORUM_FACTOR = 1.5;

const NONE = ErrorCodes.NONE.code;
const NOT_LEADER_OR_FOLLOWER = ErrorCodes.NOT_LEADER_OR_FOLLOWER.code;
const FENCED_LEADER_EPOCH = ErrorCodes.FENCED_LEADER_EPOCH.code;
const UNKNOWN_LEADER_EPOCH = ErrorCodes.UNKNOWN_LEADER_EPOCH.code;

/** Counters for observability; drivers may export them, nothing depends on them. */
export interface RaftCounters {
  electionsStarted: number;
  preVotesStarted: number;
  leaderElections: number;
  checkQuorumResignations: number;
  truncations: number;
  snapshotsInstalled: number;
}

export class RaftNode {
  readonly config: Readonly<RaftConfig>;
  readonly isObserver: boolean;
  readonly counters: RaftCounters = {
    electionsStarted: 0,
    preVotesStarted: 0,
    leaderElections: 0,
    checkQuorumResignations: 0,
    truncations: 0,
    snapshotsInstalled: 0,
  };

  readonly #random: Random;
  readonly #voters: readonly NodeId[];
  readonly #majority: number;
  readonly #retryBackoffMs: number;
  readonly #log: RaftLog;

  #epoch: number;
  #state: RoleState;
  #highWatermark: number;
  #lastNowMs: number;

  // What the driver has been told and what it has confirmed.
  #emittedQuorumState: QuorumStateRecord;
  /** Entries below this were handed out in a Ready. */
  #readyEndOffset: number;
  /** Entries below this are durable (advance() confirmed). */
  #persistedEndOffset: number;
  #pendingTruncateFrom: number | undefined;
  #pendingSnapshot: Snapshot | undefined;
  #pendingDeleteBefore: number | undefined;
  #pendingInstall: Snapshot | undefined;
  /** Next committed offset to hand to the state machine. */
  #nextApplyOffset: number;
  #messages: RaftMessage[] = [];
  /** Messages that may be sent before the Ready's persist part (opt-in, see RaftConfig). */
  #earlyMessages: RaftMessage[] = [];
  /** The Ready handed out and not yet advanced: entries below entriesEnd become durable on advance. */
  #inflightReady: { entriesEnd: number } | undefined;

  constructor(config: RaftConfig, persisted: PersistedState, random: Random, nowMs: number) {
    validateConfig(config);
    this.config = { ...config, voters: [...config.voters] };
    this.#voters = [...config.voters];
    this.#majority = Math.floor(this.#voters.length / 2) + 1;
    this.#retryBackoffMs = config.retryBackoffMs ?? 20;
    this.isObserver = !this.#voters.includes(config.nodeId);
    this.#random = random;
    this.#lastNowMs = nowMs;

    const qs = persisted.quorumState;
    assert(Number.isInteger(qs.epoch) && qs.epoch >= 0, `persisted epoch ${qs.epoch} is not a valid epoch`);
    this.#log = new RaftLog(persisted.snapshot, persisted.entries);
    assert(
      this.#log.lastEpoch <= qs.epoch,
      () => `persisted log has epoch ${this.#log.lastEpoch} above the persisted epoch ${qs.epoch}`,
    );
    this.#epoch = qs.epoch;
    this.#highWatermark = this.#log.startOffset;
    this.#nextApplyOffset = this.#log.startOffset;
    // The state machine is rebuilt from Ready alone: a recovered snapshot is handed out to apply.
    this.#pendingInstall = persisted.snapshot;
    this.#readyEndOffset = this.#log.endOffset;
    this.#persistedEndOffset = this.#log.endOffset;
    this.#emittedQuorumState = { ...qs };

    const self = config.nodeId;
    if (qs.leaderId === self) {
      assert(!this.isObserver, `observer ${self} recovered itself as leader of epoch ${qs.epoch}`);
      // A leader that restarts cannot lead again in the same epoch: it lost its in-memory progress.
      this.#state = this.#resignedState(nowMs, []);
    } else if (qs.leaderId >= 0) {
      this.#state = this.#followerState(qs.leaderId, qs.votedId, nowMs);
    } else {
      this.#state = this.#unattachedState(qs.votedId, nowMs);
    }
    if (this.#state.kind === 'follower') this.#maybeSendFetch(nowMs);
  }

  // --- Public API -----------------------------------------------------------

  get role(): RaftRole {
    return this.isObserver ? 'observer' : this.#state.kind;
  }

  /** The role including an observer's own state (unattached or follower). */
  get state(): RoleState['kind'] {
    return this.#state.kind;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** The live leader this node knows for its epoch, or -1. */
  get leaderId(): NodeId {
    switch (this.#state.kind) {
      case 'leader':
        return this.config.nodeId;
      case 'follower':
        return this.#state.leaderResigned ? -1 : this.#state.leaderId;
      default:
        return -1;
    }
  }

  get votedId(): NodeId {
    return this.#quorumState().votedId;
  }

  get highWatermark(): number {
    return this.#highWatermark;
  }

  get logEndOffset(): number {
    return this.#log.endOffset;
  }

  get logStartOffset(): number {
    return this.#log.startOffset;
  }

  /** Log end offset of what advance() confirmed durable. */
  get persistedEndOffset(): number {
    return this.#persistedEndOffset;
  }

  /** The latest snapshot (taken here or fetched), if any. */
  get snapshot(): Snapshot | undefined {
    return this.#log.snapshot;
  }

  /** The entry at `offset` (for tests and tools). */
  entryAt(offset: number): LogEntry {
    return this.#log.entryAt(offset);
  }

  step(message: RaftMessage, nowMs: number): void {
    this.#observeTime(nowMs);
    assert(message.to === this.config.nodeId, () => `message for ${message.to} delivered to ${this.config.nodeId}`);
    assert(message.from !== this.config.nodeId, () => `node ${message.from} sent a ${message.type} to itself`);
    switch (message.type) {
      case 'VoteRequest':
        this.#onVoteRequest(message, nowMs);
        return;
      case 'VoteResponse':
        this.#onVoteResponse(message, nowMs);
        return;
      case 'BeginQuorumEpochRequest':
        this.#onBeginQuorumEpochRequest(message, nowMs);
        return;
      case 'BeginQuorumEpochResponse':
        this.#onBeginQuorumEpochResponse(message, nowMs);
        return;
      case 'EndQuorumEpochRequest':
        this.#onEndQuorumEpochRequest(message, nowMs);
        return;
      case 'EndQuorumEpochResponse':
        this.#onEndQuorumEpochResponse(message, nowMs);
        return;
      case 'FetchRequest':
        this.#onFetchRequest(message, nowMs);
        return;
      case 'FetchResponse':
        this.#onFetchResponse(message, nowMs);
        return;
      case 'FetchSnapshotRequest':
        this.#onFetchSnapshotRequest(message, nowMs);
        return;
      case 'FetchSnapshotResponse':
        this.#onFetchSnapshotResponse(message, nowMs);
        return;
      default:
        unreachable(message, 'Raft message');
    }
  }

  tick(nowMs: number): void {
    this.#observeTime(nowMs);
    this.#onTimers(nowMs);
    // A timer that stays due after tick() would make the driver spin.
    assert(this.nextDeadlineMs() > nowMs, () => `${this.#state.kind}: a timer is still due at ${nowMs} after tick()`);
  }

  #onTimers(nowMs: number): void {
    const state = this.#state;
    switch (state.kind) {
      case 'unattached':
        if (this.isObserver) {
          this.#probeTick(state, nowMs);
        } else if (nowMs >= state.deadlineMs) {
          this.#becomeProspective(nowMs, 0, 0);
        }
        return;
      case 'follower':
        if (nowMs >= state.fetchDeadlineMs) {
          if (this.isObserver) {
            this.#becomeUnattached(this.#epoch, state.votedId, nowMs);
          } else {
            // Followers of a leader that went silent time out at nearly the same
            // moment (their last fetches were answered together); a small random
            // jitter keeps them from all campaigning at once and splitting the vote.
            // After EndQuorumEpoch the successor order already spaces them out.
            const jitterMs = state.leaderResigned
              ? 0
              : this.#random.int(0, ELECTION_BACKOFF_BASE_MS * this.#voters.length);
            this.#becomeProspective(nowMs, jitterMs, 0);
          }
          return;
        }
        if (state.inflight !== undefined && nowMs >= state.inflight.sentAtMs + this.config.requestTimeoutMs) {
          state.inflight = undefined; // lost; ask again
        }
        this.#maybeSendFetch(nowMs);
        return;
      case 'prospective':
        if (state.phase === 'waiting' && nowMs >= state.roundStartMs) this.#startPreVoteRound(state, nowMs);
        else if (state.phase === 'voting' && nowMs >= state.deadlineMs) this.#losePreVoteRound(state, nowMs);
        return;
      case 'candidate':
        if (nowMs >= state.deadlineMs) this.#loseElection(state, nowMs);
        return;
      case 'leader':
        this.#leaderTick(state, nowMs);
        return;
      case 'resigned':
        if (nowMs >= state.deadlineMs) {
          this.#becomeProspective(nowMs, 0, 0);
          return;
        }
        this.#sendEndQuorumEpochs(state, nowMs);
        return;
      default:
        unreachable(state, 'role');
    }
  }

  nextDeadlineMs(): number {
    const state = this.#state;
    switch (state.kind) {
      case 'unattached':
        if (this.isObserver && state.inflight !== undefined) {
          return state.inflight.sentAtMs + this.config.requestTimeoutMs;
        }
        return state.deadlineMs;
      case 'follower': {
        let next = state.fetchDeadlineMs;
        if (state.inflight !== undefined) next = Math.min(next, state.inflight.sentAtMs + this.config.requestTimeoutMs);
        else if (!state.leaderResigned) next = Math.min(next, state.nextFetchAtMs);
        return next;
      }
      case 'prospective':
        return state.phase === 'waiting' ? state.roundStartMs : state.deadlineMs;
      case 'candidate':
        return state.deadlineMs;
      case 'leader': {
        let next = state.checkQuorumDeadlineMs;
        for (const at of state.beginQuorumPending.values()) next = Math.min(next, at);
        for (const parked of state.parked.values()) next = Math.min(next, parked.deadlineMs);
        return next;
      }
      case 'resigned': {
        let next = state.deadlineMs;
        for (const at of state.endQuorumPending.values()) next = Math.min(next, at);
        return next;
      }
      default:
        unreachable(state, 'role');
    }
  }

  propose(records: Uint8Array[], nowMs: number): ProposeResult {
    this.#observeTime(nowMs);
    if (this.#state.kind !== 'leader') {
      return { ok: false, errorName: 'NOT_LEADER_OR_FOLLOWER', leaderId: this.leaderId, epoch: this.#epoch };
    }
    assert(records.length > 0, 'propose() needs at least one record');
    const firstOffset = this.#log.endOffset;
    for (const data of records) this.#appendAsLeader('data', data, nowMs);
    this.#wakeParkedFetches(this.#state, nowMs);
    return { ok: true, epoch: this.#epoch, firstOffset, lastOffset: this.#log.endOffset - 1 };
  }

  peerDisconnected(peer: NodeId, nowMs: number): void {
    this.#observeTime(nowMs);
    const state = this.#state;
    if (state.kind === 'leader') {
      state.parked.delete(peer);
      return;
    }
    if (state.kind !== 'follower' || state.leaderId !== peer) return;
    // The leader's process is gone; its other followers see the same close.
    // They campaign in a fixed order (by voter id, the old leader left out)
    // 100 ms apart, so they do not split the vote, and the next in line
    // covers for one that is itself down. If the leader is alive for the
    // others, they refuse the pre-vote and name it, and we rejoin it.
    if (this.isObserver) {
      this.#becomeUnattached(this.#epoch, state.votedId, nowMs);
      return;
    }
    const rank = this.#voters
      .filter((id) => id !== peer)
      .sort((a, b) => a - b)
      .indexOf(this.config.nodeId);
    this.#becomeProspective(nowMs, Math.min(rank * ELECTION_BACKOFF_BASE_MS, this.config.electionBackoffMaxMs), 0);
  }

  resign(nowMs: number): void {
    this.#observeTime(nowMs);
    const state = this.#state;
    if (state.kind !== 'leader') return;
    // Successors best first: the furthest log end, so the first to campaign can win.
    const successors = this.#voters
      .filter((id) => id !== this.config.nodeId)
      .sort((a, b) => {
        const pa = state.voters.get(a)!;
        const pb = state.voters.get(b)!;
        return pb.logEndOffset - pa.logEndOffset || pb.lastFetchTimeMs - pa.lastFetchTimeMs || a - b;
      });
    this.#becomeResigned(nowMs, successors);
  }

  snapshotTaken(snapshot: Snapshot): void {
    const endOffset = snapshot.id.endOffset;
    assert(endOffset <= this.#highWatermark, () => `snapshot at ${endOffset} above the HW ${this.#highWatermark}`);
    assert(
      endOffset <= this.#nextApplyOffset,
      () => `snapshot at ${endOffset} above what was applied (${this.#nextApplyOffset})`,
    );
    if (endOffset <= this.#log.startOffset) return; // not newer than what we have
    this.#log.compact(snapshot);
    this.#pendingDeleteBefore = endOffset;
  }

  hasReady(): boolean {
    if (this.#inflightReady !== undefined) return false;
    return (
      this.#messages.length > 0 ||
      this.#earlyMessages.length > 0 ||
      this.#readyEndOffset < this.#log.endOffset ||
      this.#pendingTruncateFrom !== undefined ||
      this.#pendingSnapshot !== undefined ||
      this.#pendingDeleteBefore !== undefined ||
      this.#pendingInstall !== undefined ||
      this.#nextApplyOffset < this.#highWatermark ||
      !sameQuorumState(this.#quorumState(), this.#emittedQuorumState)
    );
  }

  ready(): Ready {
    assert(this.#inflightReady === undefined, 'ready() called again before advance() of the previous Ready');
    const ready: Ready = { entries: [], mustSync: false, messages: [], committed: [] };
    const qs = this.#quorumState();
    if (!sameQuorumState(qs, this.#emittedQuorumState)) {
      ready.quorumState = qs;
      this.#emittedQuorumState = qs;
    }
    if (this.#pendingTruncateFrom !== undefined) ready.truncateFrom = this.#pendingTruncateFrom;
    if (this.#pendingSnapshot !== undefined) ready.snapshot = this.#pendingSnapshot;
    if (this.#pendingDeleteBefore !== undefined) ready.deleteBefore = this.#pendingDeleteBefore;
    this.#pendingTruncateFrom = undefined;
    this.#pendingSnapshot = undefined;
    this.#pendingDeleteBefore = undefined;

    assert(this.#readyEndOffset >= this.#log.startOffset, 'entries not yet handed out fell below the log start');
    const end = this.#log.endOffset;
    ready.entries = this.#log.read(this.#readyEndOffset, end, Number.POSITIVE_INFINITY);
    this.#readyEndOffset = end;

    ready.mustSync =
      ready.quorumState !== undefined ||
      ready.truncateFrom !== undefined ||
      ready.snapshot !== undefined ||
      ready.entries.length > 0;
    ready.messages = this.#messages;
    this.#messages = [];
    if (this.#earlyMessages.length > 0) {
      ready.earlyMessages = this.#earlyMessages;
      this.#earlyMessages = [];
    }

    if (this.#pendingInstall !== undefined) {
      ready.installSnapshot = this.#pendingInstall;
      this.#pendingInstall = undefined;
    }
    if (this.#nextApplyOffset < this.#highWatermark) {
      const to = Math.min(this.#highWatermark, this.#nextApplyOffset + MAX_COMMITTED_PER_READY);
      ready.committed = this.#log.read(this.#nextApplyOffset, to, Number.POSITIVE_INFINITY);
      this.#nextApplyOffset = to;
    }
    this.#inflightReady = { entriesEnd: end };
    return ready;
  }

  advance(_ready: Ready, nowMs: number): void {
    this.#observeTime(nowMs);
    const inflight = this.#inflightReady;
    assert(inflight !== undefined, 'advance() without a Ready');
    this.#inflightReady = undefined;
    if (inflight.entriesEnd > this.#persistedEndOffset) this.#persistedEndOffset = inflight.entriesEnd;
    const state = this.#state;
    if (state.kind === 'leader') {
      state.voters.get(this.config.nodeId)!.logEndOffset = this.#persistedEndOffset;
      this.#maybeAdvanceHighWatermark(state, nowMs);
    }
  }

  describeQuorum(nowMs: number): QuorumDescription {
    const state = this.#state;
    if (state.kind !== 'leader') {
      throw new RaftkaError('NOT_LEADER_OR_FOLLOWER', `node ${this.config.nodeId} is not the quorum leader`);
    }
    const describe = (p: ReplicaProgress): ReplicaDescription => {
      const self = p.nodeId === this.config.nodeId;
      return {
        nodeId: p.nodeId,
        logEndOffset: self ? this.#log.endOffset : p.logEndOffset,
        lastFetchTimeMs: self ? nowMs : p.lastFetchTimeMs,
        lastCaughtUpTimeMs: self ? nowMs : p.lastCaughtUpTimeMs,
      };
    };
    return {
      leaderId: this.config.nodeId,
      epoch: this.#epoch,
      highWatermark: this.#highWatermark,
      voters: [...state.voters.values()].map(describe),
      observers: [...state.observers.values()].map(describe),
    };
  }

  // --- Roles and transitions ------------------------------------------------

  #quorumState(): QuorumStateRecord {
    const self = this.config.nodeId;
    const state = this.#state;
    switch (state.kind) {
      case 'unattached':
        return { epoch: this.#epoch, votedId: state.votedId, leaderId: -1 };
      case 'follower':
        return { epoch: this.#epoch, votedId: state.votedId, leaderId: state.leaderId };
      case 'prospective':
        return { epoch: this.#epoch, votedId: state.votedId, leaderId: state.leaderId };
      case 'candidate':
        return { epoch: this.#epoch, votedId: self, leaderId: -1 };
      case 'leader':
      case 'resigned':
        return { epoch: this.#epoch, votedId: self, leaderId: self };
      default:
        unreachable(state, 'role');
    }
  }

  #transition(next: RoleState, epoch: number): void {
    const prev = this.#state;
    assertTransition(prev.kind, next.kind, this.isObserver);
    assert(
      epoch >= this.#epoch,
      () => `epoch would go back from ${this.#epoch} to ${epoch} (${prev.kind} -> ${next.kind})`,
    );
    this.#epoch = epoch;
    this.#state = next;
    if (prev.kind === 'leader') {
      // Tell parked fetchers at once that we no longer lead.
      for (const parked of prev.parked.values()) {
        this.#send(this.#fetchError(parked.from, parked, NOT_LEADER_OR_FOLLOWER));
      }
    }
  }

  #unattachedState(votedId: NodeId, nowMs: number): UnattachedState {
    return {
      kind: 'unattached',
      votedId,
      deadlineMs: this.isObserver ? nowMs : nowMs + this.#randomElectionTimeoutMs(),
      probeIndex: 0,
      inflight: undefined,
    };
  }

  #followerState(leaderId: NodeId, votedId: NodeId, nowMs: number): FollowerState {
    return {
      kind: 'follower',
      leaderId,
      votedId,
      // Not live until a fetch succeeds: a follower that has only been told of
      // a leader grants pre-votes, so a dead leader cannot pin it.
      lastFetchOkMs: Number.NEGATIVE_INFINITY,
      fetchDeadlineMs: nowMs + this.config.fetchTimeoutMs,
      leaderResigned: false,
      inflight: undefined,
      nextFetchAtMs: nowMs,
      download: undefined,
    };
  }

  #resignedState(nowMs: number, preferredSuccessors: NodeId[]): ResignedState {
    const endQuorumPending = new Map<NodeId, number>();
    for (const id of this.#voters) if (id !== this.config.nodeId) endQuorumPending.set(id, nowMs);
    return {
      kind: 'resigned',
      preferredSuccessors,
      endQuorumPending,
      deadlineMs: nowMs + this.#randomElectionTimeoutMs(),
    };
  }

  /** `probeDelayMs`: how long an observer waits before asking the voters who leads. */
  #becomeUnattached(epoch: number, votedId: NodeId, nowMs: number, probeDelayMs = 0): void {
    const next = this.#unattachedState(votedId, nowMs);
    this.#transition(next, epoch);
    if (this.isObserver) {
      next.deadlineMs = nowMs + probeDelayMs;
      this.#probeTick(next, nowMs);
    }
  }

  #becomeFollower(epoch: number, leaderId: NodeId, nowMs: number): void {
    assert(leaderId !== this.config.nodeId, `node ${leaderId} told to follow itself in epoch ${epoch}`);
    const prev = this.#state;
    // The vote of this epoch stays on record when the epoch does not change.
    const votedId =
      epoch === this.#epoch && (prev.kind === 'unattached' || prev.kind === 'prospective' || prev.kind === 'follower')
        ? prev.votedId
        : epoch === this.#epoch && prev.kind === 'candidate'
          ? this.config.nodeId
          : -1;
    if (epoch === this.#epoch && prev.kind === 'follower') {
      assert(prev.leaderId === leaderId, () => `two leaders in epoch ${epoch}: ${prev.leaderId} and ${leaderId}`);
    }
    this.#transition(this.#followerState(leaderId, votedId, nowMs), epoch);
    this.#maybeSendFetch(nowMs);
  }

  /** Moves to a higher epoch seen in a message: follow its leader if it names one. */
  #onHigherEpoch(epoch: number, leaderId: NodeId, nowMs: number): void {
    assert(epoch > this.#epoch, 'not a higher epoch');
    if (leaderId >= 0 && leaderId !== this.config.nodeId) this.#becomeFollower(epoch, leaderId, nowMs);
    else this.#becomeUnattached(epoch, -1, nowMs);
  }

  #becomeProspective(nowMs: number, delayMs: number, retries: number): void {
    assert(!this.isObserver, 'an observer never campaigns');
    const prev = this.#quorumState();
    const next: ProspectiveState = {
      kind: 'prospective',
      votedId: prev.votedId,
      leaderId: prev.leaderId,
      retries,
      phase: 'waiting',
      roundStartMs: nowMs + delayMs,
      deadlineMs: nowMs + delayMs,
      granted: new Set(),
      rejected: new Set(),
    };
    this.#transition(next, this.#epoch);
    if (delayMs === 0) this.#startPreVoteRound(next, nowMs);
  }

  #startPreVoteRound(state: ProspectiveState, nowMs: number): void {
    this.counters.preVotesStarted++;
    state.phase = 'voting';
    state.deadlineMs = nowMs + this.#randomElectionTimeoutMs();
    state.granted = new Set([this.config.nodeId]);
    state.rejected = new Set();
    for (const id of this.#voters) {
      if (id !== this.config.nodeId) this.#send(this.#voteRequest(id, this.#epoch + 1, true));
    }
    this.#tallyPreVote(state, nowMs);
  }

  #tallyPreVote(state: ProspectiveState, nowMs: number): void {
    if (state.granted.size >= this.#majority) this.#becomeCandidate(nowMs, state.retries);
    else if (state.rejected.size >= this.#majority) this.#losePreVoteRound(state, nowMs);
  }

  #losePreVoteRound(state: ProspectiveState, nowMs: number): void {
    state.retries++;
    state.phase = 'waiting';
    state.roundStartMs = nowMs + this.#electionBackoffMs(state.retries);
    state.deadlineMs = state.roundStartMs;
  }

  #becomeCandidate(nowMs: number, retries: number): void {
    this.counters.electionsStarted++;
    const next: CandidateState = {
      kind: 'candidate',
      retries,
      deadlineMs: nowMs + this.#randomElectionTimeoutMs(),
      granted: new Set([this.config.nodeId]),
      rejected: new Set(),
    };
    // The bumped epoch and the vote for ourselves go out in the same Ready as
    // the vote requests, so they are durable before any voter sees them.
    this.#transition(next, this.#epoch + 1);
    for (const id of this.#voters) {
      if (id !== this.config.nodeId) this.#send(this.#voteRequest(id, this.#epoch, false));
    }
    this.#tallyElection(next, nowMs);
  }

  #tallyElection(state: CandidateState, nowMs: number): void {
    if (state.granted.size >= this.#majority) this.#becomeLeader(state, nowMs);
    else if (state.rejected.size >= this.#majority) this.#loseElection(state, nowMs);
  }

  #loseElection(state: CandidateState, nowMs: number): void {
    const retries = state.retries + 1;
    this.#becomeProspective(nowMs, this.#electionBackoffMs(retries), retries);
  }

  #becomeLeader(candidate: CandidateState, nowMs: number): void {
    this.counters.leaderElections++;
    const self = this.config.nodeId;
    const progress = (nodeId: NodeId): ReplicaProgress => ({
      nodeId,
      logEndOffset: nodeId === self ? this.#persistedEndOffset : -1,
      lastFetchTimeMs: -1,
      lastCaughtUpTimeMs: -1,
      leaderEndOffsetAtLastFetch: -1,
      lastSentHighWatermark: -1,
    });
    const beginQuorumPending = new Map<NodeId, number>();
    for (const id of this.#voters) if (id !== self) beginQuorumPending.set(id, nowMs);
    const next: LeaderState = {
      kind: 'leader',
      epochStartOffset: this.#log.endOffset,
      voters: new Map(this.#voters.map((id) => [id, progress(id)])),
      observers: new Map(),
      beginQuorumPending,
      fetchedSinceCheck: new Set(),
      // A single voter is its own majority: nothing to check.
      checkQuorumDeadlineMs:
        this.#majority === 1 ? Number.POSITIVE_INFINITY : nowMs + CHECK_QUORUM_FACTOR * this.config.fetchTimeoutMs,
      parked: new Map(),
    };
    this.#transition(next, this.#epoch);
    const firstOfLog = this.#log.endOffset === 0;
    this.#appendAsLeader(
      'leader-change',
      encodeLeaderChange({ version: 0, leaderId: self, epoch: this.#epoch, grantingVoters: [...candidate.granted] }),
      nowMs,
    );
    if (firstOfLog) this.#appendAsLeader('voters', encodeVoters({ version: 0, voters: [...this.#voters] }), nowMs);
    this.#sendBeginQuorumEpochs(next, nowMs);
  }

  #becomeResigned(nowMs: number, preferredSuccessors: NodeId[]): void {
    const next = this.#resignedState(nowMs, preferredSuccessors);
    this.#transition(next, this.#epoch);
    this.#sendEndQuorumEpochs(next, nowMs);
  }

  // --- Vote -------------------------------------------------------------------

  #voteRequest(to: NodeId, candidateEpoch: number, preVote: boolean): VoteRequest {
    return {
      type: 'VoteRequest',
      from: this.config.nodeId,
      to,
      candidateEpoch,
      lastOffsetEpoch: this.#log.lastEpoch,
      lastOffset: this.#log.endOffset,
      preVote,
    };
  }

  /** The candidate's log is at least as up to date as ours, by (last epoch, end offset). */
  #candidateLogIsUpToDate(request: VoteRequest): boolean {
    const lastEpoch = this.#log.lastEpoch;
    if (request.lastOffsetEpoch !== lastEpoch) return request.lastOffsetEpoch > lastEpoch;
    return request.lastOffset >= this.#log.endOffset;
  }

  /** We hear from a leader we consider alive (pre-votes must not disrupt it). */
  #hasLiveLeader(nowMs: number): boolean {
    const state = this.#state;
    if (state.kind === 'leader') return true;
    if (state.kind !== 'follower') return false;
    return !state.leaderResigned && nowMs - state.lastFetchOkMs < this.config.fetchTimeoutMs;
  }

  #onVoteRequest(request: VoteRequest, nowMs: number): void {
    const reply = (voteGranted: boolean): void => {
      this.#send({
        type: 'VoteResponse',
        from: this.config.nodeId,
        to: request.from,
        epoch: this.#epoch,
        candidateEpoch: request.candidateEpoch,
        voteGranted,
        preVote: request.preVote,
        // Name a leader only while it is live, so a prospective never rejoins a dead one.
        leaderId: this.#hasLiveLeader(nowMs) ? this.leaderId : -1,
      });
    };
    if (this.isObserver || !this.#voters.includes(request.from)) {
      reply(false);
      return;
    }

    if (request.preVote) {
      // A pre-vote changes nothing here: no epoch bump, no vote recorded.
      const grant =
        request.candidateEpoch > this.#epoch && !this.#hasLiveLeader(nowMs) && this.#candidateLogIsUpToDate(request);
      reply(grant);
      return;
    }

    if (request.candidateEpoch > this.#epoch) this.#becomeUnattached(request.candidateEpoch, -1, nowMs);
    if (request.candidateEpoch < this.#epoch) {
      reply(false);
      return;
    }

    const state = this.#state;
    let grant = false;
    if (state.kind === 'unattached' || (state.kind === 'prospective' && state.leaderId < 0)) {
      const alreadyVoted = state.votedId >= 0;
      grant = alreadyVoted ? state.votedId === request.from : this.#candidateLogIsUpToDate(request);
      if (grant && !alreadyVoted) {
        // Recorded in the quorum state, which the Ready persists before this reply is sent.
        this.#transition(this.#unattachedState(request.from, nowMs), this.#epoch);
      }
    }
    reply(grant);
  }

  #onVoteResponse(response: VoteResponse, nowMs: number): void {
    if (response.epoch > this.#epoch) {
      this.#onHigherEpoch(response.epoch, response.leaderId, nowMs);
      return;
    }
    const state = this.#state;
    // A voter behind us still answers for candidateEpoch; only its leader news is stale.
    if (response.epoch === this.#epoch && response.leaderId >= 0 && response.leaderId !== this.config.nodeId) {
      // The voter follows a live leader of our epoch: follow it too.
      if (state.kind === 'prospective' || state.kind === 'candidate' || state.kind === 'unattached') {
        this.#becomeFollower(this.#epoch, response.leaderId, nowMs);
        return;
      }
      return;
    }
    if (response.preVote) {
      if (state.kind !== 'prospective' || state.phase !== 'voting') return;
      if (response.candidateEpoch !== this.#epoch + 1) return;
      (response.voteGranted ? state.granted : state.rejected).add(response.from);
      this.#tallyPreVote(state, nowMs);
    } else {
      if (state.kind !== 'candidate' || response.candidateEpoch !== this.#epoch) return;
      (response.voteGranted ? state.granted : state.rejected).add(response.from);
      this.#tallyElection(state, nowMs);
    }
  }

  // --- BeginQuorumEpoch / EndQuorumEpoch ----------------------------------------

  #sendBeginQuorumEpochs(state: LeaderState, nowMs: number): void {
    for (const [id, at] of state.beginQuorumPending) {
      if (nowMs < at) continue;
      const request: BeginQuorumEpochRequest = {
        type: 'BeginQuorumEpochRequest',
        from: this.config.nodeId,
        to: id,
        leaderEpoch: this.#epoch,
      };
      this.#send(request);
      state.beginQuorumPending.set(id, nowMs + this.config.requestTimeoutMs);
    }
  }

  #onBeginQuorumEpochRequest(request: BeginQuorumEpochRequest, nowMs: number): void {
    if (this.isObserver || !this.#voters.includes(request.from)) return;
    if (request.leaderEpoch > this.#epoch) {
      this.#becomeFollower(request.leaderEpoch, request.from, nowMs);
    } else if (request.leaderEpoch === this.#epoch) {
      const state = this.#state;
      assert(
        state.kind !== 'leader' && state.kind !== 'resigned',
        () => `two leaders in epoch ${this.#epoch}: ${this.config.nodeId} and ${request.from}`,
      );
      if (state.kind === 'follower') {
        assert(
          state.leaderId === request.from,
          () => `two leaders in epoch ${this.#epoch}: ${state.leaderId} and ${request.from}`,
        );
      } else {
        this.#becomeFollower(this.#epoch, request.from, nowMs);
      }
    }
    const response: BeginQuorumEpochResponse = {
      type: 'BeginQuorumEpochResponse',
      from: this.config.nodeId,
      to: request.from,
      epoch: this.#epoch,
      leaderId: this.leaderId,
    };
    this.#send(response);
  }

  #onBeginQuorumEpochResponse(response: BeginQuorumEpochResponse, nowMs: number): void {
    if (response.epoch > this.#epoch) {
      this.#onHigherEpoch(response.epoch, response.leaderId, nowMs);
      return;
    }
    const state = this.#state;
    if (state.kind === 'leader' && response.epoch === this.#epoch) state.beginQuorumPending.delete(response.from);
  }

  #sendEndQuorumEpochs(state: ResignedState, nowMs: number): void {
    for (const [id, at] of state.endQuorumPending) {
      if (nowMs < at) continue;
      const request: EndQuorumEpochRequest = {
        type: 'EndQuorumEpochRequest',
        from: this.config.nodeId,
        to: id,
        leaderEpoch: this.#epoch,
        preferredSuccessors: [...state.preferredSuccessors],
      };
      this.#send(request);
      state.endQuorumPending.set(id, nowMs + this.config.requestTimeoutMs);
    }
  }

  #onEndQuorumEpochRequest(request: EndQuorumEpochRequest, nowMs: number): void {
    if (this.isObserver || !this.#voters.includes(request.from)) return;
    if (request.leaderEpoch > this.#epoch) this.#becomeUnattached(request.leaderEpoch, -1, nowMs);
    if (request.leaderEpoch === this.#epoch) {
      // Successor #0 campaigns at once; the others wait by position, so the
      // best-placed voter usually wins in one round.
      const position = request.preferredSuccessors.indexOf(this.config.nodeId);
      const backoffMs =
        position === 0
          ? 0
          : position > 0
            ? Math.min(ELECTION_BACKOFF_BASE_MS << Math.min(position - 1, 20), this.config.electionBackoffMaxMs)
            : this.config.electionBackoffMaxMs;
      const state = this.#state;
      if (state.kind === 'follower' && state.leaderId === request.from) {
        state.leaderResigned = true;
        state.fetchDeadlineMs = Math.min(state.fetchDeadlineMs, nowMs + backoffMs);
        if (backoffMs === 0) this.#becomeProspective(nowMs, 0, 0);
      } else if (state.kind === 'unattached') {
        state.deadlineMs = Math.min(state.deadlineMs, nowMs + backoffMs);
        if (backoffMs === 0) this.#becomeProspective(nowMs, 0, 0);
      }
    }
    const response: EndQuorumEpochResponse = {
      type: 'EndQuorumEpochResponse',
      from: this.config.nodeId,
      to: request.from,
      epoch: this.#epoch,
      leaderId: this.leaderId,
    };
    this.#send(response);
  }

  #onEndQuorumEpochResponse(response: EndQuorumEpochResponse, nowMs: number): void {
    if (response.epoch > this.#epoch) {
      this.#onHigherEpoch(response.epoch, response.leaderId, nowMs);
      return;
    }
    const state = this.#state;
    if (state.kind === 'resigned' && response.epoch === this.#epoch) state.endQuorumPending.delete(response.from);
  }

  // --- Leader: fetch serving, HW, check-quorum ------------------------------------

  #leaderTick(state: LeaderState, nowMs: number): void {
    if (nowMs >= state.checkQuorumDeadlineMs) {
      // No fetch from a majority for 1.5 x fetchTimeoutMs: we may be cut off
      // from a quorum that has already elected someone else. Stop accepting writes.
      this.counters.checkQuorumResignations++;
      this.#becomeResigned(nowMs, []);
      return;
    }
    this.#sendBeginQuorumEpochs(state, nowMs);
    for (const parked of [...state.parked.values()]) {
      if (nowMs >= parked.deadlineMs) {
        state.parked.delete(parked.from);
        this.#answerFetch(state, parked.from, parked, parked.maxBytes);
      }
    }
  }

  /**
   * A FetchResponse echoes the request's fetch offset *and* last fetched
   * epoch: together they name the log position the answer is about, so a
   * follower can tell a stale or duplicated answer (a retried request, a
   * packet the network repeated) from the one it waits for. Matching on the
   * offset alone let a stale DivergingEpoch truncate an entry the follower
   * had already re-fetched and acknowledged (simulator seeds 8559, 20876).
   */
  #fetchError(to: NodeId, position: FetchPosition, errorCode: number): FetchResponse {
    return {
      type: 'FetchResponse',
      from: this.config.nodeId,
      to,
      errorCode,
      epoch: this.#epoch,
      leaderId: this.leaderId,
      fetchOffset: position.fetchOffset,
      lastFetchedEpoch: position.lastFetchedEpoch,
      highWatermark: this.#highWatermark,
      logStartOffset: this.#log.startOffset,
      entries: [],
    };
  }

  /** Kafka's leader-only request validation: fenced, unknown epoch, or not the leader. */
  #leaderRequestError(currentLeaderEpoch: number): number {
    if (currentLeaderEpoch < this.#epoch) return FENCED_LEADER_EPOCH;
    if (currentLeaderEpoch > this.#epoch) return UNKNOWN_LEADER_EPOCH;
    if (this.#state.kind !== 'leader') return NOT_LEADER_OR_FOLLOWER;
    return NONE;
  }

  #progressOf(state: LeaderState, replicaId: NodeId, nowMs: number): ReplicaProgress {
    const voter = state.voters.get(replicaId);
    if (voter !== undefined) return voter;
    let observer = state.observers.get(replicaId);
    if (observer === undefined) {
      if (state.observers.size >= MAX_TRACKED_OBSERVERS) {
        let oldest: ReplicaProgress | undefined;
        for (const p of state.observers.values()) {
          if (oldest === undefined || p.lastFetchTimeMs < oldest.lastFetchTimeMs) oldest = p;
        }
        state.observers.delete(oldest!.nodeId);
        state.parked.delete(oldest!.nodeId);
      }
      observer = {
        nodeId: replicaId,
        logEndOffset: -1,
        lastFetchTimeMs: nowMs,
        lastCaughtUpTimeMs: -1,
        leaderEndOffsetAtLastFetch: -1,
        lastSentHighWatermark: -1,
      };
      state.observers.set(replicaId, observer);
    }
    return observer;
  }

  /** A voter fetched in this epoch: it counts toward check-quorum and acknowledges BeginQuorumEpoch. */
  #noteVoterContact(state: LeaderState, replicaId: NodeId, nowMs: number): void {
    if (!state.voters.has(replicaId)) return;
    state.beginQuorumPending.delete(replicaId);
    state.fetchedSinceCheck.add(replicaId);
    if (state.fetchedSinceCheck.size + 1 >= this.#majority) {
      state.fetchedSinceCheck.clear();
      state.checkQuorumDeadlineMs = nowMs + CHECK_QUORUM_FACTOR * this.config.fetchTimeoutMs;
    }
  }

  #onFetchRequest(request: FetchRequest, nowMs: number): void {
    assert(
      request.fetchOffset >= 0 &&
        request.lastFetchedEpoch >= 0 &&
        request.lastFetchedEpoch <= request.currentLeaderEpoch,
      () =>
        `malformed fetch from ${request.from}: offset ${request.fetchOffset}, epochs ${request.lastFetchedEpoch}/${request.currentLeaderEpoch}`,
    );
    const error = this.#leaderRequestError(request.currentLeaderEpoch);
    const state = this.#state;
    if (error !== NONE || state.kind !== 'leader') {
      this.#send(this.#fetchError(request.from, request, error));
      return;
    }
    this.#noteVoterContact(state, request.from, nowMs);
    const progress = this.#progressOf(state, request.from, nowMs);
    state.parked.delete(request.from); // a newer fetch supersedes a parked one

    const log = this.#log;
    const snapshot = log.snapshot;
    if (
      request.fetchOffset < log.startOffset ||
      (request.fetchOffset === 0 && snapshot !== undefined && snapshot.id.endOffset > 0) ||
      (request.fetchOffset === log.startOffset &&
        snapshot !== undefined &&
        !log.matches(request.fetchOffset, request.lastFetchedEpoch))
    ) {
      // Behind the log start (or diverged below it): only the snapshot can help.
      assert(snapshot !== undefined, 'a log that does not start at 0 must have a snapshot');
      progress.lastFetchTimeMs = nowMs;
      this.#send({ ...this.#fetchError(request.from, request, NONE), snapshotId: { ...snapshot.id } });
      return;
    }
    if (!log.matches(request.fetchOffset, request.lastFetchedEpoch)) {
      const end = log.endOffsetForEpoch(request.lastFetchedEpoch);
      progress.lastFetchTimeMs = nowMs;
      this.#send({
        ...this.#fetchError(request.from, request, NONE),
        divergingEpoch: { epoch: end.epoch, endOffset: end.offset },
      });
      return;
    }

    // The fetcher's log matches ours up to fetchOffset: that is its log end offset.
    const leaderEnd = log.endOffset;
    if (request.fetchOffset >= leaderEnd) progress.lastCaughtUpTimeMs = nowMs;
    else if (request.fetchOffset >= progress.leaderEndOffsetAtLastFetch && progress.leaderEndOffsetAtLastFetch >= 0) {
      progress.lastCaughtUpTimeMs = progress.lastFetchTimeMs;
    }
    progress.logEndOffset = request.fetchOffset;
    progress.lastFetchTimeMs = nowMs;
    progress.leaderEndOffsetAtLastFetch = leaderEnd;
    const maxBytes = Math.min(request.maxBytes, this.config.fetchMaxBytes);
    if (state.voters.has(request.from)) this.#maybeAdvanceHighWatermark(state, nowMs);

    const hasNews = request.fetchOffset < leaderEnd || progress.lastSentHighWatermark !== this.#highWatermark;
    const waitMs = Math.min(request.maxWaitMs, this.config.fetchMaxWaitMs);
    if (hasNews || waitMs <= 0) {
      this.#answerFetch(state, request.from, request, maxBytes);
    } else {
      state.parked.set(request.from, {
        from: request.from,
        fetchOffset: request.fetchOffset,
        lastFetchedEpoch: request.lastFetchedEpoch,
        maxBytes,
        deadlineMs: nowMs + waitMs,
      });
    }
  }

  #answerFetch(state: LeaderState, to: NodeId, position: FetchPosition, maxBytes: number): void {
    const fetchOffset = position.fetchOffset;
    const progress = state.voters.get(to) ?? state.observers.get(to);
    if (progress !== undefined) progress.lastSentHighWatermark = this.#highWatermark;
    const entries = this.#log.read(fetchOffset, this.#log.endOffset, maxBytes);
    this.#send({ ...this.#fetchError(to, position, NONE), entries });
  }

  /** Answer parked fetches that now have entries to read or a new HW to learn. */
  #wakeParkedFetches(state: LeaderState, _nowMs: number): void {
    for (const parked of [...state.parked.values()]) {
      const progress = state.voters.get(parked.from) ?? state.observers.get(parked.from);
      const hwMoved = progress === undefined || progress.lastSentHighWatermark !== this.#highWatermark;
      if (parked.fetchOffset < this.#log.endOffset || hwMoved) {
        state.parked.delete(parked.from);
        this.#answerFetch(state, parked.from, parked, parked.maxBytes);
      }
    }
  }

  /**
   * HW = the largest offset below which a majority of voters hold the log
   * (this node counting only what it persisted). It moves only once an entry
   * of this leader's epoch is covered (the leader-change entry at
   * epochStartOffset), and never backwards.
   */
  #maybeAdvanceHighWatermark(state: LeaderState, nowMs: number): void {
    const ends = [...state.voters.values()].map((p) =>
      p.nodeId === this.config.nodeId ? this.#persistedEndOffset : Math.max(p.logEndOffset, 0),
    );
    ends.sort((a, b) => b - a);
    const majorityEnd = ends[this.#majority - 1]!;
    if (majorityEnd > state.epochStartOffset && majorityEnd > this.#highWatermark) {
      assert(majorityEnd <= this.#log.endOffset, 'HW beyond the log end');
      this.#highWatermark = majorityEnd;
      this.#wakeParkedFetches(state, nowMs);
    }
  }

  #appendAsLeader(kind: LogEntry['kind'], data: Uint8Array, nowMs: number): void {
    this.#log.append({ offset: this.#log.endOffset, epoch: this.#epoch, kind, data, appendTimeMs: nowMs });
  }

  #onFetchSnapshotRequest(request: FetchSnapshotRequest, nowMs: number): void {
    const error = this.#leaderRequestError(request.currentLeaderEpoch);
    const state = this.#state;
    const response: FetchSnapshotResponse = {
      type: 'FetchSnapshotResponse',
      from: this.config.nodeId,
      to: request.from,
      errorCode: error,
      epoch: this.#epoch,
      leaderId: this.leaderId,
      snapshotId: { ...request.snapshotId },
      position: request.position,
      size: 0,
      chunk: new Uint8Array(0),
    };
    if (error !== NONE || state.kind !== 'leader') {
      this.#send(response);
      return;
    }
    this.#noteVoterContact(state, request.from, nowMs);
    this.#progressOf(state, request.from, nowMs).lastFetchTimeMs = nowMs;
    const snapshot = this.#log.snapshot;
    if (snapshot === undefined || !sameSnapshotId(snapshot.id, request.snapshotId)) {
      response.errorCode = SNAPSHOT_NOT_FOUND;
      this.#send(response);
      return;
    }
    const size = snapshot.data.length;
    if (request.position < 0 || request.position > size) {
      response.errorCode = POSITION_OUT_OF_RANGE;
      this.#send(response);
      return;
    }
    const chunkBytes = Math.max(1, Math.min(request.maxBytes, this.config.snapshotChunkBytes));
    response.size = size;
    response.chunk = snapshot.data.subarray(request.position, Math.min(size, request.position + chunkBytes));
    this.#send(response);
  }

  // --- Follower and observer: fetching ---------------------------------------------

  #maybeSendFetch(nowMs: number): void {
    const state = this.#state;
    if (state.kind !== 'follower' || state.inflight !== undefined || nowMs < state.nextFetchAtMs) return;
    if (state.leaderResigned) return; // it said it is leaving; wait for the successor
    const self = this.config.nodeId;
    if (state.download !== undefined) {
      const download = state.download;
      this.#send({
        type: 'FetchSnapshotRequest',
        from: self,
        to: state.leaderId,
        currentLeaderEpoch: this.#epoch,
        snapshotId: { ...download.id },
        position: download.position,
        maxBytes: this.config.snapshotChunkBytes,
      });
      state.inflight = {
        kind: 'snapshot',
        to: state.leaderId,
        fetchOffset: -1,
        lastFetchedEpoch: -1,
        position: download.position,
        sentAtMs: nowMs,
      };
      return;
    }
    this.#send(this.#fetchRequest(state.leaderId));
    state.inflight = {
      kind: 'fetch',
      to: state.leaderId,
      fetchOffset: this.#log.endOffset,
      lastFetchedEpoch: this.#log.epochBefore(this.#log.endOffset),
      position: -1,
      sentAtMs: nowMs,
    };
  }

  #fetchRequest(to: NodeId): FetchRequest {
    const end = this.#log.endOffset;
    return {
      type: 'FetchRequest',
      from: this.config.nodeId,
      to,
      currentLeaderEpoch: this.#epoch,
      fetchOffset: end,
      lastFetchedEpoch: this.#log.epochBefore(end),
      maxBytes: this.config.fetchMaxBytes,
      maxWaitMs: this.config.fetchMaxWaitMs,
    };
  }

  /** An observer without a leader asks the voters in turn; the answers name the leader. */
  #probeTick(state: UnattachedState, nowMs: number): void {
    if (state.inflight !== undefined) {
      if (nowMs < state.inflight.sentAtMs + this.config.requestTimeoutMs) return;
      state.inflight = undefined;
      state.deadlineMs = nowMs;
    }
    if (nowMs < state.deadlineMs) return;
    const to = this.#voters[state.probeIndex % this.#voters.length]!;
    state.probeIndex++;
    this.#send(this.#fetchRequest(to));
    state.inflight = {
      kind: 'fetch',
      to,
      fetchOffset: this.#log.endOffset,
      lastFetchedEpoch: this.#log.epochBefore(this.#log.endOffset),
      position: -1,
      sentAtMs: nowMs,
    };
  }

  #onFetchResponse(response: FetchResponse, nowMs: number): void {
    const state = this.#state;
    if (state.kind === 'unattached' && this.isObserver) {
      const inflight = state.inflight;
      if (inflight === undefined || inflight.to !== response.from || !answersFetch(inflight, response)) return;
      state.inflight = undefined;
      if (response.leaderId >= 0 && response.epoch >= this.#epoch) {
        if (response.epoch > this.#epoch) this.#onHigherEpoch(response.epoch, response.leaderId, nowMs);
        else this.#becomeFollower(this.#epoch, response.leaderId, nowMs);
      } else {
        if (response.epoch > this.#epoch) this.#becomeUnattached(response.epoch, -1, nowMs);
        const next = this.#state as UnattachedState;
        next.deadlineMs = nowMs + this.#retryBackoffMs;
      }
      return;
    }
    if (response.epoch > this.#epoch) {
      this.#onHigherEpoch(response.epoch, response.leaderId, nowMs);
      return;
    }
    if (response.epoch < this.#epoch || state.kind !== 'follower') return;
    const inflight = state.inflight;
    if (
      inflight === undefined ||
      inflight.kind !== 'fetch' ||
      inflight.to !== response.from ||
      response.from !== state.leaderId ||
      !answersFetch(inflight, response)
    ) {
      return; // stale or duplicated
    }
    state.inflight = undefined;
    if (response.errorCode !== NONE) {
      // An observer looks for the new leader among the voters; a voter waits
      // for BeginQuorumEpoch/EndQuorumEpoch or its own fetch timeout.
      if (this.isObserver && response.errorCode === NOT_LEADER_OR_FOLLOWER) {
        this.#becomeUnattached(this.#epoch, state.votedId, nowMs, this.#retryBackoffMs);
        return;
      }
      state.nextFetchAtMs = nowMs + this.#retryBackoffMs;
      return;
    }
    this.#fetchSucceeded(state, nowMs);
    assert(response.fetchOffset === this.#log.endOffset, 'log end moved while a fetch was in flight');

    if (response.divergingEpoch !== undefined) {
      this.#truncateToDivergence(response.divergingEpoch);
    } else if (response.snapshotId !== undefined) {
      assert(response.snapshotId.endOffset >= this.#highWatermark, 'asked to fetch a snapshot behind our HW');
      state.download = { id: { ...response.snapshotId }, size: -1, chunks: [], position: 0 };
    } else {
      for (const entry of response.entries) {
        assert(entry.epoch <= this.#epoch, () => `entry of epoch ${entry.epoch} from a leader of epoch ${this.#epoch}`);
        this.#log.append(entry);
      }
      this.#followerHighWatermark(response.highWatermark);
    }
    this.#maybeSendFetch(nowMs);
  }

  #fetchSucceeded(state: FollowerState, nowMs: number): void {
    state.lastFetchOkMs = nowMs;
    if (!state.leaderResigned) state.fetchDeadlineMs = nowMs + this.config.fetchTimeoutMs;
  }

  #followerHighWatermark(leaderHighWatermark: number): void {
    const hw = Math.min(leaderHighWatermark, this.#log.endOffset);
    if (hw > this.#highWatermark) this.#highWatermark = hw;
  }

  /** KIP-595 reconciliation on the follower side: cut the log where it stops agreeing with the leader. */
  #truncateToDivergence(diverging: { epoch: number; endOffset: number }): void {
    const local = this.#log.endOffsetForEpoch(diverging.epoch);
    const truncateTo = Math.max(Math.min(local.offset, diverging.endOffset), this.#log.startOffset);
    assert(
      truncateTo < this.#log.endOffset,
      () =>
        `divergence at epoch ${diverging.epoch}/${diverging.endOffset} does not shorten the log ending at ${this.#log.endOffset}`,
    );
    assert(
      truncateTo >= this.#highWatermark,
      () => `truncation to ${truncateTo} below the high watermark ${this.#highWatermark}`,
    );
    this.counters.truncations++;
    this.#log.truncateTo(truncateTo);
    if (truncateTo < this.#readyEndOffset) {
      this.#pendingTruncateFrom = Math.min(this.#pendingTruncateFrom ?? truncateTo, truncateTo);
      this.#readyEndOffset = truncateTo;
    }
    this.#persistedEndOffset = Math.min(this.#persistedEndOffset, truncateTo);
    if (this.#inflightReady !== undefined) {
      this.#inflightReady.entriesEnd = Math.min(this.#inflightReady.entriesEnd, truncateTo);
    }
  }

  #onFetchSnapshotResponse(response: FetchSnapshotResponse, nowMs: number): void {
    if (response.epoch > this.#epoch) {
      this.#onHigherEpoch(response.epoch, response.leaderId, nowMs);
      return;
    }
    const state = this.#state;
    if (response.epoch < this.#epoch || state.kind !== 'follower') return;
    const inflight = state.inflight;
    const download = state.download;
    if (
      inflight === undefined ||
      inflight.kind !== 'snapshot' ||
      download === undefined ||
      response.from !== state.leaderId ||
      inflight.position !== response.position ||
      !sameSnapshotId(download.id, response.snapshotId)
    ) {
      return;
    }
    state.inflight = undefined;
    if (response.errorCode !== NONE) {
      // The leader moved on (a newer snapshot, or it lost leadership): start over with a Fetch.
      state.download = undefined;
      state.nextFetchAtMs = nowMs + this.#retryBackoffMs;
      return;
    }
    this.#fetchSucceeded(state, nowMs);
    assert(
      response.size >= 0 && response.position + response.chunk.length <= response.size,
      'chunk beyond the snapshot',
    );
    assert(response.chunk.length > 0 || response.position === response.size, 'empty chunk before the snapshot end');
    download.size = response.size;
    download.chunks.push(response.chunk.slice());
    download.position += response.chunk.length;
    if (download.position === download.size) {
      state.download = undefined;
      this.#installFetchedSnapshot(download.id, download.chunks, download.size);
    }
    this.#maybeSendFetch(nowMs);
  }

  #installFetchedSnapshot(id: SnapshotId, chunks: Uint8Array[], size: number): void {
    const data = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      data.set(chunk, at);
      at += chunk.length;
    }
    const snapshot: Snapshot = { id: { ...id }, data };
    assert(this.#nextApplyOffset <= id.endOffset, 'fetched snapshot is behind what was applied');
    this.counters.snapshotsInstalled++;
    this.#log.resetTo(snapshot);
    // The snapshot replaces the whole log, so earlier pending log edits are moot.
    this.#pendingTruncateFrom = undefined;
    this.#pendingDeleteBefore = undefined;
    this.#pendingSnapshot = snapshot;
    this.#pendingInstall = snapshot;
    this.#readyEndOffset = id.endOffset;
    this.#persistedEndOffset = id.endOffset;
    if (this.#inflightReady !== undefined) this.#inflightReady.entriesEnd = id.endOffset;
    this.#nextApplyOffset = id.endOffset;
    if (this.#highWatermark < id.endOffset) this.#highWatermark = id.endOffset;
  }

  // --- Plumbing ----------------------------------------------------------------

  #send(message: RaftMessage): void {
    assert(message.to !== this.config.nodeId, () => `${message.type} addressed to ourselves`);
    // A leader's fetch answers promise nothing about its own disk (the HW counts
    // its log only once persisted), so they may leave before the fsync, as in
    // Kafka and etcd; everything else waits for the persist part.
    const early =
      this.config.leaderEarlyFetchResponses === true &&
      this.#state.kind === 'leader' &&
      (message.type === 'FetchResponse' || message.type === 'FetchSnapshotResponse');
    (early ? this.#earlyMessages : this.#messages).push(message);
  }

  #observeTime(nowMs: number): void {
    assert(Number.isFinite(nowMs), `time must be finite: ${nowMs}`);
    assert(nowMs >= this.#lastNowMs, () => `time went back from ${this.#lastNowMs} to ${nowMs}`);
    this.#lastNowMs = nowMs;
  }

  #randomElectionTimeoutMs(): number {
    const t = this.config.electionTimeoutMs;
    return this.#random.int(t, 2 * t);
  }

  /** Binary exponential backoff after a lost election, randomized, capped. */
  #electionBackoffMs(retries: number): number {
    const slots = 2 ** Math.min(Math.max(retries, 1), 20);
    return Math.min(ELECTION_BACKOFF_BASE_MS * this.#random.int(1, slots + 1), this.config.electionBackoffMaxMs);
  }
}

function sameQuorumState(a: QuorumStateRecord, b: QuorumStateRecord): boolean {
  return a.epoch === b.epoch && a.votedId === b.votedId && a.leaderId === b.leaderId;
}

function sameSnapshotId(a: SnapshotId, b: SnapshotId): boolean {
  return a.endOffset === b.endOffset && a.epoch === b.epoch;
}

/** Whether `response` answers the fetch `inflight` (same log position), not an older one. */
function answersFetch(inflight: FetchPosition, response: FetchResponse): boolean {
  return inflight.fetchOffset === response.fetchOffset && inflight.lastFetchedEpoch === response.lastFetchedEpoch;
}
