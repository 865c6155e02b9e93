// Hostile input: whatever bytes arrive, the codec answers with a RaftkaError
// carrying a Kafka code (or a correct result), never another exception, a
// hang or a huge allocation.
import { isRaftkaError } from '@raftka/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  batches,
  CompressionCodec,
  computeBatchCrc,
  decodeBatch,
  encodeBatch,
  Offsets,
  validateProducedBatch,
  verifyBatchCrc,
} from '../src/index.js';
import { ALL_ENCODABLE_CODECS, batchInputArb, seedFor } from './helpers.js';

const T0 = 1_700_000_000_000;

function onlyRaftkaErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!isRaftkaError(err)) throw new Error(`expected a RaftkaError, got ${String(err)}`, { cause: err });
  }
}

describe('mutated batches', () => {
  it('decode and validation fail only with RaftkaError, also when the CRC is fixed up after the damage', () => {
    const seed = seedFor('mutation');
    fc.assert(
      fc.property(
        batchInputArb(ALL_ENCODABLE_CODECS),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.nat(),
        (input, edits, fixCrc, cut) => {
          const buf = encodeBatch({ ...input, baseOffset: 0 });
          for (const [at, byte] of edits) buf[at % buf.length] = byte;
          if (fixCrc && buf.length >= 61) buf.writeUInt32BE(computeBatchCrc(buf), Offsets.crc);
          const damaged = cut % 3 === 0 ? buf.subarray(0, cut % buf.length) : buf;
          onlyRaftkaErrors(() => decodeBatch(damaged));
          onlyRaftkaErrors(() => validateProducedBatch(damaged, { maxMessageBytes: 1 << 20 }));
          onlyRaftkaErrors(() => [...batches(damaged)]);
          verifyBatchCrc(damaged);
        },
      ),
      { seed, numRuns: 300 },
    );
  });
});

describe('decodeBatch refusals', () => {
  const good = () => encodeBatch({ records: [{ key: Buffer.from('k'), value: Buffer.from('v'), timestamp: T0 }] });

  function refusal(buf: Buffer): string {
    try {
      decodeBatch(buf);
    } catch (err) {
      if (isRaftkaError(err)) return `${err.errorName}: ${err.message}`;
      throw err;
    }
    return 'accepted';
  }

  it('names what is wrong, with numbers', () => {
    const magic = good();
    magic.writeInt8(1, Offsets.magic);
    expect(refusal(magic)).toBe('CORRUPT_MESSAGE: batch magic is 1, only magic 2 is supported');

    const count = good();
    count.writeInt32BE(2, Offsets.recordCount);
    count.writeUInt32BE(computeBatchCrc(count), Offsets.crc);
    expect(refusal(count)).toBe(
      'CORRUPT_MESSAGE: batch at base offset 0 declares 2 records in 9 bytes of records (each needs at least 7)',
    );

    const trailing = Buffer.concat([good().subarray(0, 61 + 9), Buffer.alloc(7)]);
    trailing.writeInt32BE(trailing.length - 12, Offsets.batchLength);
    trailing.writeUInt32BE(computeBatchCrc(trailing), Offsets.crc);
    expect(refusal(trailing)).toBe('CORRUPT_MESSAGE: batch at base offset 0 has 7 bytes after its 1 declared records');

    const length = good();
    length[61] = 2 * 5; // record length 5 instead of 8
    length.writeUInt32BE(computeBatchCrc(length), Offsets.crc);
    expect(refusal(length)).toBe(
      'CORRUPT_MESSAGE: record 0 of batch at base offset 0 declares length 5 but its fields take 8 bytes',
    );

    expect(refusal(good().subarray(0, 30))).toBe(
      'CORRUPT_MESSAGE: batch at byte 0 has 30 bytes, fewer than the 61-byte batch header',
    );
  });

  it('header-only paths do not touch the records', () => {
    const buf = encodeBatch({
      records: [{ value: Buffer.from('abc'), timestamp: T0 }],
      compression: CompressionCodec.gzip,
    });
    buf.fill(0xff, 61); // records blob destroyed
    expect([...batches(buf)].map((b) => b.header.recordCount)).toEqual([1]);
    expect(verifyBatchCrc(buf)).toBe(false);
    expect(refusal(buf)).toMatch(/^CORRUPT_MESSAGE: batch at base offset 0 is corrupt: stored CRC/);
  });
});
