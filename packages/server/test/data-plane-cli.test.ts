// raftka produce / consume / perf produce / perf consume against the client
// package's in-process fake brokers (real gRPC on loopback): lines in, the
// same records out with key, partition and offset; perf runs print progress
// and end with the figures the JSON line promises.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { partitionForKey } from '@raftka/client';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeCluster } from '../../client/test/fake-cluster.js';
import { runConsume } from '../src/commands/consume.js';
import { brokerCpuMeter, findLocalBrokerPids, runPerfConsume, runPerfProduce } from '../src/commands/perf.js';
import { runProduce } from '../src/commands/produce.js';

let cluster: FakeCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

describe('raftka produce and consume', () => {
  it('sends stdin lines as key:value records and reads them back with partition and offset', async () => {
    cluster = await FakeCluster.start([1, 2]);
    cluster.createTopic('t', 3, (p) => 1 + (p % 2));
    const bootstrap = cluster.bootstrap.join(',');
    const lines = Array.from({ length: 12 }, (_, i) => `user-${i}:event ${i}`);
    const produced = capture();
    const summary = await runProduce(
      { bootstrap, topic: 't', keySeparator: ':', acks: 'all', producerProperty: ['linger.ms=1'] },
      produced.io,
      Readable.from([`${lines.join('\n')}\n`]),
    );
    expect(summary).toMatchObject({ sent: 12, failed: 0 });
    expect(produced.out[0]).toBe('12 record(s) sent to t');
    for (let p = 0; p < 3; p++) {
      const expected = lines.filter((_, i) => partitionForKey(`user-${i}`, 3) === p).length;
      expect(cluster.partition('t', p).records()).toHaveLength(expected);
    }

    const consumed = capture();
    const count = await runConsume(
      { bootstrap, topic: 't', fromBeginning: true, maxMessages: 12, timeoutMs: 5000, consumerProperty: [] },
      consumed.io,
    );
    expect(count).toBe(12);
    const rows = consumed.out.map((l) => l.split('\t'));
    for (const [partition, offset, key, value] of rows) {
      const i = Number(key!.slice('user-'.length));
      expect(value).toBe(`event ${i}`);
      expect(Number(partition)).toBe(partitionForKey(key!, 3));
      expect(cluster.partition('t', Number(partition)).records()[Number(offset)]!.key).toBe(key);
    }
    expect(consumed.err).toEqual(['Processed a total of 12 messages']);

    const busiest = [0, 1, 2].reduce((a, b) =>
      cluster!.partition('t', a).logEndOffset >= cluster!.partition('t', b).logEndOffset ? a : b,
    );
    const one = capture();
    await runConsume(
      {
        bootstrap,
        topic: 't',
        partition: busiest,
        offset: 1,
        json: true,
        maxMessages: 1,
        timeoutMs: 3000,
        consumerProperty: [],
      },
      one.io,
    );
    expect(JSON.parse(one.out[0]!)).toMatchObject({ topic: 't', partition: busiest, offset: 1 });
  });

  it('reports failed records with their Kafka error and counts them', async () => {
    cluster = await FakeCluster.start([1]);
    cluster.createTopic('t', 1);
    cluster.partition('t', 0).injectedErrors.push('INVALID_RECORD');
    const c = capture();
    const summary = await runProduce(
      { bootstrap: cluster.bootstrap.join(','), topic: 't', acks: '1', producerProperty: ['linger.ms=0'] },
      c.io,
      Readable.from(['a\n']),
    );
    expect(summary).toMatchObject({ sent: 0, failed: 1 });
    expect(c.err[0]).toMatch(/^error: INVALID_RECORD/);
    await expect(
      runProduce(
        { bootstrap: cluster.bootstrap.join(','), topic: 'missing', acks: 'all', producerProperty: [] },
        capture().io,
        Readable.from(['a\n']),
      ),
    ).rejects.toThrow(/topic missing does not exist/);
  });
});

describe('raftka perf', () => {
  it('perf produce creates the topic, prints progress and figures; perf consume reads it all back', async () => {
    cluster = await FakeCluster.start([1, 2, 3]);
    const bootstrap = cluster.bootstrap.join(',');
    const c = capture();
    const result = await runPerfProduce(
      { bootstrap, adminBootstrap: bootstrap, duration: 1.2, reportingIntervalMs: 400, recordSize: 512 },
      c.io,
    );
    expect(cluster.topics.get('perf')!.partitions).toHaveLength(6);
    expect(cluster.topicConfigs.get('perf')).toEqual({ 'min.insync.replicas': '2' });
    expect(result.errors).toBe(0);
    expect(result.records).toBeGreaterThan(0);
    expect(result).toMatchObject({ topic: 'perf', acks: 'all', recordSize: 512, brokerCpuPercent: {} });
    for (const key of ['recordsPerSec', 'mbPerSec', 'p50Ms', 'p99Ms', 'maxMs'] as const) {
      expect(Number.isFinite(result[key])).toBe(true);
    }
    expect(c.out.some((l) => /records sent, [\d.]+ records\/sec \([\d.]+ MB\/sec\)/.test(l))).toBe(true);
    const written = cluster.topics.get('perf')!.partitions.reduce((n, p) => n + p.logEndOffset, 0);
    expect(written).toBe(result.records);

    const again = await runPerfProduce(
      { bootstrap, adminBootstrap: bootstrap, numRecords: 100, duration: 30, acks: '1', producers: 2 },
      capture().io,
    );
    expect(again.records).toBe(100);

    const consumed = await runPerfConsume({ bootstrap, timeoutMs: 1000 }, capture().io);
    expect(consumed.records).toBe(result.records + 100);
    expect(consumed.bytes).toBe(result.records * 512 + 100 * 1024);
  });
});

describe('perf CPU figures', () => {
  it.runIf(process.platform === 'linux')(
    'finds a local broker process by the listener on its command line',
    async () => {
      const endpoint = '127.0.0.1:65001';
      const child = spawn(
        process.execPath,
        [
          '-e',
          'const t = Date.now(); while (Date.now() - t < 300); setTimeout(() => {}, 10000)',
          'broker',
          '--override',
          `listeners=PLAINTEXT://${endpoint}`,
          'x',
        ],
        { stdio: 'ignore' },
      );
      try {
        await new Promise((r) => setTimeout(r, 100));
        expect(findLocalBrokerPids([endpoint, '127.0.0.1:65002'])).toEqual(new Map([[endpoint, child.pid]]));
        const meter = brokerCpuMeter([endpoint]);
        await new Promise((r) => setTimeout(r, 300));
        expect(meter()[endpoint]).toBeGreaterThanOrEqual(0);
      } finally {
        child.kill();
      }
    },
  );
});
