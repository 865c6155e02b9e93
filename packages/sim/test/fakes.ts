// Fake Raft cores for testing the simulator itself. `SoloCore` is a correct
// single-voter quorum (the voter is the leader; it commits what it synced),
// a positive control for the machinery. The `bugs` switch it into the kinds
// of broken node the invariant checkers exist to catch, so a test can prove
// that each checker can fail.

import type { LogEntry, NodeId, PersistedState, RaftConfig, RaftRole, Ready, Snapshot } from '@raftka/raft';
import type { RaftCore, RaftCoreFactory } from '../src/index.js';

export interface SoloBugs {
  /** Count entries as committed before they are synced (and never sync). */
  commitUnsynced?: boolean;
  /** Every voter declares itself leader of epoch 1 (a double vote). */
  everyoneLeads?: boolean;
  /** After a restart, go back to an older epoch. */
  epochGoesBack?: boolean;
  /** Hand the state machine an entry it already applied again. */
  reapply?: boolean;
  /** Never become leader (no liveness). */
  neverLeads?: boolean;
}

export class SoloCore implements RaftCore {
  role: RaftRole = 'unattached';
  epoch: number;
  leaderId: NodeId = -1;
  votedId: NodeId = -1;
  highWatermark: number;
  logStartOffset: number;
  readonly #nodeId: NodeId;
  readonly #bugs: SoloBugs;
  readonly #log: LogEntry[];
  #durableEnd: number;
  #appliedEnd: number;
  #pending: Ready = { entries: [], mustSync: false, messages: [], committed: [] };
  #pendingSet = false;

  constructor(config: RaftConfig, persisted: PersistedState, bugs: SoloBugs, nowMs: number) {
    this.#nodeId = config.nodeId;
    this.#bugs = bugs;
    this.logStartOffset = persisted.snapshot?.id.endOffset ?? 0;
    this.#log = persisted.entries.slice();
    this.#durableEnd = this.logEndOffset;
    this.highWatermark = this.logStartOffset;
    this.#appliedEnd = this.logStartOffset;
    this.epoch = persisted.quorumState.epoch;
    const isVoter = config.voters.includes(config.nodeId);
    const leads = isVoter && !bugs.neverLeads && (bugs.everyoneLeads || config.voters.length === 1);
    if (!leads) {
      this.role = isVoter ? 'unattached' : 'observer';
      return;
    }
    this.epoch = bugs.everyoneLeads ? 1 : bugs.epochGoesBack && this.epoch > 0 ? this.epoch - 1 : this.epoch + 1;
    this.role = 'leader';
    this.leaderId = config.nodeId;
    this.votedId = config.nodeId;
    this.#pending.quorumState = { epoch: this.epoch, votedId: config.nodeId, leaderId: config.nodeId };
    this.#append('leader-change', new Uint8Array([1]), nowMs);
  }

  get logEndOffset(): number {
    const last = this.#log[this.#log.length - 1];
    return last === undefined ? this.logStartOffset : last.offset + 1;
  }

  #append(kind: LogEntry['kind'], data: Uint8Array, nowMs: number): LogEntry {
    const entry: LogEntry = { offset: this.logEndOffset, epoch: this.epoch, kind, data, appendTimeMs: nowMs };
    this.#log.push(entry);
    this.#pending.entries.push(entry);
    this.#pending.mustSync = !this.#bugs.commitUnsynced;
    this.#pendingSet = true;
    if (this.#bugs.commitUnsynced) this.highWatermark = this.logEndOffset;
    return entry;
  }

  step(): void {}

  tick(): void {}

  nextDeadlineMs(): number {
    return Number.POSITIVE_INFINITY;
  }

  propose(records: Uint8Array[], nowMs: number): ReturnType<RaftCore['propose']> {
    if (this.role !== 'leader')
      return { ok: false, errorName: 'NOT_LEADER_OR_FOLLOWER', leaderId: -1, epoch: this.epoch };
    const first = this.logEndOffset;
    for (const record of records) this.#append('data', record, nowMs);
    return { ok: true, epoch: this.epoch, firstOffset: first, lastOffset: this.logEndOffset - 1 };
  }

  peerDisconnected(): void {}

  resign(): void {}

  snapshotTaken(snapshot: Snapshot): void {
    const end = snapshot.id.endOffset;
    const drop = this.#log.findIndex((e) => e.offset >= end);
    this.#log.splice(0, drop < 0 ? this.#log.length : drop);
    this.logStartOffset = end;
    this.#pending.deleteBefore = end;
    this.#pendingSet = true;
  }

  hasReady(): boolean {
    return this.#pendingSet || this.#appliedEnd < this.highWatermark;
  }

  ready(): Ready {
    const ready = this.#pending;
    const end = this.highWatermark;
    let from = this.#appliedEnd;
    if (this.#bugs.reapply && from > 5 && from < end) from--;
    ready.committed = this.#log.filter((e) => e.offset >= from && e.offset < end);
    this.#pending = { entries: [], mustSync: false, messages: [], committed: [] };
    this.#pendingSet = false;
    return ready;
  }

  advance(ready: Ready): void {
    const last = ready.entries[ready.entries.length - 1];
    if (last !== undefined) this.#durableEnd = last.offset + 1;
    const lastApplied = ready.committed[ready.committed.length - 1];
    if (lastApplied !== undefined) this.#appliedEnd = lastApplied.offset + 1;
    // A self-declared leader among several voters has no quorum, so it commits nothing.
    if (this.role === 'leader' && !this.#bugs.commitUnsynced && !this.#bugs.everyoneLeads) {
      this.highWatermark = this.#durableEnd;
    }
  }
}

export function soloCore(bugs: SoloBugs = {}): RaftCoreFactory {
  return (config, persisted, _random, nowMs) => new SoloCore(config, persisted, bugs, nowMs);
}
