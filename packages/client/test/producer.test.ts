// ProducerCore: records as users write them reach the right partition's
// batch, and the sticky partitioner moves when the accumulator closes a batch.
import { decodeBatch } from '@raftka/codec';
import { SeededRandom } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { ProducerCore, partitionForKey } from '../src/index.js';

const T0 = 1_700_000_000_000;
const clock = { nowMs: () => T0 };

describe('ProducerCore', () => {
  it('puts keyed records on their murmur2 partition with string key, value and headers encoded', async () => {
    const producer = new ProducerCore({ 'enable.idempotence': false }, { clock });
    const sent = await producer.send(
      { topic: 'orders', key: 'kafka', value: 'hello', headers: { trace: 'abc', empty: null } },
      { numPartitions: 6 },
    );
    expect(sent.partition).toBe(partitionForKey('kafka', 6));
    const [d] = producer.accumulator.ready(T0 + 5);
    expect(d!.partition).toBe(sent.partition);
    const [r] = decodeBatch(d!.encoded).records;
    expect(r!.key!.toString()).toBe('kafka');
    expect(r!.value!.toString()).toBe('hello');
    expect(r!.timestamp).toBe(T0);
    expect(r!.headers).toEqual([
      { key: 'trace', value: Buffer.from('abc') },
      { key: 'empty', value: null },
    ]);
  });

  it('honours an explicit partition and rejects one outside the topic', async () => {
    const producer = new ProducerCore({}, { clock });
    expect(
      (await producer.send({ topic: 't', key: 'kafka', value: 'v', partition: 2 }, { numPartitions: 3 })).partition,
    ).toBe(2);
    await expect(producer.send({ topic: 't', value: 'v', partition: 3 }, { numPartitions: 3 })).rejects.toMatchObject({
      errorName: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
  });

  it('moves keyless records to another partition once their batch is full', async () => {
    const producer = new ProducerCore(
      { 'batch.size': 1000, 'enable.idempotence': false },
      { clock, random: new SeededRandom(5) },
    );
    const value = 'x'.repeat(100);
    const partitions: number[] = [];
    for (let i = 0; i < 30; i++)
      partitions.push((await producer.send({ topic: 't', value }, { numPartitions: 4 })).partition);
    // Runs of the same partition, each exactly a full batch: 8 records of 107 bytes + 61 fit in 1000, 9 do not.
    const runs: number[] = [];
    for (let i = 0; i < partitions.length; i++) {
      if (i === 0 || partitions[i] !== partitions[i - 1]) runs.push(1);
      else runs[runs.length - 1]!++;
    }
    expect(runs.slice(0, -1)).toEqual([8, 8, 8]);
    // No record was left behind in a batch of its own on the partition the producer moved away from.
    producer.accumulator.flush();
    const counts: number[] = [];
    for (let round = 0; round < 10; round++) {
      for (const d of producer.accumulator.ready(T0)) {
        counts.push(d.recordCount);
        producer.accumulator.complete(d.batch, { baseOffset: 0 });
      }
    }
    expect(counts.sort()).toEqual([6, 8, 8, 8]);
  });

  it('validates its configuration', () => {
    expect(() => new ProducerCore({ acks: 'some' })).toThrow(/acks/);
  });
});
