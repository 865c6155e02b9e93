// The state of one partition on a broker that follows it (Kafka's replica
// fetcher for one partition): what to put in the next Fetch (fetch offset =
// own LEO, last fetched epoch, the leader epoch it expects), and what to do
// with the answer: append the records, truncate when the leader reports a
// diverging epoch (KIP-101/279: to min(leader's end offset, own end offset of
// that epoch), or to an intermediate point when this follower never had the
// leader's epoch), or stop and wait for metadata when fenced. The follower's
// HW = min(leader's HW, own LEO). The log is seen through `FollowerLogView`.
import { assert, type ErrorName } from '@raftka/common';
import { type EpochEndOffset, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET } from './fetch.js';

export interface FollowerLogView {
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  /** The epoch of the last batch in the log; -1 when empty. */
  readonly latestEpoch: number;
  endOffsetForEpoch(epoch: number): EpochEndOffset;
}

export interface FollowerFetchRequest {
  readonly replicaId: number;
  readonly currentLeaderEpoch: number;
  readonly fetchOffset: number;
  readonly lastFetchedEpoch: number;
}

export interface FollowerFetchResponse {
  readonly error: ErrorName;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  readonly divergingEpoch?: EpochEndOffset;
  /** Offset of the first returned batch, when there are records. */
  readonly firstOffset?: number;
}

export type FollowerDecision =
  /** Append the returned records (if any), then call `onAppended`. */
  | { readonly kind: 'append' }
  /** Truncate the log to `offset` (exclusive end), then fetch again. `complete` false: more rounds may follow. */
  | { readonly kind: 'truncate'; readonly offset: number; readonly complete: boolean }
  /** The leader's log starts after our LEO: drop the log and start empty at `offset`. */
  | { readonly kind: 'truncate-fully'; readonly offset: number }
  /** Stop fetching until new metadata names a leader and epoch (fenced, or we are ahead of the leader). */
  | { readonly kind: 'await-metadata'; readonly error: ErrorName }
  /** Back off and fetch again. */
  | { readonly kind: 'retry'; readonly error: ErrorName };

export class FollowerPartitionState {
  readonly localBrokerId: number;
  readonly leaderId: number;
  readonly leaderEpoch: number;
  private hw: number;

  constructor(config: { localBrokerId: number; leaderId: number; leaderEpoch: number; highWatermark: number }) {
    assert(config.leaderId !== config.localBrokerId, 'a follower does not follow itself');
    this.localBrokerId = config.localBrokerId;
    this.leaderId = config.leaderId;
    this.leaderEpoch = config.leaderEpoch;
    this.hw = config.highWatermark;
  }

  get highWatermark(): number {
    return this.hw;
  }

  buildFetch(log: FollowerLogView): FollowerFetchRequest {
    return {
      replicaId: this.localBrokerId,
      currentLeaderEpoch: this.leaderEpoch,
      fetchOffset: log.logEndOffset,
      lastFetchedEpoch: log.latestEpoch,
    };
  }

  handleFetchResponse(
    request: FollowerFetchRequest,
    response: FollowerFetchResponse,
    log: FollowerLogView,
  ): FollowerDecision {
    switch (response.error) {
      case 'NONE':
        break;
      case 'FENCED_LEADER_EPOCH':
        return { kind: 'await-metadata', error: response.error };
      // NOT_LEADER_OR_FOLLOWER is retried, as Kafka's fetcher does: the leader
      // may simply not have applied the metadata that made it leader yet.
      case 'OFFSET_OUT_OF_RANGE':
        // With leader epochs a follower is never ahead of its leader's LEO; only
        // a log start beyond our LEO (retention) puts us out of range.
        if (response.logStartOffset > log.logEndOffset)
          return { kind: 'truncate-fully', offset: response.logStartOffset };
        return { kind: 'retry', error: response.error };
      default:
        return { kind: 'retry', error: response.error };
    }
    if (response.divergingEpoch !== undefined) return this.truncationFor(response.divergingEpoch, log);
    if (response.firstOffset !== undefined && response.firstOffset !== request.fetchOffset) {
      return { kind: 'retry', error: 'CORRUPT_MESSAGE' };
    }
    return { kind: 'append' };
  }

  /** After the append: HW = min(leader's HW, own LEO); it never moves back. */
  onAppended(leaderHighWatermark: number, logEndOffset: number): number {
    const candidate = Math.min(leaderHighWatermark, logEndOffset);
    if (candidate > this.hw) this.hw = candidate;
    return this.hw;
  }

  /** After a truncation the HW cannot stay above the log end. */
  onTruncated(logEndOffset: number): number {
    if (this.hw > logEndOffset) this.hw = logEndOffset;
    return this.hw;
  }

  // Kafka's AbstractFetcherThread.getOffsetTruncationState.
  private truncationFor(leaderEnd: EpochEndOffset, log: FollowerLogView): FollowerDecision {
    const ownEnd = log.logEndOffset;
    if (leaderEnd.endOffset === UNDEFINED_EPOCH_OFFSET) {
      // The leader knows nothing of our epochs: keep only what was committed.
      return { kind: 'truncate', offset: Math.min(this.hw, ownEnd), complete: true };
    }
    if (leaderEnd.leaderEpoch === UNDEFINED_EPOCH) {
      return { kind: 'truncate', offset: Math.min(leaderEnd.endOffset, ownEnd), complete: true };
    }
    const mine = log.endOffsetForEpoch(leaderEnd.leaderEpoch);
    if (mine.leaderEpoch === UNDEFINED_EPOCH) {
      return { kind: 'truncate', offset: Math.min(leaderEnd.endOffset, ownEnd), complete: true };
    }
    if (mine.leaderEpoch !== leaderEnd.leaderEpoch) {
      // We never had the leader's epoch: cut back to the end of our largest
      // earlier epoch and ask again with that epoch (KIP-279).
      return { kind: 'truncate', offset: Math.min(mine.endOffset, ownEnd), complete: false };
    }
    return { kind: 'truncate', offset: Math.min(mine.endOffset, leaderEnd.endOffset, ownEnd), complete: true };
  }
}
