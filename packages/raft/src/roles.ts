// The election roles of a Raft node and the only transitions allowed between
// them, in the manner of Kafka's QuorumState. Each role is a plain record with
// the timers and tallies that belong to it, so a field that only makes sense
// for a candidate cannot be read while following. Every change of role goes
// through `assertTransition`, which names both states when a transition is not
// in the table: such a transition is a bug in the core, never a condition of
// the world.

import { assert } from '@raftka/common';
import type { NodeId, SnapshotId } from './types.js';

export type RoleKind = 'unattached' | 'follower' | 'prospective' | 'candidate' | 'leader' | 'resigned';

/** Which roles may follow which. Observers use only `unattached` and `follower`. */
export const ROLE_TRANSITIONS: Readonly<Record<RoleKind, readonly RoleKind[]>> = {
  // Waits for an election or a leader; a voter times out into pre-vote.
  unattached: ['unattached', 'follower', 'prospective'],
  // Fetches from a known leader; on fetch timeout or a dead leader, pre-vote.
  follower: ['unattached', 'follower', 'prospective'],
  // Pre-vote (KIP-996): asks without bumping its epoch; a new round is a self-transition.
  prospective: ['unattached', 'follower', 'prospective', 'candidate'],
  // Real election in a bumped, persisted epoch; a lost round backs off into pre-vote.
  candidate: ['unattached', 'follower', 'prospective', 'leader'],
  // Serves fetches; resigns on resign() or a failed check-quorum.
  leader: ['unattached', 'follower', 'resigned'],
  // A former leader of this epoch waiting for a successor.
  resigned: ['unattached', 'follower', 'prospective'],
};

const OBSERVER_ROLES: readonly RoleKind[] = ['unattached', 'follower'];

export function assertTransition(from: RoleKind, to: RoleKind, isObserver: boolean): void {
  assert(ROLE_TRANSITIONS[from].includes(to), `illegal Raft role transition ${from} -> ${to}`);
  assert(!isObserver || OBSERVER_ROLES.includes(to), `illegal Raft role transition ${from} -> ${to} for an observer`);
}

/** A FetchSnapshot download in progress, kept in memory until complete. */
export interface SnapshotDownload {
  id: SnapshotId;
  /** Total size announced by the leader, -1 before the first chunk. */
  size: number;
  chunks: Uint8Array[];
  position: number;
}

/** An outstanding request to the leader (Fetch or FetchSnapshot). */
/** The log position a fetch asks from; its response must echo both fields. */
export interface FetchPosition {
  fetchOffset: number;
  lastFetchedEpoch: number;
}

export interface InflightFetch extends FetchPosition {
  kind: 'fetch' | 'snapshot';
  to: NodeId;
  position: number;
  sentAtMs: number;
}

export interface UnattachedState {
  kind: 'unattached';
  /** Vote cast in this epoch, or -1. */
  votedId: NodeId;
  /** Voters: when to start a pre-vote. Observers: when to probe the next voter. */
  deadlineMs: number;
  /** Observers: the voter probed last (index into voters) and the request in flight. */
  probeIndex: number;
  inflight: InflightFetch | undefined;
}

export interface FollowerState {
  kind: 'follower';
  leaderId: NodeId;
  /** Vote cast in this epoch before the leader became known, or -1. */
  votedId: NodeId;
  /** Time of the last successful fetch response (or of learning the leader). */
  lastFetchOkMs: number;
  /** When the fetch timeout fires; EndQuorumEpoch may pull it earlier. */
  fetchDeadlineMs: number;
  /** The leader announced it is resigning (EndQuorumEpoch), so it no longer counts as live. */
  leaderResigned: boolean;
  inflight: InflightFetch | undefined;
  /** Earliest time of the next fetch (retry backoff after an error). */
  nextFetchAtMs: number;
  download: SnapshotDownload | undefined;
}

export interface ProspectiveState {
  kind: 'prospective';
  /** Vote cast in this epoch (kept from the previous role), or -1. */
  votedId: NodeId;
  /** Leader of this epoch known before, or -1; kept for the quorum-state record. */
  leaderId: NodeId;
  /** Lost rounds so far; drives the exponential backoff. */
  retries: number;
  /** 'waiting' until roundStartMs, then 'voting' until deadlineMs. */
  phase: 'waiting' | 'voting';
  roundStartMs: number;
  deadlineMs: number;
  granted: Set<NodeId>;
  rejected: Set<NodeId>;
}

export interface CandidateState {
  kind: 'candidate';
  retries: number;
  deadlineMs: number;
  granted: Set<NodeId>;
  rejected: Set<NodeId>;
}

export interface ReplicaProgress {
  nodeId: NodeId;
  /** Log end offset the replica last reported (its fetch offset); -1 if unknown. */
  logEndOffset: number;
  lastFetchTimeMs: number;
  lastCaughtUpTimeMs: number;
  /** Leader's LEO when this replica last fetched, for the caught-up rule. */
  leaderEndOffsetAtLastFetch: number;
  /** HW last sent to this replica, to wake a parked fetch when it moves. */
  lastSentHighWatermark: number;
}

export interface ParkedFetch extends FetchPosition {
  from: NodeId;
  maxBytes: number;
  deadlineMs: number;
}

export interface LeaderState {
  kind: 'leader';
  /** Offset of this epoch's leader-change entry: the HW may move only past it. */
  epochStartOffset: number;
  voters: Map<NodeId, ReplicaProgress>;
  observers: Map<NodeId, ReplicaProgress>;
  /** Voters that have not acknowledged BeginQuorumEpoch, with the time of the next send. */
  beginQuorumPending: Map<NodeId, number>;
  /** Voters (other than this one) that fetched since the check-quorum timer was last reset. */
  fetchedSinceCheck: Set<NodeId>;
  checkQuorumDeadlineMs: number;
  /** At most one parked fetch per replica. */
  parked: Map<NodeId, ParkedFetch>;
}

export interface ResignedState {
  kind: 'resigned';
  preferredSuccessors: NodeId[];
  /** Voters that have not acknowledged EndQuorumEpoch, with the time of the next send. */
  endQuorumPending: Map<NodeId, number>;
  /** After this, with no successor heard of, start a pre-vote ourselves. */
  deadlineMs: number;
}

export type RoleState =
  | UnattachedState
  | FollowerState
  | ProspectiveState
  | CandidateState
  | LeaderState
  | ResignedState;
