// Compression of a RecordBatch's records. When the codec bits are not 0, the
// bytes after recordCount are ONE compressed blob holding every record; the
// header stays uncompressed so the broker can validate and stamp a batch
// without touching the blob. The broker keeps batches compressed exactly as the
// producer sent them; only decodeBatch (consumers, tests, compaction) inflates.
//
// Wire formats, as Apache Kafka's Java client and broker use them:
// - gzip: a gzip stream (RFC 1952), node:zlib.
// - snappy: Java writes xerial snappy-java's *framed* stream (a 16-byte header
//   "\x82SNAPPY\0", version 1, compatible 1, then blocks of [int32 length,
//   raw snappy block] of at most 32 KiB input each). KafkaJS's kafkajs-snappy
//   and librdkafka write a bare raw snappy block, and xerial's reader accepts
//   both, so we decode both and write the xerial form Java writes.
// - lz4: the LZ4 *frame* format (magic 0x184D2204) with independent blocks
//   and no checksums, as Java's KafkaLZ4BlockOutputStream writes it (KIP-57
//   fixed the header checksum for magic >= 1). lz4-napi's frame functions
//   (lz4_flex) write FLG 0x60 like Java; the block size (BD) is 64 KiB for
//   small inputs, as Java's, and grows to 256 KiB-4 MiB for large ones, which
//   Java's KafkaLZ4BlockInputStream and librdkafka also read. Frames with
//   block/content checksums or a content size (librdkafka, the lz4 tool)
//   decode too.
// - zstd: zstd frames (RFC 8878). Node 20's zlib has no zstd and the native
//   npm bindings (zstd-napi, @mongodb-js/zstd) fetch binaries at install time,
//   so we decode with fzstd (pure JavaScript) and do not encode: the broker
//   never compresses, and our own producers pick another codec. compress()
//   answers UNSUPPORTED_COMPRESSION_TYPE for zstd.
import { gunzipSync, gzipSync } from 'node:zlib';
import { RaftkaError } from '@raftka/common';
import { decompress as zstdDecompress } from 'fzstd';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { compressSync as snappyCompressSync, uncompressSync as snappyUncompressSync } from 'snappy';
import { CompressionCodec, codecName } from './attributes.js';

/** "\x82SNAPPY\0": the magic that opens a xerial snappy-java stream. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
/** snappy-java's SnappyOutputStream default block size, which Kafka's SnappyFactory keeps. */
const XERIAL_BLOCK_BYTES = 32 * 1024;

/** Default ceiling on what one batch may inflate to; a guard against decompression bombs. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024;

/**
 * Compresses the concatenated records of a batch with `codec`. `none` returns
 * `data` itself; zstd throws UNSUPPORTED_COMPRESSION_TYPE (decode only).
 */
export function compress(codec: CompressionCodec, data: Buffer): Buffer {
  switch (codec) {
    case CompressionCodec.none:
      return data;
    case CompressionCodec.gzip:
      return gzipSync(data);
    case CompressionCodec.snappy:
      return xerialSnappyCompress(data);
    case CompressionCodec.lz4:
      return compressFrameSync(data);
    case CompressionCodec.zstd:
      throw unsupported(codec);
    default:
      throw unsupported(codec);
  }
}

/**
 * Inflates the records blob of a batch compressed with `codec`. Throws
 * CORRUPT_MESSAGE when the blob does not decode or would exceed
 * `maxDecompressedBytes`, UNSUPPORTED_COMPRESSION_TYPE for unknown codec ids.
 */
