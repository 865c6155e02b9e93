import { isRaftkaError } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import {
  type BatchInput,
  CompressionCodec,
  computeBatchCrc,
  encodeBatch,
  Offsets,
  validateProducedBatch,
  validateProducedRecords,
  writeVarint,
} from '../src/index.js';

const T0 = 1_700_000_000_000;
const opts = { maxMessageBytes: 1024 * 1024 };

function batch(overrides: Partial<BatchInput> = {}): Buffer {
  return encodeBatch({
    records: [
      { key: Buffer.from('k'), value: Buffer.from('v'), timestamp: T0 },
      { key: null, value: Buffer.from('w'), timestamp: T0 + 1, headers: [{ key: 'h', value: null }] },
    ],
    ...overrides,
  });
}

/** Rewrites the CRC after a deliberate edit, so that only the edited rule fails. */
function recrc(buf: Buffer): Buffer {
  buf.writeUInt32BE(computeBatchCrc(buf), Offsets.crc);
  return buf;
}

function errorOf(fn: () => unknown): { name: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isRaftkaError(err)) return { name: err.errorName, message: err.message };
    throw err;
  }
  throw new Error('expected a RaftkaError, got none');
}

describe('validateProducedBatch', () => {
  it('accepts a good batch and returns its header and record count', () => {
    const b = batch({ producerId: 5, producerEpoch: 0, baseSequence: 0, compression: CompressionCodec.none });
    const v = validateProducedBatch(b, opts);
    expect(v.recordCount).toBe(2);
    expect(v.header.producerId).toBe(5);
    expect(v.compression).toBe(CompressionCodec.none);
    expect(v.bytes.equals(b)).toBe(true);
  });

  it('INVALID_RECORD when no complete batch is present', () => {
    const b = batch();
    expect(errorOf(() => validateProducedBatch(b.subarray(0, 5), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: expect.stringMatching(/5 bytes at byte 0, fewer than the 12/),
    });
    expect(errorOf(() => validateProducedBatch(b.subarray(0, b.length - 1), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: expect.stringContaining(`size ${b.length}) but only ${b.length - 1} bytes`),
    });
  });

  it('CORRUPT_MESSAGE for a batchLength below any format minimum or below the v2 header', () => {
    const b = batch();
    b.writeInt32BE(3, Offsets.batchLength);
    expect(errorOf(() => validateProducedBatch(b, opts))).toMatchObject({
      name: 'CORRUPT_MESSAGE',
      message: expect.stringContaining('batchLength 3, below the minimum of 14'),
    });
    const short = Buffer.from(batch().subarray(0, 40));
    short.writeInt32BE(28, Offsets.batchLength);
    expect(errorOf(() => validateProducedBatch(short, opts))).toMatchObject({
      name: 'CORRUPT_MESSAGE',
      message: expect.stringContaining('40 bytes, smaller than the 61-byte v2 header'),
    });
  });

  it('INVALID_RECORD for legacy magic 0/1, CORRUPT_MESSAGE for unknown magic', () => {
    for (const magic of [0, 1]) {
      const b = batch();
      b.writeInt8(magic, Offsets.magic);
      expect(errorOf(() => validateProducedBatch(b, opts))).toMatchObject({
        name: 'INVALID_RECORD',
        message: expect.stringContaining(`magic ${magic}`),
      });
    }
    for (const magic of [3, -1]) {
      const b = batch();
      b.writeInt8(magic, Offsets.magic);
      expect(errorOf(() => validateProducedBatch(b, opts))).toMatchObject({
        name: 'CORRUPT_MESSAGE',
        message: expect.stringContaining(`magic ${magic}`),
      });
    }
  });

  it('INVALID_RECORD for two batches where Kafka allows one; several accepted when asked', () => {
    const two = Buffer.concat([batch(), batch()]);
    expect(errorOf(() => validateProducedBatch(two, opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: expect.stringContaining('more than one record batch'),
    });
    expect(validateProducedRecords(two, { ...opts, singleBatch: false }).map((v) => v.recordCount)).toEqual([2, 2]);
    const trailing = Buffer.concat([batch(), Buffer.from([1, 2, 3])]);
    expect(errorOf(() => validateProducedBatch(trailing, opts))).toMatchObject({
      name: 'CORRUPT_MESSAGE',
      message: expect.stringContaining('3 bytes after the record batch'),
    });
    expect(errorOf(() => validateProducedRecords(trailing, { ...opts, singleBatch: false }))).toMatchObject({
      name: 'CORRUPT_MESSAGE',
    });
  });

  it('INVALID_RECORD for a baseOffset other than 0', () => {
    expect(errorOf(() => validateProducedBatch(batch({ baseOffset: 17 }), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: expect.stringContaining('should be 0, but it is 17'),
    });
  });

  it('MESSAGE_TOO_LARGE above max.message.bytes, with both numbers', () => {
    const b = batch();
    expect(validateProducedBatch(b, { maxMessageBytes: b.length }).recordCount).toBe(2);
    expect(errorOf(() => validateProducedBatch(b, { maxMessageBytes: b.length - 1 }))).toMatchObject({
      name: 'MESSAGE_TOO_LARGE',
      message: `record batch is ${b.length} bytes, over the topic's max.message.bytes of ${b.length - 1}`,
    });
  });

  it('CORRUPT_MESSAGE for a CRC mismatch', () => {
    const b = batch();
    b[b.length - 1]! ^= 0xff;
    expect(errorOf(() => validateProducedBatch(b, opts))).toMatchObject({
      name: 'CORRUPT_MESSAGE',
      message: expect.stringMatching(/stored CRC 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/),
    });
  });

  it('UNSUPPORTED_COMPRESSION_TYPE for codec ids 5-7', () => {
    for (const id of [5, 6, 7]) {
      const b = batch();
      b.writeInt16BE(id, Offsets.attributes);
      expect(errorOf(() => validateProducedBatch(recrc(b), opts))).toMatchObject({
        name: 'UNSUPPORTED_COMPRESSION_TYPE',
        message: expect.stringContaining(`codec id ${id}`),
      });
    }
  });

  it('INVALID_RECORD when lastOffsetDelta + 1 != recordCount or the batch is empty', () => {
    const b = batch();
    b.writeInt32BE(5, Offsets.lastOffsetDelta);
    expect(errorOf(() => validateProducedBatch(recrc(b), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: 'record batch offset range [0, 5] is inconsistent with its count of records 2',
    });
    expect(errorOf(() => validateProducedBatch(encodeBatch({ records: [] }), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: expect.stringContaining('lastOffsetDelta -1 (recordCount 0)'),
    });
  });

  it('INVALID_RECORD for a control batch from a client', () => {
    expect(errorOf(() => validateProducedBatch(batch({ control: true }), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: expect.stringContaining('control batches (attributes 0x20'),
    });
  });

  it('INVALID_RECORD for a producerId without a base sequence', () => {
    expect(errorOf(() => validateProducedBatch(batch({ producerId: 9, baseSequence: -1 }), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: 'invalid sequence number -1 in a record batch with producerId 9',
    });
  });

  it('INVALID_RECORD for records that do not parse or whose offset deltas are not 0..n-1', () => {
    const b = batch();
    // Second record's offsetDelta (the byte after length, attributes, tsDelta) 1 -> 3.
    const first = b[61]! >> 1;
    const second = 61 + 1 + first;
    expect(b[second + 3]).toBe(2); // zig-zag 1
    writeVarint(b, 3, second + 3);
    expect(errorOf(() => validateProducedBatch(recrc(b), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: 'record 1 of batch at base offset 0 has offset delta 3, expected 1',
    });
    const c = batch();
    c.writeInt32BE(3, Offsets.recordCount);
    c.writeInt32BE(2, Offsets.lastOffsetDelta);
    expect(errorOf(() => validateProducedBatch(recrc(c), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: expect.stringContaining('invalid record structure'),
    });
    expect(validateProducedBatch(recrc(c), { ...opts, validateRecords: false }).recordCount).toBe(3);
  });

  it('INVALID_TIMESTAMP for CreateTime records outside before/after.max.ms, when asked', () => {
    const b = batch(); // timestamps T0 and T0 + 1
    const bounds = { nowMs: T0 + 1000, beforeMaxMs: 1000, afterMaxMs: 0 };
    expect(validateProducedBatch(b, { ...opts, timestampBounds: bounds }).recordCount).toBe(2);
    expect(
      errorOf(() => validateProducedBatch(b, { ...opts, timestampBounds: { ...bounds, beforeMaxMs: 999 } })),
    ).toEqual({
      name: 'INVALID_TIMESTAMP',
      message: `record 0 of batch at base offset 0 has timestamp ${T0}, outside [${T0 + 1}, ${T0 + 1000}] (broker time ${T0 + 1000}, before.max.ms 999, after.max.ms 0)`,
    });
    const ahead = { nowMs: T0, beforeMaxMs: 0, afterMaxMs: 0 };
    expect(errorOf(() => validateProducedBatch(b, { ...opts, timestampBounds: ahead }))).toMatchObject({
      name: 'INVALID_TIMESTAMP',
      message: expect.stringContaining(`record 1 of batch at base offset 0 has timestamp ${T0 + 1}`),
    });
  });

  it('INVALID_RECORD / INVALID_TIMESTAMP for int64 fields beyond 2^53, which our numbers cannot carry', () => {
    const pid = batch({ producerId: 1, baseSequence: 0 });
    pid.writeBigInt64BE(2n ** 60n, Offsets.producerId);
    expect(errorOf(() => validateProducedBatch(recrc(pid), opts))).toMatchObject({
      name: 'INVALID_RECORD',
      message: expect.stringContaining('outside the range Raftka supports'),
    });
    const ts = batch();
    ts.writeBigInt64BE(-(2n ** 62n), Offsets.maxTimestamp);
    expect(errorOf(() => validateProducedBatch(recrc(ts), opts))).toMatchObject({ name: 'INVALID_TIMESTAMP' });
  });
});
