// Partitioning must agree with the Java client and KafkaJS bit for bit, or a
// key written by one client lands on another partition than the same key
// written by ours: Java's vectors first, then KafkaJS's own partitioner.
import { createRequire } from 'node:module';
import { SeededRandom } from '@raftka/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DefaultPartitioner, murmur2, partitionForKey, StickyPartitionCache, toPositive } from '../src/index.js';

const require = createRequire(import.meta.url);
type KafkaJsPartitioner = (args: {
  topic: string;
  partitionMetadata: { partitionId: number; leader: number }[];
  message: { key?: Buffer | string | null; partition?: number | null };
}) => number;
const kafkajsDefault = require('kafkajs/src/producer/partitioners/default') as () => KafkaJsPartitioner;
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer) => number;

const VECTORS: [string, number][] = [
  ['0', 971027396],
  ['1', -1993445489],
  ['128', -326012175],
  ['2187', -1508407203],
  ['100:48069', 1009543857],
  ['', 275646681],
  ['kafka', -798503068],
];

describe('murmur2', () => {
  it.each(VECTORS)('murmur2(%j) = %d as in Java', (key, expected) => {
    expect(murmur2(Buffer.from(key))).toBe(expected);
  });

  it('maps "1" to partition 3 of 6, with & 0x7fffffff rather than Math.abs', () => {
    expect(partitionForKey('1', 6)).toBe(3);
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(-1)).toBe(0x7fffffff);
  });

  it('rejects a partition count that is not a positive integer', () => {
    expect(() => partitionForKey('k', 0)).toThrow(RangeError);
    expect(() => partitionForKey('k', 1.5)).toThrow(RangeError);
  });
});

describe('KafkaJS DefaultPartitioner cross-check', () => {
  // Replay a failure with SEED=<n> npx vitest run packages/client.
  const seed = Number(process.env.SEED ?? Date.now() % 0x7fffffff);
  it(`agrees with KafkaJS 2.2.4 on random keys and partition counts (seed=${seed})`, () => {
    console.log('partitioner cross-check seed=', seed);
    const kafkajs = kafkajsDefault();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 1000 }), (bytes, numPartitions) => {
        const key = Buffer.from(bytes);
        const partitionMetadata = Array.from({ length: numPartitions }, (_, i) => ({ partitionId: i, leader: 1 }));
        expect(murmur2(key)).toBe(kafkajsMurmur2(key));
        expect(partitionForKey(key, numPartitions)).toBe(kafkajs({ topic: 't', partitionMetadata, message: { key } }));
      }),
      { seed, numRuns: 2000 },
    );
  });

  it(`agrees with KafkaJS on string keys (UTF-8) (seed=${seed})`, () => {
    const kafkajs = kafkajsDefault();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.integer({ min: 1, max: 64 }), (key, n) => {
        const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 1 }));
        expect(partitionForKey(key, n)).toBe(kafkajs({ topic: 't', partitionMetadata, message: { key } }));
      }),
      { seed, numRuns: 500 },
    );
  });
});

describe('sticky partitioner for records without a key', () => {
  it('sticks to one partition until its batch closes, then moves to another', () => {
    const p = new DefaultPartitioner({ random: new SeededRandom(7) });
    const req = { topic: 't', key: null, numPartitions: 6 };
    const first = p.partition(req);
    for (let i = 0; i < 100; i++) expect(p.partition(req)).toBe(first);
    p.onBatchClosed('t', (first + 1) % 6); // another partition's batch: no move
    expect(p.partition(req)).toBe(first);
    p.onBatchClosed('t', first);
    const second = p.partition(req);
    expect(second).not.toBe(first);
    expect(second).toBeGreaterThanOrEqual(0);
    expect(second).toBeLessThan(6);
  });

  it('visits every partition over many closed batches', () => {
    const p = new DefaultPartitioner({ random: new SeededRandom(11) });
    const req = { topic: 't', key: null, numPartitions: 5 };
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const part = p.partition(req);
      seen.add(part);
      p.onBatchClosed('t', part);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('prefers available partitions and leaves a partition that became unavailable', () => {
    const cache = new StickyPartitionCache(new SeededRandom(3));
    for (let i = 0; i < 50; i++) {
      const part = cache.partition('t', 8, [2, 5]);
      expect([2, 5]).toContain(part);
      cache.onBatchClosed('t', part, 8, [2, 5]);
    }
    const now = cache.partition('t', 8, [2, 5]);
    const other = now === 2 ? 5 : 2;
    expect(cache.partition('t', 8, [other])).toBe(other);
  });

  it('keeps keyed records on their murmur2 partition, unless partitioner.ignore.keys', () => {
    const keyed = new DefaultPartitioner({ random: new SeededRandom(1) });
    expect(keyed.partition({ topic: 't', key: Buffer.from('1'), numPartitions: 6 })).toBe(3);
    const ignoring = new DefaultPartitioner({ random: new SeededRandom(1), ignoreKeys: true });
    const sticky = ignoring.partition({ topic: 't', key: null, numPartitions: 6 });
    for (const k of ['1', '2', 'kafka']) {
      expect(ignoring.partition({ topic: 't', key: Buffer.from(k), numPartitions: 6 })).toBe(sticky);
    }
  });
});
