// The consumer against in-process fake brokers: seek (offset inside a batch,
// earliest, latest, timestamp), poll across batches and partitions, control
// batches skipped, a leader change followed, OFFSET_OUT_OF_RANGE per
// auto.offset.reset; and the admin client's topic calls and metadata.
import { encodeBatch, encodeEndTransactionMarker } from '@raftka/codec';
import { afterEach, describe, expect, it } from 'vitest';
import { Admin, Consumer, type ConsumerRecord, Producer } from '../src/index.js';
import { FakeCluster } from './fake-cluster.js';

let cluster: FakeCluster | undefined;
const closers: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const c of closers.splice(0)) await c.close().catch(() => {});
  await cluster?.close();
  cluster = undefined;
});

async function start(brokers: number[]): Promise<FakeCluster> {
  cluster = await FakeCluster.start(brokers);
  return cluster;
}

function consumer(c: FakeCluster, config: Record<string, string | number> = {}): Consumer {
  const k = new Consumer({
    bootstrap: c.bootstrap,
    config: { 'fetch.max.wait.ms': 50, 'retry.backoff.ms': 10, ...config },
  });
  closers.push(k);
  return k;
}

/** Appends `count` records as batches of `perBatch`, values "v<offset>", timestamps 1000 + offset. */
function fill(c: FakeCluster, topic: string, partition: number, count: number, perBatch: number): void {
  const p = c.partition(topic, partition);
  for (let i = 0; i < count; i += perBatch) {
    const n = Math.min(perBatch, count - i);
    const base = p.logEndOffset;
    p.append(
      encodeBatch({
        records: Array.from({ length: n }, (_, j) => ({
          key: Buffer.from(`k${base + j}`),
          value: Buffer.from(`v${base + j}`),
          timestamp: 1000 + base + j,
        })),
      }),
    );
  }
}

async function pollUntil(k: Consumer, count: number, timeoutMs = 10_000): Promise<ConsumerRecord[]> {
  const out: ConsumerRecord[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) out.push(...(await k.poll(200)));
  return out;
}

const values = (rs: readonly ConsumerRecord[]) => rs.map((r) => r.value!.toString());

