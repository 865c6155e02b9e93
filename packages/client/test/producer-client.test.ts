// The producer over the network against in-process fake brokers (real gRPC
// on loopback): batching and one request per leader, keyed partitioning,
// retries through a leader move, idempotent retries after a lost answer
// written once, delivery timeout, acks=0, and a seeded run of all of them.
import { createServer, type Socket } from 'node:net';
import { decodeBatch } from '@raftka/codec';
import { SeededRandom } from '@raftka/common';
import { afterEach, describe, expect, it } from 'vitest';
import { Producer, partitionForKey, type RecordMetadata } from '../src/index.js';
import { FakeCluster, lostAnswer } from './fake-cluster.js';

let cluster: FakeCluster | undefined;
let producers: Producer[] = [];

async function start(brokers: number[]): Promise<FakeCluster> {
  cluster = await FakeCluster.start(brokers);
  return cluster;
}

function producer(c: FakeCluster, config: Record<string, string | number | boolean> = {}): Producer {
  const p = new Producer({ bootstrap: [c.bootstrap[0]!], config: { 'retry.backoff.ms': 20, ...config } });
  producers.push(p);
  return p;
}

afterEach(async () => {
  for (const p of producers) await p.close().catch(() => {});
  producers = [];
  await cluster?.close();
  cluster = undefined;
});

