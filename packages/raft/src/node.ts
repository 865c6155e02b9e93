// Skeleton of the Raft node (being filled in).
import type { Random } from '@raftka/common';
import type { RaftConfig } from './config.js';
import type { NodeId, PersistedState, RaftMessage, RaftRole, Ready, Snapshot } from './types.js';

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

export class RaftNode {
  readonly config: RaftConfig;
  constructor(config: RaftConfig, _persisted: PersistedState, _random: Random, _nowMs: number) {
    this.config = config;
  }
  step(_message: RaftMessage, _nowMs: number): void {}
  tick(_nowMs: number): void {}
  nextDeadlineMs(): number {
    return Number.POSITIVE_INFINITY;
  }
  propose(_records: Uint8Array[], _nowMs: number): ProposeResult {
    return { ok: false, errorName: 'NOT_LEADER_OR_FOLLOWER', leaderId: -1, epoch: 0 };
  }
  peerDisconnected(_peer: NodeId, _nowMs: number): void {}
  resign(_nowMs: number): void {}
  snapshotTaken(_snapshot: Snapshot): void {}
  hasReady(): boolean {
    return false;
  }
  ready(): Ready {
    return { entries: [], mustSync: false, messages: [], committed: [] };
  }
  advance(_ready: Ready, _nowMs: number): void {}
  describeQuorum(_nowMs: number): QuorumDescription {
    return { leaderId: -1, epoch: 0, highWatermark: 0, voters: [], observers: [] };
  }
  get role(): RaftRole {
    return 'unattached';
  }
  get epoch(): number {
    return 0;
  }
  get leaderId(): NodeId {
    return -1;
  }
  get highWatermark(): number {
    return 0;
  }
  get logEndOffset(): number {
    return 0;
  }
  get logStartOffset(): number {
    return 0;
  }
  get votedId(): NodeId {
    return -1;
  }
}
