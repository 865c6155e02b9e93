import { describe, expect, it } from 'vitest';
import {
  type EpochEndOffset,
  type FollowerLogView,
  FollowerPartitionState,
  LeaderPartitionState,
  validateLeaderFetch,
} from '../src/index.js';

// An epoch cache as the partition log keeps it: [epoch, startOffset] ascending, answering like Kafka's endOffsetFor.
function epochCache(entries: [number, number][], logEndOffset: number): (epoch: number) => EpochEndOffset {
  return (epoch) => {
    if (epoch === -1 || entries.length === 0) return { leaderEpoch: -1, endOffset: -1 };
    const latest = entries[entries.length - 1]!;
    if (epoch === latest[0]) return { leaderEpoch: epoch, endOffset: logEndOffset };
    if (epoch > latest[0]) return { leaderEpoch: -1, endOffset: -1 };
    if (epoch < entries[0]![0]) return { leaderEpoch: epoch, endOffset: entries[0]![1] };
    let i = entries.length - 1;
    while (entries[i]![0] > epoch) i -= 1;
    return { leaderEpoch: entries[i]![0], endOffset: entries[i + 1]![1] };
  };
}

const leaderLog = {
  leaderEpoch: 5,
  logStartOffset: 10,
  logEndOffset: 100,
  highWatermark: 80,
  endOffsetForEpoch: epochCache(
    [
      [1, 0],
      [3, 40],
      [5, 90],
    ],
    100,
  ),
};

describe('validateLeaderFetch', () => {
  const req = { replicaId: 2, fetchOffset: 95, currentLeaderEpoch: 5, lastFetchedEpoch: 5 };

  it('fences an older leader epoch (74) and answers a newer one with UNKNOWN_LEADER_EPOCH (75)', () => {
    expect(validateLeaderFetch({ ...req, currentLeaderEpoch: 4 }, leaderLog)).toEqual({
      kind: 'error',
      error: 'FENCED_LEADER_EPOCH',
    });
    expect(validateLeaderFetch({ ...req, currentLeaderEpoch: 6 }, leaderLog)).toEqual({
      kind: 'error',
      error: 'UNKNOWN_LEADER_EPOCH',
    });
    expect(validateLeaderFetch({ ...req, currentLeaderEpoch: -1 }, leaderLog).kind).toBe('read');
  });

  it('answers a diverging epoch when the follower epoch ended earlier here (KIP-279)', () => {
    // Follower has epoch 2 up to 60; the leader never had epoch 2: largest <= 2 is 1, ending at 40.
    expect(validateLeaderFetch({ ...req, fetchOffset: 60, lastFetchedEpoch: 2 }, leaderLog)).toEqual({
      kind: 'diverging',
      divergingEpoch: { leaderEpoch: 1, endOffset: 40 },
    });
    // Follower has epoch 3 beyond where the leader's epoch 3 ended (90).
    expect(validateLeaderFetch({ ...req, fetchOffset: 92, lastFetchedEpoch: 3 }, leaderLog)).toEqual({
      kind: 'diverging',
      divergingEpoch: { leaderEpoch: 3, endOffset: 90 },
    });
    expect(validateLeaderFetch({ ...req, fetchOffset: 90, lastFetchedEpoch: 3 }, leaderLog).kind).toBe('read');
  });

  it('bounds followers by the LEO and consumers by the HW; OFFSET_OUT_OF_RANGE outside [logStart, LEO]', () => {
    expect(validateLeaderFetch(req, leaderLog)).toEqual({ kind: 'read', fetchOffset: 95, maxOffset: 100 });
    const consumer = { replicaId: -1, fetchOffset: 50, currentLeaderEpoch: 5, lastFetchedEpoch: -1 };
    expect(validateLeaderFetch(consumer, leaderLog)).toEqual({ kind: 'read', fetchOffset: 50, maxOffset: 80 });
    expect(validateLeaderFetch({ ...consumer, fetchOffset: 9 }, leaderLog)).toEqual({
      kind: 'error',
      error: 'OFFSET_OUT_OF_RANGE',
    });
    expect(validateLeaderFetch({ ...consumer, fetchOffset: 101 }, leaderLog).kind).toBe('error');
    expect(validateLeaderFetch({ ...consumer, fetchOffset: 100 }, leaderLog).kind).toBe('read');
  });

  it('refuses a fetch from a broker outside the replica set, through the leader state', () => {
    const l = new LeaderPartitionState({
      localBrokerId: 1,
      replicas: [1, 2],
      isr: [1, 2],
      leaderEpoch: 5,
      partitionEpoch: 1,
      minInsyncReplicas: 1,
      leaderEpochStartOffset: 100,
      highWatermark: 80,
      nowMs: 0,
    });
    const log = { logStartOffset: 10, endOffsetForEpoch: leaderLog.endOffsetForEpoch };
    expect(l.validateFetch({ ...req, replicaId: 9 }, log)).toEqual({ kind: 'error', error: 'NOT_LEADER_OR_FOLLOWER' });
    expect(l.validateFetch(req, log)).toEqual({ kind: 'read', fetchOffset: 95, maxOffset: 100 });
  });
});

