// Configuration of the Raft core. Names follow Kafka's `controller.quorum.*`
// settings with the unit last; defaults are Kafka's (see docs/raft.md). The
// core validates the config once at construction, so a bad value fails loudly
// at start instead of producing odd timing later.

import { assert } from '@raftka/common';
import type { NodeId } from './types.js';

export interface RaftConfig {
  nodeId: NodeId;
  /** Static voter set (controller.quorum.voters); a node not in it is an observer. */
  voters: NodeId[];
  /** controller.quorum.election.timeout.ms: a candidate's round lasts a random time in [T, 2T). */
  electionTimeoutMs: number;
  /** controller.quorum.election.backoff.max.ms: cap of the backoff after a lost election. */
  electionBackoffMaxMs: number;
  /** controller.quorum.fetch.timeout.ms: a voter without a successful fetch this long goes prospective. */
  fetchTimeoutMs: number;
  /** controller.quorum.request.timeout.ms: when an unanswered request is sent again. */
  requestTimeoutMs: number;
  /** Long poll: how long the leader may park a fetch that has nothing new. */
  fetchMaxWaitMs: number;
  /** Upper bound of the entries' payload bytes in one fetch response. */
  fetchMaxBytes: number;
  /** FetchSnapshot chunk size. */
  snapshotChunkBytes: number;
  /** controller.quorum.retry.backoff.ms: wait after an error response before retrying. Optional, default 20. */
  retryBackoffMs?: number;
  /**
   * Optional, default false. When true, a leader's Fetch/FetchSnapshot
   * responses come in `Ready.earlyMessages`, which the driver may send
   * before persisting the Ready, so a commit costs the leader's and a
   * follower's fsync in parallel instead of one after the other. Only turn it
   * on in a driver that sends `earlyMessages`.
   */
  leaderEarlyFetchResponses?: boolean;
}

export const DEFAULT_RAFT_CONFIG: Omit<RaftConfig, 'nodeId' | 'voters'> = {
  electionTimeoutMs: 1000,
  electionBackoffMaxMs: 1000,
  fetchTimeoutMs: 2000,
  requestTimeoutMs: 2000,
  fetchMaxWaitMs: 500,
  fetchMaxBytes: 8 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  retryBackoffMs: 20,
};

/** Exponential election backoff starts here (Kafka's RETRY_BACKOFF_BASE_MS). */
export const ELECTION_BACKOFF_BASE_MS = 100;

/** At most this many observers are tracked by a leader; the least recently seen is forgotten first. */
export const MAX_TRACKED_OBSERVERS = 1024;

export function validateConfig(config: RaftConfig): void {
  assert(
    Number.isInteger(config.nodeId) && config.nodeId >= 0,
    `nodeId must be a non-negative integer: ${config.nodeId}`,
  );
  assert(config.voters.length > 0, 'the voter set is empty');
  assert(new Set(config.voters).size === config.voters.length, `duplicate voters: ${config.voters.join(',')}`);
  for (const voter of config.voters) {
    assert(Number.isInteger(voter) && voter >= 0, `voter ids must be non-negative integers: ${voter}`);
  }
  const positive: (keyof RaftConfig)[] = [
    'electionTimeoutMs',
    'electionBackoffMaxMs',
    'fetchTimeoutMs',
    'requestTimeoutMs',
    'fetchMaxBytes',
    'snapshotChunkBytes',
  ];
  for (const key of positive) {
    const value = config[key];
    assert(typeof value === 'number' && Number.isFinite(value) && value > 0, `${key} must be positive: ${value}`);
  }
  assert(config.fetchMaxWaitMs >= 0, `fetchMaxWaitMs must not be negative: ${config.fetchMaxWaitMs}`);
  // A parked fetch must come back well before the follower gives up on its leader.
  assert(
    2 * config.fetchMaxWaitMs <= config.fetchTimeoutMs,
    `2 x fetchMaxWaitMs (${config.fetchMaxWaitMs}) must not exceed fetchTimeoutMs (${config.fetchTimeoutMs})`,
  );
  assert(
    config.retryBackoffMs === undefined || config.retryBackoffMs >= 0,
    `retryBackoffMs must not be negative: ${config.retryBackoffMs}`,
  );
}
