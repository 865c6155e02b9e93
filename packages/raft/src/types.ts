// The contract between the sans-IO Raft core and whatever drives it (the
// controller process, the broker's metadata observer, the simulator).
//
// The core is a plain object. The driver feeds it events (a message arrived,
// time passed, a client proposed records, a peer's connection closed) and then
// drains `ready()`, which says what to persist, what to send and what to apply.
// The driver must make the `persist` part of a Ready durable *before* it sends
// that Ready's messages (a vote or a fetch offset is a promise about the disk),
// then calls `advance(ready)`. This is etcd/raft's Ready/Advance loop with
// KRaft's pull-based RPCs (KIP-595) instead of AppendEntries.

/** A controller (voter) or broker (observer) id, Kafka's `node.id`. */
export type NodeId = number;

export interface OffsetAndEpoch {
  offset: number;
  epoch: number;
}

/**
 * `data` entries carry state-machine records. `leader-change` is the control
 * record a new leader appends at the start of its epoch (committing it commits
 * everything before it). `voters` records the voter set, so dynamic membership
 * can come later without a format change.
 */
export type EntryKind = 'data' | 'leader-change' | 'voters';

export interface LogEntry {
  offset: number;
  epoch: number;
  kind: EntryKind;
  data: Uint8Array;
  /** Leader's clock when it appended the entry; used for commit latency. */
  appendTimeMs: number;
}

/** Persisted election state: KRaft's `quorum-state` file. */
export interface QuorumStateRecord {
  epoch: number;
  /** Who this node voted for in `epoch`, or -1. */
  votedId: NodeId;
  /** The leader this node knows for `epoch`, or -1. */
  leaderId: NodeId;
}

export interface SnapshotId {
  /** Offset of the first entry *not* in the snapshot. */
  endOffset: number;
  /** Epoch of the last entry in the snapshot. */
  epoch: number;
}

export interface Snapshot {
  id: SnapshotId;
  data: Uint8Array;
}

// --- Messages -------------------------------------------------------------
// Every message names its sender and receiver. Requests and responses travel
// as separate messages; a response carries what the requester needs to match
// it without a correlation table (the driver may still use one on the wire).

export interface VoteRequest {
  type: 'VoteRequest';
  from: NodeId;
  to: NodeId;
  candidateEpoch: number;
  lastOffsetEpoch: number;
  /** Log end offset of the candidate. */
  lastOffset: number;
  /** KIP-996: ask without bumping or persisting anyone's epoch. */
  preVote: boolean;
}

export interface VoteResponse {
  type: 'VoteResponse';
  from: NodeId;
  to: NodeId;
  /** Responder's current epoch. */
  epoch: number;
  /** The epoch the vote was asked for (candidateEpoch of the request). */
  candidateEpoch: number;
  voteGranted: boolean;
  preVote: boolean;
  /** Leader the responder knows in `epoch`, or -1. */
  leaderId: NodeId;
}

export interface BeginQuorumEpochRequest {
  type: 'BeginQuorumEpochRequest';
  from: NodeId;
  to: NodeId;
  leaderEpoch: number;
}

export interface BeginQuorumEpochResponse {
  type: 'BeginQuorumEpochResponse';
  from: NodeId;
  to: NodeId;
  epoch: number;
  leaderId: NodeId;
}

export interface EndQuorumEpochRequest {
  type: 'EndQuorumEpochRequest';
  from: NodeId;
  to: NodeId;
  leaderEpoch: number;
  /** Voters ordered by how far their logs reach, best first. */
  preferredSuccessors: NodeId[];
}

export interface EndQuorumEpochResponse {
  type: 'EndQuorumEpochResponse';
  from: NodeId;
  to: NodeId;
  epoch: number;
  leaderId: NodeId;
}

export interface FetchRequest {
  type: 'FetchRequest';
  from: NodeId;
  to: NodeId;
  /** The epoch the fetcher believes is current (fencing, as KIP-320). */
  currentLeaderEpoch: number;
  fetchOffset: number;
  /** Epoch of the entry just before fetchOffset, or 0 at the log start. */
  lastFetchedEpoch: number;
  maxBytes: number;
  /** Long poll: the leader may hold the request this long waiting for data. */
  maxWaitMs: number;
}