function followerLog(entries: [number, number][], logEndOffset: number): FollowerLogView {
  return {
    logStartOffset: 0,
    logEndOffset,
    latestEpoch: entries.length === 0 ? -1 : entries[entries.length - 1]![0],
    endOffsetForEpoch: epochCache(entries, logEndOffset),
  };
}

describe('FollowerPartitionState', () => {
  const f = () => new FollowerPartitionState({ localBrokerId: 2, leaderId: 1, leaderEpoch: 5, highWatermark: 30 });
  const ok = { error: 'NONE' as const, highWatermark: 80, logStartOffset: 0 };

  it('fetches from its LEO with its last epoch and the leader epoch it expects', () => {
    expect(f().buildFetch(followerLog([[3, 0]], 60))).toEqual({
      replicaId: 2,
      currentLeaderEpoch: 5,
      fetchOffset: 60,
      lastFetchedEpoch: 3,
    });
  });

  it('appends, and sets HW = min(leader HW, own LEO)', () => {
    const s = f();
    const log = followerLog([[3, 0]], 60);
    expect(s.handleFetchResponse(s.buildFetch(log), { ...ok, firstOffset: 60 }, log)).toEqual({ kind: 'append' });
    expect(s.onAppended(80, 70)).toBe(70);
    expect(s.onAppended(75, 90)).toBe(75);
    expect(s.onAppended(20, 90)).toBe(75);
  });

  it('truncates to min(leader end offset, own end of that epoch)', () => {
    const s = f();
    const log = followerLog(
      [
        [1, 0],
        [3, 40],
      ],
      95,
    );
    const d = s.handleFetchResponse(
      s.buildFetch(log),
      { ...ok, divergingEpoch: { leaderEpoch: 3, endOffset: 90 } },
      log,
    );
    expect(d).toEqual({ kind: 'truncate', offset: 90, complete: true });
  });

  it('truncates to its own end of an earlier epoch when it never had the leader epoch, then asks again', () => {
    const s = f();
    // Follower has epochs 0 and 2, never 1; the leader says its epoch 1 ends at 40. Our largest epoch <= 1 is 0, ending at 30.
    const log = followerLog(
      [
        [0, 0],
        [2, 30],
      ],
      60,
    );
    const d = s.handleFetchResponse(
      s.buildFetch(log),
      { ...ok, divergingEpoch: { leaderEpoch: 1, endOffset: 40 } },
      log,
    );
    expect(d).toEqual({ kind: 'truncate', offset: 30, complete: false });
  });

  it('truncates to its HW when the leader knows nothing of the epoch', () => {
    const s = f();
    const log = followerLog([[2, 0]], 60);
    const d = s.handleFetchResponse(
      s.buildFetch(log),
      { ...ok, divergingEpoch: { leaderEpoch: -1, endOffset: -1 } },
      log,
    );
    expect(d).toEqual({ kind: 'truncate', offset: 30, complete: true });
    expect(s.onTruncated(20)).toBe(20);
  });

  it('waits for metadata when fenced, retries UNKNOWN_LEADER_EPOCH, restarts past the leader log start', () => {
    const s = f();
    const log = followerLog([[2, 0]], 60);
    const r = s.buildFetch(log);
    expect(s.handleFetchResponse(r, { ...ok, error: 'FENCED_LEADER_EPOCH' }, log).kind).toBe('await-metadata');
    expect(s.handleFetchResponse(r, { ...ok, error: 'UNKNOWN_LEADER_EPOCH' }, log).kind).toBe('retry');
    expect(s.handleFetchResponse(r, { ...ok, error: 'OFFSET_OUT_OF_RANGE', logStartOffset: 70 }, log)).toEqual({
      kind: 'truncate-fully',
      offset: 70,
    });
  });
});
