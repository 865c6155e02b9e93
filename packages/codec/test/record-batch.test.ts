import { describe, expect, it } from 'vitest';
import {
  BATCH_HEADER_BYTES,
  batches,
  CompressionCodec,
  computeBatchCrc,
  decodeBatch,
  encodeBatch,
  Offsets,
  readBatchHeader,
  readInt64,
  stampBatch,
  stampLogAppendTime,
  TimestampType,
  verifyBatchCrc,
  writeInt64,
} from '../src/index.js';

const T0 = 1_700_000_000_000;

describe('encodeBatch / decodeBatch', () => {
  it('round-trips records with null keys and values and repeated header keys', () => {
    const batch = encodeBatch({
      records: [
        { key: Buffer.from('k1'), value: Buffer.from('v1'), timestamp: T0, headers: [] },
        { key: null, value: Buffer.from('v2'), timestamp: T0 + 5 },
        {
          key: Buffer.from('k3'),
          value: null,
          timestamp: T0 - 3,
          headers: [
            { key: 'h', value: Buffer.from('a') },
            { key: 'h', value: null },
            { key: 'ü', value: Buffer.alloc(0) },
          ],
        },
      ],
      producerId: 42,
      producerEpoch: 3,
      baseSequence: 7,
    });
    const decoded = decodeBatch(batch);
    expect(decoded.header).toMatchObject({
      baseOffset: 0,
      sizeBytes: batch.length,
      partitionLeaderEpoch: -1,
      magic: 2,
      lastOffsetDelta: 2,
      baseTimestamp: T0,
      maxTimestamp: T0 + 5,
      producerId: 42,
      producerEpoch: 3,
      baseSequence: 7,
      recordCount: 3,
    });
    expect(decoded.compression).toBe(CompressionCodec.none);
    expect(decoded.timestampType).toBe(TimestampType.createTime);
    expect(decoded.transactional).toBe(false);
    expect(decoded.control).toBe(false);
    expect(decoded.records).toEqual([
      { offset: 0, timestamp: T0, key: Buffer.from('k1'), value: Buffer.from('v1'), headers: [] },
      { offset: 1, timestamp: T0 + 5, key: null, value: Buffer.from('v2'), headers: [] },
      {
        offset: 2,
        timestamp: T0 - 3,
        key: Buffer.from('k3'),
        value: null,
        headers: [
          { key: 'h', value: Buffer.from('a') },
          { key: 'h', value: null },
          { key: 'ü', value: Buffer.alloc(0) },
        ],
      },
    ]);
  });

  it('writes the bytes of the reference layout for a one-record batch', () => {
    const batch = encodeBatch({ records: [{ key: null, value: Buffer.from('x'), timestamp: T0 }] });
    // record: length 7 (zig-zag 0e), attributes 0, tsDelta 0, offsetDelta 0, key -1, value len 1 'x', 0 headers
    expect(batch.subarray(BATCH_HEADER_BYTES).toString('hex')).toBe('0e00000001027800');
    expect(batch.length).toBe(BATCH_HEADER_BYTES + 8);
    expect(batch.readInt32BE(Offsets.batchLength)).toBe(batch.length - 12);
    expect(batch.readInt8(Offsets.magic)).toBe(2);
    expect(batch.readUInt32BE(Offsets.crc)).toBe(computeBatchCrc(batch));
    expect(verifyBatchCrc(batch)).toBe(true);
  });

  it('stamps baseOffset and leader epoch without changing the CRC, and offsets follow the stamp', () => {
    const batch = encodeBatch({ records: [{ value: Buffer.from('a'), timestamp: T0 }, { timestamp: T0 }] });
    const crc = batch.readUInt32BE(Offsets.crc);
    stampBatch(batch, 1234, 9);
    expect(verifyBatchCrc(batch)).toBe(true);
    expect(batch.readUInt32BE(Offsets.crc)).toBe(crc);
    const decoded = decodeBatch(batch);
    expect(decoded.header.partitionLeaderEpoch).toBe(9);
    expect(decoded.records.map((r) => r.offset)).toEqual([1234, 1235]);
  });

  it('reports LogAppendTime batches with the broker time for every record', () => {
    const batch = encodeBatch({
      records: [{ timestamp: T0 }, { timestamp: T0 + 1 }],
      timestampType: TimestampType.logAppendTime,
      maxTimestamp: T0 + 999,
      transactional: true,
    });
    const decoded = decodeBatch(batch);
    expect(decoded.timestampType).toBe(TimestampType.logAppendTime);
    expect(decoded.transactional).toBe(true);
    expect(decoded.records.map((r) => r.timestamp)).toEqual([T0 + 999, T0 + 999]);
  });

  it('encodes an empty batch with -1 timestamps', () => {
    const batch = encodeBatch({ records: [] });
    const h = readBatchHeader(batch)!;
    expect(h).toMatchObject({ recordCount: 0, lastOffsetDelta: -1, baseTimestamp: -1, maxTimestamp: -1 });
    expect(decodeBatch(batch).records).toEqual([]);
  });

  it('refuses a flipped bit with CORRUPT_MESSAGE naming both CRCs', () => {
    const batch = encodeBatch({ records: [{ value: Buffer.from('hello'), timestamp: T0 }] });
    batch[batch.length - 2]! ^= 0x01;
    expect(verifyBatchCrc(batch)).toBe(false);
    expect(() => decodeBatch(batch)).toThrow(/stored CRC 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/);
  });

  it('iterates batches back to back as views, and stops or throws at a partial tail', () => {
    const a = encodeBatch({ records: [{ value: Buffer.from('a'), timestamp: T0 }] });
    const b = encodeBatch({ records: [{ value: Buffer.from('bb'), timestamp: T0 }, { timestamp: T0 }], baseOffset: 1 });
    const buf = Buffer.concat([a, b]);
    const views = [...batches(buf)];
    expect(views.map((v) => v.header.baseOffset)).toEqual([0, 1]);
    expect(views[1]!.bytes.buffer).toBe(buf.buffer);
    expect(views[1]!.bytes.equals(b)).toBe(true);
    const torn = buf.subarray(0, buf.length - 3);
    expect([...batches(torn, { allowPartialTail: true })].length).toBe(1);
    expect(() => [...batches(torn)]).toThrow(/declares batchLength \d+ \(size \d+\) but only \d+ bytes remain/);
  });

  it('stampLogAppendTime sets the timestamp type and maxTimestamp and keeps the CRC valid', () => {
    const batch = encodeBatch({ records: [{ timestamp: T0 }, { timestamp: T0 + 1 }] });
    stampLogAppendTime(batch, T0 + 5000);
    expect(verifyBatchCrc(batch)).toBe(true);
    const decoded = decodeBatch(batch);
    expect(decoded.timestampType).toBe(TimestampType.logAppendTime);
    expect(decoded.header.maxTimestamp).toBe(T0 + 5000);
    expect(decoded.records.map((r) => r.timestamp)).toEqual([T0 + 5000, T0 + 5000]);
  });

  it('reads and writes int64 fields without BigInt across the sign and 2^32 boundaries', () => {
    const buf = Buffer.alloc(8);
    for (const v of [
      0,
      -1,
      1,
      2 ** 32 - 1,
      2 ** 32,
      -(2 ** 32),
      -(2 ** 32) - 1,
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_SAFE_INTEGER,
    ]) {
      writeInt64(buf, v, 0);
      expect(buf.readBigInt64BE(0)).toBe(BigInt(v));
      expect(readInt64(buf, 0)).toBe(v);
    }
  });
});
