import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  batches,
  decodeBatch,
  encodeBatch,
  readBatchHeader,
  validateProducedBatch,
  verifyBatchCrc,
} from '../src/index.js';
import { ALL_ENCODABLE_CODECS, batchInputArb, expectedRecords, seedFor } from './helpers.js';

describe('property: encode then decode is the identity', () => {
  it('for random records, headers, nulls, timestamps, producer fields and every codec we write', () => {
    const seed = seedFor('roundtrip');
    fc.assert(
      fc.property(batchInputArb(ALL_ENCODABLE_CODECS), (input) => {
        const buf = encodeBatch(input);
        expect(verifyBatchCrc(buf)).toBe(true);
        const decoded = decodeBatch(buf);
        expect(decoded.compression).toBe(input.compression);
        expect(decoded.transactional).toBe(input.transactional);
        expect(decoded.header).toMatchObject({
          baseOffset: input.baseOffset,
          sizeBytes: buf.length,
          partitionLeaderEpoch: input.partitionLeaderEpoch,
          producerId: input.producerId,
          producerEpoch: input.producerEpoch,
          baseSequence: input.baseSequence,
          recordCount: input.records.length,
          lastOffsetDelta: input.records.length - 1,
          baseTimestamp: input.records[0]!.timestamp,
          maxTimestamp: Math.max(...input.records.map((r) => r.timestamp)),
        });
        expect(decoded.records).toEqual(expectedRecords(input));
        // Header-only paths agree with the full decode.
        expect(readBatchHeader(buf)).toEqual(decoded.header);
        expect([...batches(buf)].map((v) => v.header)).toEqual([decoded.header]);
        // A producer-shaped batch passes produce validation.
        if (input.baseOffset === 0 && !(input.producerId! >= 0 && input.baseSequence! < 0)) {
          expect(validateProducedBatch(buf, { maxMessageBytes: buf.length }).recordCount).toBe(input.records.length);
        }
      }),
      { seed, numRuns: 200 },
    );
  });

  it('re-encoding a decoded batch gives the same bytes (uncompressed)', () => {
    const seed = seedFor('re-encode');
    fc.assert(
      fc.property(batchInputArb([0]), (input) => {
        const buf = encodeBatch(input);
        const d = decodeBatch(buf);
        const again = encodeBatch({
          records: d.records,
          baseOffset: d.header.baseOffset,
          partitionLeaderEpoch: d.header.partitionLeaderEpoch,
          transactional: d.transactional,
          producerId: d.header.producerId,
          producerEpoch: d.header.producerEpoch,
          baseSequence: d.header.baseSequence,
        });
        expect(again.equals(buf)).toBe(true);
      }),
      { seed, numRuns: 100 },
    );
  });
});