export function decompress(
  codec: number,
  data: Buffer,
  maxDecompressedBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Buffer {
  let out: Buffer;
  try {
    switch (codec) {
      case CompressionCodec.none:
        return data;
      case CompressionCodec.gzip:
        out = gunzipSync(data, { maxOutputLength: maxDecompressedBytes });
        break;
      case CompressionCodec.snappy:
        out = snappyDecompress(data, maxDecompressedBytes);
        break;
      case CompressionCodec.lz4:
        out = decompressFrameSync(data);
        break;
      case CompressionCodec.zstd: {
        const inflated = zstdDecompress(data);
        out = Buffer.from(inflated.buffer, inflated.byteOffset, inflated.byteLength);
        break;
      }
      default:
        throw unsupported(codec);
    }
  } catch (err) {
    if (err instanceof RaftkaError) throw err;
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `${codecName(codec)} records blob of ${data.length} bytes does not decompress: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (out.length > maxDecompressedBytes) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `${codecName(codec)} records blob of ${data.length} bytes inflates to ${out.length} bytes, over the limit of ${maxDecompressedBytes}`,
    );
  }
  return out;
}

/** True when `data` opens with snappy-java's stream header rather than a raw snappy block. */
export function isXerialSnappy(data: Buffer): boolean {
  return data.length >= XERIAL_HEADER_BYTES && data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
}

function xerialSnappyCompress(data: Buffer): Buffer {
  const blocks: Buffer[] = [];
  let total = XERIAL_HEADER_BYTES;
  for (let pos = 0; pos < data.length; pos += XERIAL_BLOCK_BYTES) {
    const block = snappyCompressSync(data.subarray(pos, Math.min(pos + XERIAL_BLOCK_BYTES, data.length)));
    blocks.push(block);
    total += 4 + block.length;
  }
  const out = Buffer.allocUnsafe(total);
  XERIAL_MAGIC.copy(out, 0);
  out.writeInt32BE(1, 8); // stream version
  out.writeInt32BE(1, 12); // oldest compatible version
  let pos = XERIAL_HEADER_BYTES;
  for (const block of blocks) {
    out.writeInt32BE(block.length, pos);
    block.copy(out, pos + 4);
    pos += 4 + block.length;
  }
  return out;
}

function snappyDecompress(data: Buffer, maxDecompressedBytes: number): Buffer {
  if (!isXerialSnappy(data)) return rawSnappyUncompress(data, maxDecompressedBytes);
  const parts: Buffer[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_BYTES;
  while (pos < data.length) {
    if (data.length - pos < 4) {
      throw new RaftkaError(
        'CORRUPT_MESSAGE',
        `xerial snappy block length at ${pos} is cut off (${data.length} bytes)`,
      );
    }
    const blockBytes = data.readInt32BE(pos);
    pos += 4;
    if (blockBytes < 0 || blockBytes > data.length - pos) {
      throw new RaftkaError(
        'CORRUPT_MESSAGE',
        `xerial snappy block at ${pos - 4} claims ${blockBytes} bytes but ${data.length - pos} remain`,
      );
    }
    const part = rawSnappyUncompress(data.subarray(pos, pos + blockBytes), maxDecompressedBytes - total);
    parts.push(part);
    total += part.length;
    pos += blockBytes;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}

function rawSnappyUncompress(data: Buffer, maxDecompressedBytes: number): Buffer {
  // A raw snappy block opens with its uncompressed length as an unsigned
  // varint: check it before letting the native code allocate that much.
  let length = 0;
  for (let i = 0, multiplier = 1; i < 5 && i < data.length; i++, multiplier *= 128) {
    const b = data[i]!;
    length += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) break;
  }
  if (length > maxDecompressedBytes) {
    throw new RaftkaError(
      'CORRUPT_MESSAGE',
      `snappy block of ${data.length} bytes declares ${length} uncompressed bytes, over the limit of ${maxDecompressedBytes}`,
    );
  }
  return snappyUncompressSync(data) as Buffer;
}

function unsupported(codec: number): RaftkaError {
  return new RaftkaError(
    'UNSUPPORTED_COMPRESSION_TYPE',
    codec === CompressionCodec.zstd
      ? 'writing zstd (codec 4) is not supported: Raftka decodes zstd batches but does not encode them'
      : `compression codec id ${codec} is not one Kafka defines (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)`,
  );
}
