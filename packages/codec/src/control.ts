// Control batches: the transaction markers (COMMIT / ABORT) that only the
// broker writes into a partition when a transaction ends (Kafka's
// EndTransactionMarker, ControlRecordType). A control batch has the control
// and transactional attribute bits, the producer's id and epoch, and exactly
// one record: key = [version int16 = 0, type int16], value = [version int16 =
// 0, coordinatorEpoch int32]. Clients never send them (produce validation
// refuses them); consumers skip them.
import { RaftkaError } from '@raftka/common';
import type { DecodedRecord } from './record-batch.js';
import { encodeBatch } from './record-batch.js';

export const ControlRecordType = {
  abort: 0,
  commit: 1,
} as const;
export type ControlRecordType = (typeof ControlRecordType)[keyof typeof ControlRecordType];

export interface EndTransactionMarker {
  type: ControlRecordType;
  coordinatorEpoch: number;
}

export interface ControlBatchInput extends EndTransactionMarker {
  producerId: number;
  producerEpoch: number;
  /** Broker time of the marker (ms). */
  timestamp: number;
  baseOffset?: number;
  partitionLeaderEpoch?: number;
}

/** Encodes the one-record control batch that ends a transaction. */
export function encodeEndTransactionMarker(input: ControlBatchInput): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(input.type, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(0, 0);
  value.writeInt32BE(input.coordinatorEpoch, 2);
  return encodeBatch({
    records: [{ key, value, timestamp: input.timestamp }],
    control: true,
    transactional: true,
    producerId: input.producerId,
    producerEpoch: input.producerEpoch,
    baseSequence: -1,
    baseOffset: input.baseOffset ?? 0,
    partitionLeaderEpoch: input.partitionLeaderEpoch ?? -1,
  });
}

/** Reads the marker from the record of a control batch. */
export function readEndTransactionMarker(record: DecodedRecord): EndTransactionMarker {
  const { key, value } = record;
  if (key === null || key.length < 4) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `control record at offset ${record.offset} has a key of ${key?.length ?? 'null'} bytes, needs 4`,
    );
  }
  const keyVersion = key.readInt16BE(0);
  const type = key.readInt16BE(2);
  if (keyVersion !== 0 || (type !== ControlRecordType.abort && type !== ControlRecordType.commit)) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `control record at offset ${record.offset} has key version ${keyVersion}, type ${type}; known: version 0, type 0 (abort) or 1 (commit)`,
    );
  }
  if (value === null || value.length < 6) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `transaction marker at offset ${record.offset} has a value of ${value?.length ?? 'null'} bytes, needs 6`,
    );
  }
  return { type, coordinatorEpoch: value.readInt32BE(2) };
}