export interface FetchResponse {
  type: 'FetchResponse';
  from: NodeId;
  to: NodeId;
  /** NONE, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER ... */
  errorCode: number;
  epoch: number;
  leaderId: NodeId;
  /** Echo of the request, so a stale response can be recognised. */
  fetchOffset: number;
  /** Echo of the request too: offset and epoch together identify the request. */
  lastFetchedEpoch: number;
  highWatermark: number;
  logStartOffset: number;
  entries: LogEntry[];
  /** Set when the fetcher's log diverged: truncate to this and fetch again. */
  divergingEpoch?: { epoch: number; endOffset: number };
  /** Set when fetchOffset is below the log start: fetch this snapshot. */
  snapshotId?: SnapshotId;
}

export interface FetchSnapshotRequest {
  type: 'FetchSnapshotRequest';
  from: NodeId;
  to: NodeId;
  currentLeaderEpoch: number;
  snapshotId: SnapshotId;
  position: number;
  maxBytes: number;
}

export interface FetchSnapshotResponse {
  type: 'FetchSnapshotResponse';
  from: NodeId;
  to: NodeId;
  errorCode: number;
  epoch: number;
  leaderId: NodeId;
  snapshotId: SnapshotId;
  position: number;
  /** Total size of the snapshot in bytes. */
  size: number;
  chunk: Uint8Array;
}

export type RaftMessage =
  | VoteRequest
  | VoteResponse
  | BeginQuorumEpochRequest
  | BeginQuorumEpochResponse
  | EndQuorumEpochRequest
  | EndQuorumEpochResponse
  | FetchRequest
  | FetchResponse
  | FetchSnapshotRequest
  | FetchSnapshotResponse;

// --- Ready ----------------------------------------------------------------

/**
 * What the driver must do after an event, in this order:
 *
 * 1. Persist `quorumState`, then `truncateFrom`, `snapshot`, `deleteBefore`
 *    and `entries` (fsync when `mustSync`).
 * 2. Only then send `messages`. Durable before visible: a vote, a new epoch,
 *    or a fetch offset (which tells the leader the entries below it are on
 *    disk) must never reach another node before it is on this node's disk.
 * 3. Apply `installSnapshot`, then `committed`, to the state machine.
 * 4. Call `advance(ready)`. The leader counts its own log toward the high
 *    watermark only up to the entries of advanced Readys.
 *
 * `hasReady()` is false while a Ready is handed out and not yet advanced, so
 * Readys are processed one at a time, in order. Events (`step`, `tick`, ...)
 * may still arrive in between; their effects come in the next Ready.
 * After a restart, the first Ready hands a recovered snapshot to the state
 * machine in `installSnapshot` (not in `snapshot`, which is already durable).
 * Entries and snapshots are shared with the core's memory: read them, never
 * mutate them.
 */
export interface Ready {
  /** Persist first: new election state (epoch, vote, leader). */
  quorumState?: QuorumStateRecord;
  /** Then: delete every log entry with offset >= truncateFrom (divergence). */
  truncateFrom?: number;
  /** Then: a snapshot fetched from the leader, replacing the whole log. */
  snapshot?: Snapshot;
  /** Then: delete entries below this offset (log start moved by a snapshot). */
  deleteBefore?: number;
  /** Then: append these entries (offsets are dense and continue the log). */
  entries: LogEntry[];
  /** Whether the driver must fsync before sending `messages`. */
  mustSync: boolean;
  /** Send after the persist part above is durable. */
  messages: RaftMessage[];
  /**
   * Only with `RaftConfig.leaderEarlyFetchResponses`: a leader's fetch
   * answers, which may be sent before (or while) the persist part is written.
   */
  earlyMessages?: RaftMessage[];
  /** Load into the state machine before applying `committed`. */
  installSnapshot?: Snapshot;
  /** Newly committed entries (below the high watermark), in order. */
  committed: LogEntry[];
}

/** What a node recovers from its storage at start. */
export interface PersistedState {
  quorumState: QuorumStateRecord;
  snapshot?: Snapshot;
  /** Entries after the snapshot (or from offset 0), dense and in order. */
  entries: LogEntry[];
}

export type RaftRole = 'unattached' | 'follower' | 'prospective' | 'candidate' | 'leader' | 'resigned' | 'observer';
