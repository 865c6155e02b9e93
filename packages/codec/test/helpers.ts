// Shared test helpers: KafkaJS's internal codecs (CommonJS, loaded through
// createRequire), fast-check arbitraries for batches, and seeds that print.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import type { BatchInput, DecodedRecord, RecordHeader, RecordInput } from '../src/index.js';
import { CompressionCodec } from '../src/index.js';

const require = createRequire(import.meta.url);

export interface KafkaJsRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null | (Buffer | null)[]>;
}

export interface KafkaJsBatch {
  firstOffset: string;
  firstTimestamp: string;
  maxTimestamp: string;
  partitionLeaderEpoch: number;
  inTransaction: boolean;
  isControlBatch: boolean;
  lastOffsetDelta: number;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  records: KafkaJsRecord[];
}

type KafkaJsLong = { fromNumber(n: number): unknown };

export const kafkajs = {
  RecordBatch: require('kafkajs/src/protocol/recordBatch/v0').RecordBatch as (options: object) => Promise<{
    buffer: Buffer;
  }>,
  Record: require('kafkajs/src/protocol/recordBatch/record/v0') as (options: object) => unknown,
  decodeBatch: require('kafkajs/src/protocol/recordBatch/v0/decoder') as (decoder: unknown) => Promise<KafkaJsBatch>,
  Decoder: require('kafkajs/src/protocol/decoder') as new (buf: Buffer) => unknown,
  Long: require('kafkajs/src/utils/long') as KafkaJsLong,
  Types: require('kafkajs/src/protocol/message/compression').Types as Record<string, number>,
};

// kafkajs-snappy: raw snappy out (via snappyjs, an independent pure-JS snappy),
// raw or xerial-framed in. KafkaJS looks codecs up in this shared table.
require('kafkajs/src/protocol/message/compression').Codecs[kafkajs.Types.Snappy] = require('kafkajs-snappy');

export async function decodeWithKafkaJs(buf: Buffer): Promise<KafkaJsBatch> {
  return kafkajs.decodeBatch(new kafkajs.Decoder(buf));
}

/** Our headers in KafkaJS's shape: an object whose repeated keys hold arrays. */
export function headersAsKafkaJs(headers: readonly RecordHeader[]): KafkaJsRecord['headers'] {
  const out: KafkaJsRecord['headers'] = {};
  for (const { key, value } of headers) {
    const prev = Object.hasOwn(out, key) ? out[key] : undefined;
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/**
 * KafkaJS keeps headers in a plain object: a header key that names an
 * Object.prototype member ('toString', '__proto__') breaks both its encoder
 * and decoder. Such keys round-trip through ours (see roundtrip.test.ts);
 * batches that go through KafkaJS leave them out.
 */
export function withoutPrototypeHeaderKeys(input: BatchInput): BatchInput {
  return {
    ...input,
    records: input.records.map((r) => ({
      ...r,
      headers: (r.headers ?? []).filter((h) => !(h.key in Object.prototype)),
    })),
  };
}

/** A seed from FC_SEED (to replay) or the clock, printed so that a failure can be replayed. */
export function seedFor(name: string): number {
  const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
  console.log(`${name}: fast-check seed=${seed} (replay with FC_SEED=${seed})`);
  return seed;
}

const T_MIN = 0;
const T_MAX = 4_102_444_800_000; // 2100-01-01

const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const nullableBytes = fc.option(bytes, { nil: null, freq: 4 });
const header: fc.Arbitrary<RecordHeader> = fc.record({
  key: fc.oneof(
    fc.constantFrom('h', 'trace', 'dup', 'toString', '__proto__'),
    fc.string({ maxLength: 12, unit: 'grapheme' }),
  ),
  value: nullableBytes,
});

export const recordArb = (baseTimestamp: number): fc.Arbitrary<RecordInput> =>
  fc.record({
    key: nullableBytes,
    value: fc.oneof(
      nullableBytes,
      fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
    ),
    headers: fc.array(header, { maxLength: 4 }),
    // Deltas both ways around the first record, some past 2^31 ms.
    timestamp: fc
      .oneof(fc.integer({ min: -5000, max: 5000 }), fc.integer({ min: -(2 ** 33), max: 2 ** 33 }))
      .map((d) => Math.min(T_MAX, Math.max(T_MIN, baseTimestamp + d))),
  });

export const batchInputArb = (codecs: readonly CompressionCodec[]): fc.Arbitrary<BatchInput> =>
  fc.integer({ min: T_MIN, max: T_MAX }).chain((t0) =>
    fc.record({
      records: fc.array(recordArb(t0), { minLength: 1, maxLength: 20 }),
      compression: fc.constantFrom(...codecs),
      baseOffset: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1000 })),
      partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
      transactional: fc.boolean(),
      producerId: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
      producerEpoch: fc.integer({ min: -1, max: 32767 }),
      baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    }),
  );

/** What decodeBatch must return for `input`'s records (CreateTime). */
export function expectedRecords(input: BatchInput): DecodedRecord[] {
  const baseOffset = input.baseOffset ?? 0;
  return input.records.map((r, i) => ({
    offset: baseOffset + i,
    timestamp: r.timestamp,
    key: r.key ?? null,
    value: r.value ?? null,
    headers: (r.headers ?? []).map((h) => ({ key: h.key, value: h.value })),
  }));
}

export const ALL_ENCODABLE_CODECS = [
  CompressionCodec.none,
  CompressionCodec.gzip,
  CompressionCodec.snappy,
  CompressionCodec.lz4,
] as const;