describe('Consumer', () => {
  it('seeks to an offset inside a batch and polls on across batches', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    fill(c, 't', 0, 30, 7);
    const k = consumer(c, { 'max.poll.records': 8 });
    const tp = { topic: 't', partition: 0 };
    k.assign([tp]);
    await k.seek(tp, { offset: 10 });
    // Under load the first answer may take a while: poll until something comes (bounded).
    let first: ConsumerRecord[] = [];
    for (let i = 0; i < 50 && first.length === 0; i++) first = await k.poll(200);
    // max.poll.records bounds one poll; the rest stays buffered for the next.
    expect(first.length).toBeLessThanOrEqual(8);
    expect(first[0]).toMatchObject({ topic: 't', partition: 0, offset: 10, timestamp: 1010, leaderEpoch: 0 });
    expect(first[0]!.key!.toString()).toBe('k10');
    const rest = await pollUntil(k, 20 - first.length);
    expect([...first, ...rest].map((r) => r.offset)).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i));
    expect(k.position(tp)).toBe(30);
    expect(await k.poll(100)).toEqual([]);
  });

  it('seeks to earliest, latest and a timestamp through ListOffsets', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    fill(c, 't', 0, 10, 4);
    c.partition('t', 0).deleteBefore(4);
    const k = consumer(c);
    const tp = { topic: 't', partition: 0 };
    k.assign([tp]);
    await k.seek(tp, 'earliest');
    expect(k.position(tp)).toBe(4);
    await k.seek(tp, 'latest');
    expect(k.position(tp)).toBe(10);
    await k.seek(tp, { timestamp: 1006 });
    expect(k.position(tp)).toBe(6);
    expect(values(await pollUntil(k, 4))).toEqual(['v6', 'v7', 'v8', 'v9']);
    // After the last record's time: the end of the log.
    await k.seek(tp, { timestamp: 99_999 });
    expect(k.position(tp)).toBe(10);
    expect(await k.endOffsets([tp])).toEqual(new Map([['t-0', 10]]));
    expect(await k.beginningOffsets([tp])).toEqual(new Map([['t-0', 4]]));
  });

  it('reads what a Producer wrote, from several partitions on two brokers', async () => {
    const c = await start([1, 2]);
    c.createTopic('t', 4, (p) => 1 + (p % 2));
    const producer = new Producer({ bootstrap: c.bootstrap, config: { 'linger.ms': 1 } });
    closers.push(producer);
    const sent = await Promise.all(
      Array.from({ length: 100 }, (_, i) => producer.send({ topic: 't', key: `k${i}`, value: `v${i}` })),
    );
    const k = consumer(c, { 'auto.offset.reset': 'earliest' });
    k.assign([0, 1, 2, 3].map((partition) => ({ topic: 't', partition })));
    const got = await pollUntil(k, 100);
    expect(got).toHaveLength(100);
    const byValue = new Map(got.map((r) => [r.value!.toString(), r]));
    sent.forEach((md, i) => {
      expect(byValue.get(`v${i}`)).toMatchObject({ partition: md.partition, offset: md.offset });
    });
  });

  it('skips control batches and moves its position past them', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    fill(c, 't', 0, 3, 3);
    c.partition('t', 0).append(
      encodeEndTransactionMarker({ type: 1, coordinatorEpoch: 0, producerId: 5, producerEpoch: 0, timestamp: 2000 }),
    );
    fill(c, 't', 0, 2, 2);
    const k = consumer(c, { 'auto.offset.reset': 'earliest' });
    const tp = { topic: 't', partition: 0 };
    k.assign([tp]);
    const got = await pollUntil(k, 5);
    expect(got.map((r) => r.offset)).toEqual([0, 1, 2, 4, 5]);
    expect(k.position(tp)).toBe(6);
  });

  it('follows a leader change to another broker and goes on from its position', async () => {
    const c = await start([1, 2]);
    c.createTopic('t', 1, () => 1);
    fill(c, 't', 0, 5, 5);
    const k = consumer(c, { 'auto.offset.reset': 'earliest' });
    const tp = { topic: 't', partition: 0 };
    k.assign([tp]);
    expect(values(await pollUntil(k, 5))).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    c.moveLeader('t', 0, 2);
    fill(c, 't', 0, 3, 1);
    const after = await pollUntil(k, 3);
    expect(values(after)).toEqual(['v5', 'v6', 'v7']);
    expect(after.every((r) => r.leaderEpoch === 1)).toBe(true);
    expect(c.brokers.get(2)!.fetchRequests).toBeGreaterThan(0);
  });

  it('moves to the new leader while a fetch to the former one hangs (cut off by a partition)', async () => {
    const c = await start([1, 2]);
    c.createTopic('t', 1, () => 1);
    fill(c, 't', 0, 2, 2);
    const k = consumer(c, { 'auto.offset.reset': 'earliest', 'request.timeout.ms': 60_000 });
    const tp = { topic: 't', partition: 0 };
    k.assign([tp]);
    expect(values(await pollUntil(k, 2))).toEqual(['v0', 'v1']);
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    c.hooks.beforeFetch = (brokerId) => (brokerId === 1 ? held : undefined);
    try {
      await k.poll(100); // a fetch goes to broker 1 and hangs there
      c.moveLeader('t', 0, 2);
      fill(c, 't', 0, 1, 1);
      // The consumer learns the move from metadata (the former leader never answers) and reads on at broker 2.
      await k.endOffsets([tp]);
      expect(values(await pollUntil(k, 1, 20_000))).toEqual(['v2']);
    } finally {
      release();
    }
  });

  it('resets per auto.offset.reset on OFFSET_OUT_OF_RANGE, or throws it with none', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    fill(c, 't', 0, 10, 5);
    c.partition('t', 0).deleteBefore(5);
    const tp = { topic: 't', partition: 0 };
    const early = consumer(c, { 'auto.offset.reset': 'earliest' });
    early.assign([tp]);
    await early.seek(tp, { offset: 1 });
    expect((await pollUntil(early, 5)).map((r) => r.offset)).toEqual([5, 6, 7, 8, 9]);

    const strict = consumer(c, { 'auto.offset.reset': 'none' });
    strict.assign([tp]);
    await strict.seek(tp, { offset: 2 });
    let error: unknown;
    for (let i = 0; i < 100 && error === undefined; i++)
      error = await strict.poll(100).then(
        () => undefined,
        (e) => e,
      );
    expect(error).toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
    // Past the end is out of range too.
    await strict.seek(tp, { offset: 11 });
    error = undefined;
    for (let i = 0; i < 100 && error === undefined; i++)
      error = await strict.poll(100).then(
        () => undefined,
        (e) => e,
      );
    expect(error).toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
  });

  it('starts new partitions at the end by default (auto.offset.reset=latest) and waits for records', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    fill(c, 't', 0, 3, 3);
    const k = consumer(c);
    const tp = { topic: 't', partition: 0 };
    k.assign([tp]);
    expect(await k.poll(50)).toEqual([]);
    expect(k.position(tp)).toBe(3);
    const waiting = pollUntil(k, 1, 10_000);
    setTimeout(() => fill(c, 't', 0, 1, 1), 50);
    expect(values(await waiting)).toEqual(['v3']);
  });

  it('refuses partitions that are not assigned and an unknown config key', async () => {
    const c = await start([1]);
    const k = consumer(c);
    expect(() => k.position({ topic: 'x', partition: 0 })).toThrow(/not assigned/);
    expect(() => new Consumer({ bootstrap: c.bootstrap, config: { 'group.id': 'g' } })).toThrow(/group.id/);
  });
});

describe('Admin', () => {
  it('creates, describes, lists and deletes topics, learning the cluster id from a broker', async () => {
    const c = await start([1, 2]);
    const admin = new Admin({ bootstrap: c.bootstrap });
    closers.push(admin);
    const [created] = await admin.createTopics([{ name: 'orders', numPartitions: 3, replicationFactor: 2 }]);
    expect(created).toMatchObject({ name: 'orders', numPartitions: 3, error: null });
    await expect(admin.createTopics([{ name: 'orders', numPartitions: 3 }])).rejects.toMatchObject({
      errorName: 'TOPIC_ALREADY_EXISTS',
    });
    await admin.createTopics([{ name: 'orders', numPartitions: 3 }], { ifNotExists: true });
    const [d] = await admin.describeTopics(['orders']);
    expect(d!.partitions.map((p) => p.leader)).toEqual([1, 2, 1]);
    expect(await admin.listTopics()).toEqual([{ name: 'orders', topicId: 'id-orders' }]);
    const md = await admin.metadata(['orders']);
    expect(md.clusterId).toBe('fake-cluster');
    expect(md.brokers.map((b) => b.nodeId)).toEqual([1, 2]);
    expect(md.topics[0]!.partitions.map((p) => [p.partition, p.leader, p.leaderEpoch])).toEqual([
      [0, 1, 0],
      [1, 2, 0],
      [2, 1, 0],
    ]);
    await admin.deleteTopics(['orders']);
    await expect(admin.describeTopics(['orders'])).rejects.toMatchObject({ errorName: 'UNKNOWN_TOPIC_OR_PARTITION' });
  });
});