describe('Producer', () => {
  it('batches records sent together into one request per leader, offsets dense and in send order', async () => {
    const c = await start([1, 2]);
    c.createTopic('t', 4, (p) => (p < 2 ? 1 : 2));
    const p = producer(c, { 'linger.ms': 50 });
    await p.connect();
    const sends: Promise<RecordMetadata>[] = [];
    for (let i = 0; i < 200; i++) sends.push(p.send({ topic: 't', key: `k${i}`, value: `v${i}` }));
    const results = await Promise.all(sends);
    const requests = [...c.brokers.values()].flatMap((b) => b.produceRequests);
    // 200 small records, 4 partitions, one linger: a request per broker carrying both of its partitions.
    expect(requests.length).toBeLessThanOrEqual(4);
    expect(requests.some((r) => r.topics[0]!.partitions.length === 2)).toBe(true);
    for (let part = 0; part < 4; part++) {
      const mine = results.filter((r) => r.partition === part).map((r) => r.offset);
      expect(mine).toEqual(mine.map((_, i) => i));
      expect(
        c
          .partition('t', part)
          .records()
          .map((r) => r.offset),
      ).toEqual(mine);
    }
  });

  it('fails a request queued on a connect to a fenced broker at once and retries it at the new leader, not after request.timeout.ms', async () => {
    const c = await start([1, 2]);
    c.createTopic('t', 1, () => 1);
    const p = producer(c, { 'request.timeout.ms': 60_000, 'delivery.timeout.ms': 120_000 });
    await p.connect();
    await p.send({ topic: 't', partition: 0, key: null, value: 'before' });
    // Broker 1's address becomes a black hole, like a killed container's: connections are taken
    // and never answered, so a reconnect never completes. The cluster fences broker 1 and moves
    // the leader a moment later; nothing tells the producer.
    const broker1 = c.brokers.get(1)!;
    const port = broker1.server.port;
    await broker1.server.close(0);
    const sockets: Socket[] = [];
    const hole = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hole.listen(port, '127.0.0.1', resolve));
    try {
      const sent = p.send({ topic: 't', partition: 0, key: null, value: 'after' });
      await new Promise((r) => setTimeout(r, 300));
      c.fenced.add(1);
      c.moveLeader('t', 0, 2);
      const outcome = await Promise.race([sent, new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 20_000))]);
      if (outcome === 'stuck') throw new Error('the send waited on the fenced broker');
      expect(outcome.offset).toBe(1);
      expect(c.brokers.get(2)?.produceRequests.length).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });

  it("puts keyed records on murmur2's partition (Java's and KafkaJS's) and keyless ones on few batches", async () => {
    const c = await start([1]);
    c.createTopic('t', 6);
    const p = producer(c);
    const keyed = await Promise.all(
      Array.from({ length: 50 }, (_, i) => p.send({ topic: 't', key: `user-${i}`, value: 'x' })),
    );
    keyed.forEach((md, i) => {
      expect(md.partition).toBe(partitionForKey(`user-${i}`, 6));
    });
    const before = c.brokers.get(1)!.produceRequests.length;
    await Promise.all(Array.from({ length: 50 }, () => p.send({ topic: 't', value: 'keyless' })));
    // Sticky partitioning: 50 keyless records of one burst go to one partition's batch.
    const batches = c.brokers
      .get(1)!
      .produceRequests.slice(before)
      .flatMap((r) => r.topics.flatMap((t) => t.partitions));
    expect(batches.length).toBe(1);
  });

  it('retries after NOT_LEADER_OR_FOLLOWER at the new leader once metadata shows the move', async () => {
    const c = await start([1, 2]);
    c.createTopic('t', 1, () => 1);
    const p = producer(c);
    await p.connect();
    let moved = false;
    c.hooks.beforeProduce = (brokerId) => {
      if (brokerId === 1 && !moved) {
        moved = true;
        c.moveLeader('t', 0, 2);
      }
    };
    const md = await p.send({ topic: 't', value: 'hello' });
    expect(md).toMatchObject({ topic: 't', partition: 0, offset: 0 });
    // A retry may still find the old leader before the refreshed metadata arrives; it lands once, at the new one.
    expect(c.brokers.get(1)!.produceRequests.length).toBeGreaterThanOrEqual(1);
    expect(c.brokers.get(2)!.produceRequests.length).toBe(1);
    expect(c.partition('t', 0).records()).toEqual([{ offset: 0, key: null, value: 'hello' }]);
  });

  it('writes an idempotent batch once when its first answer is lost', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    const p = producer(c);
    let lost = 0;
    c.hooks.afterProduce = () => {
      if (lost++ === 0) throw lostAnswer();
    };
    const results = await Promise.all([0, 1, 2].map((i) => p.send({ topic: 't', value: `v${i}` })));
    expect(results.map((r) => r.offset)).toEqual([0, 1, 2]);
    expect(c.brokers.get(1)!.produceRequests.length).toBe(2);
    expect(
      c
        .partition('t', 0)
        .records()
        .map((r) => r.value),
    ).toEqual(['v0', 'v1', 'v2']);
  });

  it('without idempotence, the same lost answer writes the batch twice (why idempotence is the default)', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    const p = producer(c, { 'enable.idempotence': false });
    let lost = 0;
    c.hooks.afterProduce = () => {
      if (lost++ === 0) throw lostAnswer();
    };
    await p.send({ topic: 't', value: 'once?' });
    expect(
      c
        .partition('t', 0)
        .records()
        .map((r) => r.value),
    ).toEqual(['once?', 'once?']);
  });

  it('fails records with DeliveryTimeoutError when retriable errors outlast delivery.timeout.ms', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    c.partition('t', 0).injectedErrors.push(...Array<'NOT_ENOUGH_REPLICAS'>(10_000).fill('NOT_ENOUGH_REPLICAS'));
    const p = producer(c, {
      'delivery.timeout.ms': 1500,
      'request.timeout.ms': 1000,
      'linger.ms': 0,
      'retry.backoff.ms': 30,
    });
    const err = await p.send({ topic: 't', value: 'v' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'DeliveryTimeoutError', errorName: 'REQUEST_TIMED_OUT' });
    expect((err as Error).message).toMatch(/NOT_ENOUGH_REPLICAS/);
    expect(c.partition('t', 0).log).toEqual([]);
    expect(c.brokers.get(1)!.produceRequests.length).toBeGreaterThan(1);
  });

  it('fails at once with a non-retriable error, Kafka name included', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    c.partition('t', 0).injectedErrors.push('INVALID_RECORD');
    const p = producer(c);
    await expect(p.send({ topic: 't', value: 'v' })).rejects.toMatchObject({ errorName: 'INVALID_RECORD' });
    expect(c.brokers.get(1)!.produceRequests.length).toBe(1);
  });

  it('acks=0 resolves with offset -1 without waiting, and the records are written', async () => {
    const c = await start([1]);
    c.createTopic('t', 2);
    const p = producer(c, { acks: 0 });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => p.send({ topic: 't', key: `k${i}`, value: 'v' })),
    );
    expect(results.every((r) => r.offset === -1)).toBe(true);
    await p.close();
    const written = c.partition('t', 0).records().length + c.partition('t', 1).records().length;
    expect(written).toBe(20);
    expect(c.brokers.get(1)!.produceRequests.every((r) => r.acks === 0)).toBe(true);
  });

  it('fails a send to a topic that does not exist after max.block.ms', async () => {
    const c = await start([1]);
    const p = producer(c, { 'max.block.ms': 300 });
    await expect(p.send({ topic: 'nope', value: 'v' })).rejects.toMatchObject({
      errorName: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
  });

  it('flush() sends lingering batches at once; close() drains and later sends fail', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    const p = producer(c, { 'linger.ms': 60_000, 'delivery.timeout.ms': 120_000 });
    const sent = p.send({ topic: 't', value: 'a' });
    await p.flush();
    await expect(sent).resolves.toMatchObject({ offset: 0 });
    const late = p.send({ topic: 't', value: 'b' });
    await p.close();
    await expect(late).resolves.toMatchObject({ offset: 1 });
    await expect(p.send({ topic: 't', value: 'c' })).rejects.toMatchObject({ errorName: 'SHUTTING_DOWN' });
  });

  it('compresses batches with compression.type', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    const p = producer(c, { 'compression.type': 'lz4' });
    await Promise.all(Array.from({ length: 30 }, (_, i) => p.send({ topic: 't', value: `value-${i}`.repeat(20) })));
    const batch = decodeBatch(c.partition('t', 0).log[0]!.bytes);
    expect(batch.compression).toBe(3);
    expect(c.partition('t', 0).records()).toHaveLength(30);
  });

  it('keeps every acknowledged record exactly once and in order through leader moves and lost answers (seeded)', async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100_000);
    console.log('producer chaos seed=', seed);
    const rnd = new SeededRandom(seed);
    const c = await start([1, 2, 3]);
    c.createTopic('t', 3, (p) => p + 1);
    const p = producer(c, { 'linger.ms': 2, 'batch.size': 2048, 'retry.backoff.ms': 5 });
    c.hooks.beforeProduce = () => {
      if (rnd.chance(0.1)) c.moveLeader('t', rnd.int(0, 3), rnd.int(1, 4));
      if (rnd.chance(0.05)) throw lostAnswer();
    };
    c.hooks.afterProduce = () => {
      if (rnd.chance(0.12)) throw lostAnswer();
    };
    const sends: Promise<RecordMetadata>[] = [];
    for (let i = 0; i < 600; i++) {
      sends.push(p.send({ topic: 't', key: `k${i % 37}`, value: `${i}` }));
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    const results = await Promise.all(sends);
    for (let part = 0; part < 3; part++) {
      const log = c.partition('t', part).records();
      const acked = results
        .map((r, i) => ({ r, i }))
        .filter(({ r }) => r.partition === part)
        .map(({ r, i }) => ({ offset: r.offset, value: String(i) }));
      // Exactly once: the log holds the acknowledged records, each once, at their acknowledged offsets, in send order.
      expect(
        log.map((r) => ({ offset: r.offset, value: r.value })),
        `seed=${seed}`,
      ).toEqual(acked);
    }
  });
});

