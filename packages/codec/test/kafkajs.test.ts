// Cross-checks against KafkaJS 2.2.4's own RecordBatch encoder and decoder,
// in both directions: what KafkaJS producers send must decode with ours, and
// what our broker serves must decode with KafkaJS consumers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BatchInput,
  CompressionCodec,
  ControlRecordType,
  decodeBatch,
  encodeBatch,
  encodeEndTransactionMarker,
  isXerialSnappy,
  readEndTransactionMarker,
  validateProducedBatch,
} from '../src/index.js';
import {
  batchInputArb,
  decodeWithKafkaJs,
  expectedRecords,
  headersAsKafkaJs,
  kafkajs,
  seedFor,
  withoutPrototypeHeaderKeys,
} from './helpers.js';

const T0 = 1_700_000_000_000;

/** Encodes `input` with KafkaJS the way its producer does (timestamps relative to the first record). */
async function encodeWithKafkaJs(input: BatchInput): Promise<Buffer> {
  const first = input.records[0]!.timestamp;
  const records = input.records.map((r, i) =>
    kafkajs.Record({
      key: r.key ?? null,
      value: r.value ?? null,
      headers: headersAsKafkaJs(r.headers ?? []),
      offsetDelta: i,
      timestampDelta: r.timestamp - first,
    }),
  );
  const batch = await kafkajs.RecordBatch({
    compression: input.compression ?? 0,
    records,
    firstOffset: kafkajs.Long.fromNumber(input.baseOffset ?? 0),
    firstTimestamp: first,
    maxTimestamp: Math.max(...input.records.map((r) => r.timestamp)),
    partitionLeaderEpoch: input.partitionLeaderEpoch ?? 0,
    lastOffsetDelta: input.records.length - 1,
    transactional: input.transactional ?? false,
    producerId: kafkajs.Long.fromNumber(input.producerId ?? -1),
    producerEpoch: input.producerEpoch ?? 0,
    firstSequence: input.baseSequence ?? 0,
  });
  return batch.buffer;
}

// KafkaJS cannot encode a null header value (its size computation calls
// Buffer.byteLength(null)), and it groups repeated header keys by key. Inputs
// sent through KafkaJS's encoder are shaped so that this loses nothing.
function kafkajsEncodable(raw: BatchInput): BatchInput {
  const input = withoutPrototypeHeaderKeys(raw);
  return {
    ...input,
    records: input.records.map((r) => {
      const headers = (r.headers ?? []).map((h) => ({ key: h.key, value: h.value ?? Buffer.alloc(0) }));
      const order = [...new Set(headers.map((h) => h.key))];
      return { ...r, headers: order.flatMap((k) => headers.filter((h) => h.key === k)) };
    }),
  };
}

describe('KafkaJS -> ours', () => {
  it('decodes random KafkaJS batches (none, gzip, snappy) to the records KafkaJS was given', async () => {
    const seed = seedFor('kafkajs->ours');
    await fc.assert(
      fc.asyncProperty(
        batchInputArb([CompressionCodec.none, CompressionCodec.gzip, CompressionCodec.snappy]),
        async (raw) => {
          const input = kafkajsEncodable(raw);
          const buf = await encodeWithKafkaJs(input);
          const decoded = decodeBatch(buf);
          expect(decoded.records).toEqual(expectedRecords(input));
          expect(decoded.header).toMatchObject({
            baseOffset: input.baseOffset,
            partitionLeaderEpoch: input.partitionLeaderEpoch,
            producerId: input.producerId,
            producerEpoch: input.producerEpoch,
            baseSequence: input.baseSequence,
            recordCount: input.records.length,
          });
          expect(decoded.transactional).toBe(input.transactional);
          expect(decoded.compression).toBe(input.compression);
        },
      ),
      { seed, numRuns: 100 },
    );
  });

  it('writes the same bytes as KafkaJS for uncompressed and gzip batches', async () => {
    const seed = seedFor('kafkajs bytes');
    await fc.assert(
      fc.asyncProperty(batchInputArb([CompressionCodec.none, CompressionCodec.gzip]), async (raw) => {
        const input = kafkajsEncodable(raw);
        const theirs = await encodeWithKafkaJs(input);
        const ours = encodeBatch(input);
        expect(ours.toString('hex')).toBe(theirs.toString('hex'));
      }),
      { seed, numRuns: 100 },
    );
  });
});

