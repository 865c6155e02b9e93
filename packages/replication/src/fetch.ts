// How a partition leader judges one partition of a Fetch request before it
// reads its log (Kafka's Partition.fetchRecords): the current leader epoch
// fences stale or early requesters (KIP-320), a follower's last fetched epoch
// is checked against the leader's epoch cache and answered with a diverging
// epoch when the logs part ways (KIP-101/279, carried on Fetch since IBP 2.7),
// the offset must lie in [logStart, LEO], and consumers read only up to the
// high watermark. Pure: the log is seen through `LeaderLogView`.
import type { ErrorName } from '@raftka/common';

/** An answer of OffsetsForLeaderEpoch: `{ -1, -1 }` when unknown. */
export interface EpochEndOffset {
  readonly leaderEpoch: number;
  readonly endOffset: number;
}

export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;
/** The replica id a consumer puts in a Fetch. */
export const CONSUMER_REPLICA_ID = -1;

export interface FetchPartitionRequest {
  /** A broker id for a follower, CONSUMER_REPLICA_ID (-1) for a consumer. */
  readonly replicaId: number;
  readonly fetchOffset: number;
  /** -1 when the client does not know it (old clients): no fencing. */
  readonly currentLeaderEpoch: number;
  /** The epoch of the last batch the follower holds; -1 skips the divergence check. */
  readonly lastFetchedEpoch: number;
}

export interface LeaderLogView {
  readonly leaderEpoch: number;
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  readonly highWatermark: number;
  /** The partition log's `endOffsetForEpoch` (Kafka's LeaderEpochFileCache.endOffsetFor). */
  endOffsetForEpoch(epoch: number): EpochEndOffset;
}

export type FetchDecision =
  | { readonly kind: 'error'; readonly error: ErrorName }
  | { readonly kind: 'diverging'; readonly divergingEpoch: EpochEndOffset }
  /** Read from fetchOffset, returning nothing at or above maxOffset (exclusive). */
  | { readonly kind: 'read'; readonly fetchOffset: number; readonly maxOffset: number };

/** Kafka's fencing rule for any request that names the leader epoch it expects. */
export function checkCurrentLeaderEpoch(requestEpoch: number, leaderEpoch: number): ErrorName {
  if (requestEpoch === UNDEFINED_EPOCH) return 'NONE';
  if (requestEpoch < leaderEpoch) return 'FENCED_LEADER_EPOCH';
  if (requestEpoch > leaderEpoch) return 'UNKNOWN_LEADER_EPOCH';
  return 'NONE';
}

export function validateLeaderFetch(request: FetchPartitionRequest, log: LeaderLogView): FetchDecision {
  const fence = checkCurrentLeaderEpoch(request.currentLeaderEpoch, log.leaderEpoch);
  if (fence !== 'NONE') return { kind: 'error', error: fence };
  const isFollower = request.replicaId >= 0;
  if (request.lastFetchedEpoch !== UNDEFINED_EPOCH) {
    const end = log.endOffsetForEpoch(request.lastFetchedEpoch);
    // The follower's epoch ended earlier here, or we never had it: tell the
    // follower where our log for (the largest epoch <= its epoch) ends.
    if (end.leaderEpoch < request.lastFetchedEpoch || end.endOffset < request.fetchOffset) {
      return { kind: 'diverging', divergingEpoch: end };
    }
  }
  if (request.fetchOffset < log.logStartOffset || request.fetchOffset > log.logEndOffset) {
    return { kind: 'error', error: 'OFFSET_OUT_OF_RANGE' };
  }
  return {
    kind: 'read',
    fetchOffset: request.fetchOffset,
    maxOffset: isFollower ? log.logEndOffset : log.highWatermark,
  };
}
