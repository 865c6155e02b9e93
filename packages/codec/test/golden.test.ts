// Golden bytes: batches written once by KafkaJS 2.2.4 (and, for lz4/zstd, by
// the lz4/zstd command-line tools over KafkaJS's record encoding) with
// scripts/write-golden.mjs. See testdata/README.md.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CompressionCodec,
  type DecodedRecord,
  decodeBatch,
  encodeBatch,
  validateProducedBatch,
  verifyBatchCrc,
} from '../src/index.js';
import { decodeWithKafkaJs, headersAsKafkaJs } from './helpers.js';

const T0 = 1_700_000_000_000;

function fixture(name: string): Buffer {
  const hex = readFileSync(new URL(`../testdata/${name}.hex`, import.meta.url), 'utf8').replace(/\s+/g, '');
  return Buffer.from(hex, 'hex');
}

/** The records scripts/write-golden.mjs gave KafkaJS, at base offset `base`. */
function goldenRecords(base = 0): DecodedRecord[] {
  return [
    { offset: base, timestamp: T0, key: Buffer.from('key-0'), value: Buffer.from('value-0'), headers: [] },
    {
      offset: base + 1,
      timestamp: T0 + 7,
      key: null,
      value: Buffer.from('value-1 with a null key'),
      headers: [{ key: 'trace', value: Buffer.from('t1') }],
    },
    {
      offset: base + 2,
      timestamp: T0 + 3,
      key: Buffer.from('key-2'),
      value: null,
      headers: [
        { key: 'dup', value: Buffer.from('a') },
        { key: 'dup', value: Buffer.from('b') },
        { key: 'ключ', value: Buffer.from('значение') },
      ],
    },
    { offset: base + 3, timestamp: T0 + 300000, key: Buffer.from('key-3'), value: Buffer.alloc(0), headers: [] },
    {
      offset: base + 4,
      timestamp: T0 + 1,
      key: Buffer.from('key-4'),
      value: Buffer.from('x'.repeat(200)),
      headers: [],
    },
  ];
}

const producerDefaults = { partitionLeaderEpoch: 0, producerId: -1, producerEpoch: 0, baseSequence: 0 };

describe('golden fixtures', () => {
  const cases = [
    { name: 'kafkajs-none', codec: CompressionCodec.none },
    { name: 'kafkajs-gzip', codec: CompressionCodec.gzip },
    { name: 'kafkajs-snappy-raw', codec: CompressionCodec.snappy },
    { name: 'cli-lz4-frame-checksums', codec: CompressionCodec.lz4 },
    { name: 'cli-zstd', codec: CompressionCodec.zstd },
  ];
  for (const { name, codec } of cases) {
    it(`${name} decodes to the records KafkaJS was given and passes produce validation`, () => {
      const buf = fixture(name);
      expect(verifyBatchCrc(buf)).toBe(true);
      const decoded = decodeBatch(buf);
      expect(decoded.compression).toBe(codec);
      expect(decoded.header).toMatchObject({
        ...producerDefaults,
        baseOffset: 0,
        sizeBytes: buf.length,
        recordCount: 5,
        lastOffsetDelta: 4,
        baseTimestamp: T0,
        maxTimestamp: T0 + 300000,
      });
      expect(decoded.records).toEqual(goldenRecords());
      expect(validateProducedBatch(buf, { maxMessageBytes: 1 << 20 }).recordCount).toBe(5);
    });
  }

  it('kafkajs-none: our encoder writes the fixture byte for byte', () => {
    const buf = fixture('kafkajs-none');
    const ours = encodeBatch({ records: goldenRecords(), ...producerDefaults });
    expect(ours.toString('hex')).toBe(buf.toString('hex'));
  });

  it('kafkajs-idempotent-transactional: producer fields, transactional bit, stamped offset and epoch', async () => {
    const buf = fixture('kafkajs-idempotent-transactional');
    const decoded = decodeBatch(buf);
    expect(decoded.transactional).toBe(true);
    expect(decoded.header).toMatchObject({
      baseOffset: 9_000_000_000,
      partitionLeaderEpoch: 5,
      producerId: 123_456_789_012,
      producerEpoch: 7,
      baseSequence: 2_147_483_600,
    });
    expect(decoded.records).toEqual(goldenRecords(9_000_000_000));
    const ours = encodeBatch({
      records: goldenRecords(),
      baseOffset: 9_000_000_000,
      partitionLeaderEpoch: 5,
      producerId: 123_456_789_012,
      producerEpoch: 7,
      baseSequence: 2_147_483_600,
      transactional: true,
    });
    expect(ours.toString('hex')).toBe(buf.toString('hex'));
    // And KafkaJS still reads its own fixture the same way.
    const theirs = await decodeWithKafkaJs(buf);
    expect(theirs.records.map((r) => r.headers)).toEqual(goldenRecords().map((r) => headersAsKafkaJs(r.headers)));
  });
});