describe('ours -> KafkaJS', () => {
  it('KafkaJS decodes random batches of ours (none, gzip, xerial snappy) including null header values', async () => {
    const seed = seedFor('ours->kafkajs');
    await fc.assert(
      fc.asyncProperty(
        batchInputArb([CompressionCodec.none, CompressionCodec.gzip, CompressionCodec.snappy]),
        async (raw) => {
          const input = withoutPrototypeHeaderKeys(raw);
          const buf = encodeBatch(input);
          if (input.compression === CompressionCodec.snappy) expect(isXerialSnappy(buf.subarray(61))).toBe(true);
          const theirs = await decodeWithKafkaJs(buf);
          expect(theirs.firstOffset).toBe(String(input.baseOffset));
          expect(theirs.producerId).toBe(String(input.producerId));
          expect(theirs.producerEpoch).toBe(input.producerEpoch);
          expect(theirs.firstSequence).toBe(input.baseSequence);
          expect(theirs.partitionLeaderEpoch).toBe(input.partitionLeaderEpoch);
          expect(theirs.inTransaction).toBe(input.transactional);
          expect(theirs.isControlBatch).toBe(false);
          expect(theirs.lastOffsetDelta).toBe(input.records.length - 1);
          expect(
            theirs.records.map((r) => ({
              offset: r.offset,
              timestamp: r.timestamp,
              key: r.key,
              value: r.value,
              headers: r.headers,
            })),
          ).toEqual(
            expectedRecords(input).map((r) => ({
              offset: String(r.offset),
              timestamp: String(r.timestamp),
              key: r.key,
              value: r.value,
              headers: headersAsKafkaJs(r.headers),
            })),
          );
        },
      ),
      { seed, numRuns: 100 },
    );
  });

  it('KafkaJS decodes a large xerial snappy batch spanning several 32 KiB blocks', async () => {
    const records = Array.from({ length: 40 }, (_, i) => ({
      key: Buffer.from(`k${i}`),
      value: Buffer.alloc(3000, i),
      timestamp: T0 + i,
    }));
    const buf = encodeBatch({ records, compression: CompressionCodec.snappy });
    const theirs = await decodeWithKafkaJs(buf);
    expect(theirs.records.map((r) => r.value)).toEqual(records.map((r) => r.value));
  });
});

describe('control batches', () => {
  it('a COMMIT marker round-trips, KafkaJS sees a control batch, produce validation refuses it', async () => {
    const marker = encodeEndTransactionMarker({
      type: ControlRecordType.commit,
      coordinatorEpoch: 12,
      producerId: 77,
      producerEpoch: 3,
      timestamp: T0,
      baseOffset: 500,
      partitionLeaderEpoch: 4,
    });
    const decoded = decodeBatch(marker);
    expect(decoded.control).toBe(true);
    expect(decoded.transactional).toBe(true);
    expect(decoded.records).toHaveLength(1);
    expect(readEndTransactionMarker(decoded.records[0]!)).toEqual({
      type: ControlRecordType.commit,
      coordinatorEpoch: 12,
    });
    const theirs = await decodeWithKafkaJs(marker);
    expect(theirs.isControlBatch).toBe(true);
    expect(theirs.inTransaction).toBe(true);
    expect(theirs.producerId).toBe('77');
    const stamped = Buffer.from(marker);
    stamped.writeBigInt64BE(0n, 0);
    expect(() => validateProducedBatch(stamped, { maxMessageBytes: 1 << 20 })).toThrow(/control batches/);
  });
});