describe('Producer idempotence after a batch fails for good', () => {
  it('takes a new producer id so that the sequence gap does not fail every later batch', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    c.partition('t', 0).injectedErrors.push('INVALID_RECORD');
    const p = producer(c, { 'linger.ms': 0 });
    await expect(p.send({ topic: 't', value: 'bad' })).rejects.toMatchObject({ errorName: 'INVALID_RECORD' });
    await expect(p.send({ topic: 't', value: 'good' })).resolves.toMatchObject({ offset: 0 });
    const producerIds = [...c.partition('t', 0).producers.keys()];
    expect(producerIds).toHaveLength(1);
    expect(
      c
        .partition('t', 0)
        .records()
        .map((r) => r.value),
    ).toEqual(['good']);
  });

  it('retries a batch refused as OUT_OF_ORDER_SEQUENCE_NUMBER while an earlier one is unacknowledged', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    const p = producer(c, { 'linger.ms': 0, 'batch.size': 100 });
    await p.connect();
    // The first batch's answer is lost; the broker never saw it. Batches behind it are refused for the gap.
    let first = true;
    c.hooks.beforeProduce = () => {
      if (first) {
        first = false;
        throw lostAnswer();
      }
    };
    const results = await Promise.all([0, 1, 2, 3].map((i) => p.send({ topic: 't', value: `record-${i}` })));
    expect(results.map((r) => r.offset)).toEqual([0, 1, 2, 3]);
    expect(
      c
        .partition('t', 0)
        .records()
        .map((r) => r.value),
    ).toEqual(['record-0', 'record-1', 'record-2', 'record-3']);
  });
});

