// Typed errors of the log store, on top of the shared Kafka error catalog.
import { RaftkaError } from '@raftka/common';

/**
 * A follower append whose first offset is not the log end offset, or whose
 * batches are not contiguous (Kafka's UnexpectedAppendOffsetException /
 * OffsetsOutOfOrderException). The replica fetcher should truncate or reset
 * its fetch position rather than retry the same bytes.
 */
export class UnexpectedAppendOffsetError extends RaftkaError {
  readonly expectedOffset: number;
  readonly actualOffset: number;

  constructor(message: string, expectedOffset: number, actualOffset: number) {
    super('OFFSET_OUT_OF_RANGE', message);
    this.expectedOffset = expectedOffset;
    this.actualOffset = actualOffset;
  }
}
