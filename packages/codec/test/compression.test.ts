import { isRaftkaError } from '@raftka/common';
import { compressSync as rawSnappy } from 'snappy';
import { describe, expect, it } from 'vitest';
import {
  CompressionCodec,
  compress,
  computeBatchCrc,
  decodeBatch,
  decompress,
  encodeBatch,
  isXerialSnappy,
  Offsets,
  validateProducedBatch,
} from '../src/index.js';

const T0 = 1_700_000_000_000;
const text = Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(2000)); // 90 000 bytes

function errorName(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isRaftkaError(err) ? err.errorName : `not a RaftkaError: ${String(err)}`;
  }
  return undefined;
}

describe('compress / decompress', () => {
  it('round-trips gzip, snappy and lz4, and none is the identity', () => {
    for (const codec of [CompressionCodec.gzip, CompressionCodec.snappy, CompressionCodec.lz4]) {
      const blob = compress(codec, text);
      expect(blob.length, `codec ${codec}`).toBeLessThan(text.length / 4);
      expect(decompress(codec, blob).equals(text)).toBe(true);
    }
    expect(compress(CompressionCodec.none, text)).toBe(text);
  });

  it('writes snappy in xerial framing with 32 KiB blocks, as Java does', () => {
    const blob = compress(CompressionCodec.snappy, text);
    expect(isXerialSnappy(blob)).toBe(true);
    expect(blob.subarray(0, 16).toString('hex')).toBe('82534e41505059000000000100000001');
    let blocks = 0;
    for (let pos = 16; pos < blob.length; pos += 4 + blob.readInt32BE(pos)) blocks++;
    expect(blocks).toBe(Math.ceil(text.length / 32768));
  });

  it('reads raw snappy blocks (KafkaJS, librdkafka) as well as xerial', () => {
    expect(decompress(CompressionCodec.snappy, rawSnappy(text) as Buffer).equals(text)).toBe(true);
    expect(decompress(CompressionCodec.snappy, compress(CompressionCodec.snappy, Buffer.alloc(0))).length).toBe(0);
  });

  it('writes an LZ4 frame with independent blocks and no checksums, as Java does', () => {
    const small = compress(CompressionCodec.lz4, text.subarray(0, 1000));
    expect(small.subarray(0, 6).toString('hex')).toBe('04224d186040'); // Java's header exactly: 64 KiB blocks
    const blob = compress(CompressionCodec.lz4, text);
    expect(blob.readUInt32LE(0)).toBe(0x184d2204); // frame magic
    expect(blob[4]).toBe(0x60); // FLG: version 01, block independence, no checksums, no content size
    // BD: lz4_flex sizes blocks to the input (64 KiB .. 4 MiB); Java's reader accepts all four.
    expect([0x40, 0x50, 0x60, 0x70]).toContain(blob[5]);
    expect(blob.readUInt32LE(blob.length - 4)).toBe(0); // EndMark, no content checksum after it
  });

  it('does not write zstd, and refuses unknown codec ids, with UNSUPPORTED_COMPRESSION_TYPE', () => {
    expect(errorName(() => compress(CompressionCodec.zstd, text))).toBe('UNSUPPORTED_COMPRESSION_TYPE');
    expect(errorName(() => decompress(6, text))).toBe('UNSUPPORTED_COMPRESSION_TYPE');
  });

  it('answers CORRUPT_MESSAGE for blobs that do not inflate', () => {
    const garbage = Buffer.from('definitely not compressed data, long enough to look like something');
    for (const codec of [CompressionCodec.gzip, CompressionCodec.snappy, CompressionCodec.lz4, CompressionCodec.zstd]) {
      expect(
        errorName(() => decompress(codec, garbage)),
        `codec ${codec}`,
      ).toBe('CORRUPT_MESSAGE');
    }
    const xerialTorn = compress(CompressionCodec.snappy, text).subarray(0, 40);
    expect(errorName(() => decompress(CompressionCodec.snappy, xerialTorn))).toBe('CORRUPT_MESSAGE');
  });

  it('refuses to inflate past maxDecompressedBytes', () => {
    for (const codec of [CompressionCodec.gzip, CompressionCodec.snappy, CompressionCodec.lz4]) {
      const blob = compress(codec, text);
      expect(() => decompress(codec, blob, 10_000), `codec ${codec}`).toThrow(/10000/);
      expect(decompress(codec, blob, text.length).length).toBe(text.length);
    }
  });
});

describe('compressed batches', () => {
  it('keep the header uncompressed and the records as one blob after recordCount', () => {
    const records = [
      { key: Buffer.from('a'), value: text.subarray(0, 5000), timestamp: T0 },
      { key: null, value: text.subarray(0, 7000), timestamp: T0 + 1 },
    ];
    const plain = encodeBatch({ records });
    for (const codec of [CompressionCodec.gzip, CompressionCodec.snappy, CompressionCodec.lz4]) {
      const batch = encodeBatch({ records, compression: codec });
      expect(batch.length).toBeLessThan(plain.length / 4);
      expect(batch.readInt16BE(Offsets.attributes) & 7).toBe(codec);
      expect(batch.readInt32BE(Offsets.recordCount)).toBe(2);
      expect(decompress(codec, batch.subarray(61)).equals(plain.subarray(61))).toBe(true);
      expect(decodeBatch(batch).records.map((r) => r.value)).toEqual(records.map((r) => r.value));
    }
  });

  it('a compressed batch whose blob does not inflate fails produce validation with CORRUPT_MESSAGE', () => {
    const batch = encodeBatch({ records: [{ value: text, timestamp: T0 }], compression: CompressionCodec.gzip });
    batch[batch.length - 20]! ^= 0xff;
    batch.writeUInt32BE(computeBatchCrc(batch), Offsets.crc);
    expect(errorName(() => validateProducedBatch(batch, { maxMessageBytes: 1 << 20 }))).toBe('CORRUPT_MESSAGE');
  });
});