describe('Producer.produce (callbacks)', () => {
  it('calls back once per record with its metadata or error, even when another callback throws', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    const p = producer(c, { 'linger.ms': 20 });
    await p.connect();
    await p.send({ topic: 't', value: 'warm-up' }); // metadata cached: the next records take the synchronous path
    const seen: (number | string)[] = [];
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 5; i++) {
        p.produce({ topic: 't', value: `v${i}` }, (err, md) => {
          seen.push(err === undefined ? md!.offset : String(err));
          if (i === 1) throw new Error('callback bug');
        });
      }
      p.produce({ topic: '', value: 'x' }, (err) => seen.push((err as { errorName: string }).errorName));
      await p.flush();
      await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(seen).toEqual(['INVALID_TOPIC_EXCEPTION', 1, 2, 3, 4, 5]);
    expect(uncaught).toHaveLength(1);
  });
});

describe('Producer with several batches of a partition in flight', () => {
  it('writes exactly once and in order when a later request overtakes an earlier one', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    const p = new Producer({
      bootstrap: c.bootstrap,
      config: { 'linger.ms': 0, 'batch.size': 200, 'retry.backoff.ms': 5 },
      maxInFlightPerPartition: 3,
    });
    producers.push(p);
    await p.connect();
    let calls = 0;
    c.hooks.beforeProduce = async () => {
      // The second request (the first one pipelined) is held back, as a large message can be on a
      // multiplexed connection; the two sent right after it arrive first.
      if (calls++ === 1) await new Promise((r) => setTimeout(r, 200));
    };
    let refused = 0;
    c.hooks.afterProduce = (_broker, _request, response) => {
      for (const t of response.topics) for (const part of t.partitions) if (part.error_code === 45) refused++;
    };
    const values = Array.from({ length: 40 }, (_, i) => `record-${String(i).padStart(3, '0')}`);
    const results = await Promise.all(values.map((value) => p.send({ topic: 't', value })));
    expect(results.map((r) => r.offset)).toEqual(values.map((_, i) => i));
    expect(
      c
        .partition('t', 0)
        .records()
        .map((r) => r.value),
    ).toEqual(values);
    // The overtaking did happen: batches were refused as OUT_OF_ORDER_SEQUENCE_NUMBER and retried.
    expect(refused).toBeGreaterThan(0);
  });
});

describe('Producer pipelining against a broker that takes any first sequence (as Kafka does)', () => {
  it("keeps the partition's first batch alone in flight, so nothing overtakes it", async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    c.partition('t', 0).lenientFirstSequence = true;
    const p = new Producer({
      bootstrap: c.bootstrap,
      config: { 'linger.ms': 0, 'batch.size': 200, 'retry.backoff.ms': 5 },
      maxInFlightPerPartition: 5,
    });
    producers.push(p);
    await p.connect();
    let calls = 0;
    c.hooks.beforeProduce = async () => {
      if (calls++ === 0) await new Promise((r) => setTimeout(r, 50));
    };
    const values = Array.from({ length: 30 }, (_, i) => `record-${String(i).padStart(3, '0')}`);
    await Promise.all(values.map((value) => p.send({ topic: 't', value })));
    expect(
      c
        .partition('t', 0)
        .records()
        .map((r) => r.value),
    ).toEqual(values);
  });
});

describe('Producer.close with a timeout', () => {
  it('fails what is still queued with SHUTTING_DOWN instead of waiting for delivery.timeout.ms', async () => {
    const c = await start([1]);
    c.createTopic('t', 1);
    c.partition('t', 0).leader = -1; // offline: the batch cannot be drained
    const p = producer(c, { 'linger.ms': 0 });
    await p.connect();
    const sent = p.send({ topic: 't', partition: 0, value: 'stuck' });
    await p.close({ timeoutMs: 100 });
    await expect(sent).rejects.toMatchObject({ errorName: 'SHUTTING_DOWN' });
  });
});

describe('Metadata from a broker that does not answer', () => {
  it('asks the next broker too instead of waiting for request.timeout.ms', async () => {
    const c = await start([1, 2]);
    c.createTopic('t', 1, () => 2);
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    c.hooks.beforeMetadata = (brokerId) => (brokerId === 1 ? held : undefined);
    const p = new Producer({
      bootstrap: c.bootstrap,
      config: { 'request.timeout.ms': 60_000, 'delivery.timeout.ms': 120_000 },
    });
    producers.push(p);
    try {
      // Broker 1 (asked first) holds Metadata for good; the send still goes through, via broker 2's answer.
      await expect(p.send({ topic: 't', value: 'v' })).resolves.toMatchObject({ offset: 0 });
    } finally {
      release();
    }
  });
});
