// The broker data plane end to end in one process: three ReplicaManagers
// behind real gRPC, real partition logs, a model controller (see the
// harness). Checks Kafka's produce semantics per acks level, min ISR, the
// error codes of a non-leader and of stale or future leader epochs,
// idempotent duplicates, ISR shrink and expand, and truncation of a
// divergent tail after a leader change (logs identical by batch CRC).
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodeBatch, readBatchHeader } from '@raftka/codec';
import { encodeCheckpoint, PARTITION_STATE_CHECKPOINT, readCheckpoint } from '@raftka/log';
import { afterEach, describe, expect, it } from 'vitest';
import { REPLICATION_OFFSET_CHECKPOINT, readReplicationOffsets } from '../src/replication-offset-checkpoint.js';
import { DataPlaneCluster, until } from './data-plane-harness.js';

let cluster: DataPlaneCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function threeBrokers(): Promise<DataPlaneCluster> {
  cluster = new DataPlaneCluster();
  await cluster.start([101, 102, 103]);
  return cluster;
}

/**
 * Brokers 101 and 102 with a topic 'quiet' (leader 101) written once, whose
 * long polls are never answered early and whose ISR never shrinks: without
 * the fetcher's re-sends a new partition's acks=all write times out.
 */
async function quietPair(): Promise<DataPlaneCluster> {
  cluster = new DataPlaneCluster({
    replicaFetchWaitMaxMs: 30_000,
    requestTimeoutMs: 30_000,
    replicaLagTimeMaxMs: 30_000,
  });
  await cluster.start([101, 102]);
  await cluster.createTopic('quiet', [[101, 102]]);
  expect((await cluster.produce('quiet', 0, ['x'])).error_code).toBe(0);
  return cluster;
}

function batchCrcs(c: DataPlaneCluster, broker: number, topic: string, partition: number): string[] {
  const p = c.rm(broker).partition(topic, partition);
  if (p === undefined) return [];
  const out: string[] = [];
  let offset = p.log.logStartOffset;
  while (offset < p.log.logEndOffset) {
    const read = p.log.read(offset, 1 << 20);
    for (const b of read.batches) {
      const h = readBatchHeader(b);
      out.push(`${h?.baseOffset}:${h?.crc}`);
    }
    if (read.batches.length === 0) break;
    offset = read.nextOffset;
  }
  return out;
}

describe('broker data plane', () => {
  it('answers acks=all once every ISR member has the batch; consumers see up to the HW only', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]], { 'min.insync.replicas': '2' });
    const r = await c.produce('t', 0, ['a', 'b', 'c']);
    expect(r.error_code).toBe(0);
    expect(r.base_offset).toBe(0);
    for (const b of [101, 102, 103]) expect(c.rm(b).partition('t', 0)?.log.logEndOffset).toBe(3);
    const second = await c.produce('t', 0, ['d']);
    expect(second.base_offset).toBe(3);
    const f = await c.fetch('t', 0, 0);
    expect(f.error_code).toBe(0);
    expect(f.high_watermark).toBe(4);
    expect(readBatchHeader(f.records)?.baseOffset).toBe(0);
  });

  it('refuses acks=all with NOT_ENOUGH_REPLICAS below min.insync.replicas and appends nothing; acks=1 still works', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]], { 'min.insync.replicas': '2' });
    await c.stopBroker(102);
    await c.stopBroker(103);
    c.moveLeader('t', 0, 101, [101]);
    const leo = c.rm(101).partition('t', 0)?.log.logEndOffset;
    const r = await c.produce('t', 0, ['x']);
    expect(r.error_code).toBe(19); // NOT_ENOUGH_REPLICAS
    expect(r.error_message).toMatch(/min.insync.replicas=2/);
    expect(c.rm(101).partition('t', 0)?.log.logEndOffset).toBe(leo);
    const one = await c.produce('t', 0, ['y'], { acks: 1 });
    expect(one.error_code).toBe(0);
  });

  it('times out acks=all with REQUEST_TIMED_OUT when the followers stop fetching, and the HW does not move', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]], { 'min.insync.replicas': '2' });
    await c.produce('t', 0, ['warm']);
    await c.stopBroker(102);
    await c.stopBroker(103);
    const r = await c.produce('t', 0, ['lonely'], { timeoutMs: 300 });
    expect(r.error_code).toBe(7); // REQUEST_TIMED_OUT
    expect(c.rm(101).partition('t', 0)?.leader?.highWatermark).toBe(1);
  });

  it('answers a non-leader, an unknown topic and stale or future leader epochs with Kafka codes', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]]);
    expect((await c.produce('t', 0, ['x'], { to: 102 })).error_code).toBe(6); // NOT_LEADER_OR_FOLLOWER
    expect((await c.produce('nope', 0, ['x'], { to: 101 })).error_code).toBe(3); // UNKNOWN_TOPIC_OR_PARTITION
    expect((await c.produce('t', 7, ['x'], { to: 101 })).error_code).toBe(3); // no partition 7 either
    c.moveLeader('t', 0, 102);
    await until('102 leads', () => c.rm(102).partition('t', 0)?.leader !== undefined);
    expect((await c.fetch('t', 0, 0, { from: 102, epoch: 0 })).error_code).toBe(74); // FENCED_LEADER_EPOCH
    expect((await c.fetch('t', 0, 0, { from: 102, epoch: 5 })).error_code).toBe(75); // UNKNOWN_LEADER_EPOCH
    const stale = await c.fetch('t', 0, 0, { from: 101, epoch: 1 });
    expect(stale.error_code).toBe(6);
    expect(stale.current_leader).toEqual({ leader_id: 102, leader_epoch: 1 });
  });

  it('answers a retried idempotent batch with its original offset and refuses a sequence gap', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]]);
    const pid = await c.rm(101).initProducerId();
    expect(pid.producer_id).toBeGreaterThanOrEqual(1000);
    const producer = { id: pid.producer_id, epoch: 0, seq: 0 };
    const first = await c.produce('t', 0, ['a', 'b'], { producer });
    const retry = await c.produce('t', 0, ['a', 'b'], { producer });
    expect(retry.error_code).toBe(0);
    expect(retry.base_offset).toBe(first.base_offset);
    expect(c.rm(101).partition('t', 0)?.log.logEndOffset).toBe(2);
    const gap = await c.produce('t', 0, ['z'], { producer: { ...producer, seq: 5 } });
    expect(gap.error_code).toBe(45); // OUT_OF_ORDER_SEQUENCE_NUMBER
    const next = await c.produce('t', 0, ['c'], { producer: { ...producer, seq: 2 } });
    expect(next.base_offset).toBe(2);
    // A new leader rebuilds the producer state from its log and still knows the batch.
    c.moveLeader('t', 0, 102);
    await until('102 leads', () => c.rm(102).partition('t', 0)?.leader !== undefined);
    const afterMove = await c.produce('t', 0, ['c'], { producer: { ...producer, seq: 2 } });
    expect(afterMove.error_code).toBe(0);
    expect(afterMove.base_offset).toBe(2);
    expect(c.rm(102).partition('t', 0)?.log.logEndOffset).toBe(3);
  });

  it('appends five in-flight idempotent batches of one partition in order over ProduceStream', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]]);
    const pid = await c.rm(101).initProducerId();
    let seq = 0;
    const sends = [4000, 1, 1, 1, 1].map((count) => {
      const records = encodeBatch({
        records: Array.from({ length: count }, (_, i) => ({
          key: null,
          value: Buffer.from(`v${i}`),
          timestamp: Date.now(),
        })),
        producerId: pid.producer_id,
        producerEpoch: 0,
        baseSequence: seq,
      });
      seq += count;
      return c.client.produceOrdered(
        c.endpoint(101),
        { acks: -1, timeout_ms: 5000, topics: [{ name: 't', partitions: [{ partition: 0, records }] }] },
        Date.now() + 10_000,
      );
    });
    const answers = await Promise.all(sends);
    expect(answers.map((a) => a.topics[0]?.partitions[0]?.error_code)).toEqual([0, 0, 0, 0, 0]);
    expect(answers.map((a) => a.topics[0]?.partitions[0]?.base_offset)).toEqual([0, 4000, 4001, 4002, 4003]);
  });

  it('shrinks the ISR after replica.lag.time.max.ms without fetches and expands it once the follower caught up', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]], { 'min.insync.replicas': '2' });
    await c.produce('t', 0, ['a']);
    await c.stopBroker(103);
    // A follower at the leader's LEO is in sync however long it is silent (as in Kafka): write past it.
    expect((await c.produce('t', 0, ['b'], { acks: 1 })).error_code).toBe(0);
    await until('ISR shrink committed', () => c.partition('t', 0).isr.length === 2, 8000);
    expect(c.partition('t', 0).isr).toEqual([101, 102]);
    expect((await c.produce('t', 0, ['c'])).error_code).toBe(0);
    await c.startBroker(103);
    await until('ISR expanded', () => c.partition('t', 0).isr.length === 3, 8000);
    expect(c.rm(103).partition('t', 0)?.log.logEndOffset).toBe(3);
  });

  it('truncates a divergent tail after a leader change: all replicas end identical by batch CRC', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]], { 'min.insync.replicas': '2' });
    await c.produce('t', 0, ['committed-1', 'committed-2']);
    await c.stopBroker(102);
    await c.stopBroker(103);
    // acks=1 writes only the old leader ever gets.
    for (let i = 0; i < 3; i++) expect((await c.produce('t', 0, [`doomed-${i}`], { acks: 1 })).error_code).toBe(0);
    expect(c.rm(101).partition('t', 0)?.log.logEndOffset).toBe(5);
    await c.stopBroker(101);
    await c.startBroker(102);
    await c.startBroker(103);
    c.moveLeader('t', 0, 102, [102, 103]);
    await until('102 leads', () => c.rm(102).partition('t', 0)?.leader !== undefined);
    expect((await c.produce('t', 0, ['new-1', 'new-2', 'new-3', 'new-4'])).base_offset).toBe(2);
    await c.startBroker(101);
    await until(
      '101 caught up',
      () => c.rm(101).partition('t', 0)?.log.logEndOffset === 6 && c.partition('t', 0).isr.length === 3,
      8000,
    );
    const reference = batchCrcs(c, 102, 't', 0);
    expect(reference.length).toBeGreaterThan(1);
    expect(batchCrcs(c, 101, 't', 0)).toEqual(reference);
    expect(batchCrcs(c, 103, 't', 0)).toEqual(reference);
    const values: string[] = [];
    const f = await c.fetch('t', 0, 0, { from: 102 });
    expect(f.high_watermark).toBe(6);
    for (let pos = 0; pos < f.records.length; ) {
      const h = readBatchHeader(f.records, pos);
      if (!h) break;
      pos += h.sizeBytes;
      values.push(String(h.baseOffset));
    }
    expect(values).toEqual(['0', '2']);
  });

  it('lists earliest, latest (the HW) and by-timestamp offsets', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]]);
    await c.produce('t', 0, ['a']);
    const t1 = Date.now() + 5;
    await new Promise((r) => setTimeout(r, 10));
    await c.produce('t', 0, ['b', 'c']);
    const res = await c.rm(101).listOffsets({
      cluster_id: '',
      replica_id: -1,
      topics: [
        {
          name: 't',
          partitions: [
            { partition: 0, current_leader_epoch: -1, timestamp: -2 },
            { partition: 0, current_leader_epoch: -1, timestamp: -1 },
            { partition: 0, current_leader_epoch: -1, timestamp: t1 },
          ],
        },
      ],
    });
    expect(res.topics[0]?.partitions.map((p) => p.offset)).toEqual([0, 3, 1]);
  });

  it('wakes a long-polling consumer fetch when the HW passes its offset', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[101, 102, 103]]);
    const pending = c.fetch('t', 0, 0, { maxWaitMs: 5000 });
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await c.produce('t', 0, ['late']);
    const f = await pending;
    expect(f.records.length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(4000);
  });
  it('answers a woken long poll with the partitions that changed only, and honours min bytes across wakes', async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [
      [101, 102, 103],
      [101, 102, 103],
      [101, 102, 103],
    ]);
    const poll = (minBytes: number) =>
      c.client.fetch(
        c.endpoint(101),
        {
          replica_id: -1,
          replica_epoch: -1,
          max_wait_ms: 20_000,
          min_bytes: minBytes,
          max_bytes: 1 << 20,
          topics: [
            {
              topic_id: '',
              name: 't',
              partitions: [0, 1, 2].map((partition) => ({
                partition,
                current_leader_epoch: -1,
                fetch_offset: 0,
                last_fetched_epoch: -1,
                partition_max_bytes: 1 << 20,
              })),
            },
          ],
        },
        Date.now() + 30_000,
      );
    const woken = poll(1);
    await new Promise((r) => setTimeout(r, 50));
    await c.produce('t', 1, ['one']);
    const answer = await woken;
    expect(answer.topics.flatMap((t) => t.partitions.map((p) => p.partition))).toEqual([1]);
    expect(answer.topics[0]?.partitions[0]?.records.length).toBeGreaterThan(0);
    // Two wakes, each too small alone: the second answer carries both partitions.
    const size = answer.topics[0]?.partitions[0]?.records.length as number;
    const both = poll(size * 2 + size);
    await new Promise((r) => setTimeout(r, 50));
    await c.produce('t', 0, ['zero']);
    await c.produce('t', 2, ['two']);
    // Before the 20 s max wait: the answer came from the wakes, not from the timeout's full pass.
    const second = await Promise.race([both, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
    if (second === 'timeout') throw new Error('min bytes was met after the wakes, yet the poll waited for its timeout');
    expect(second.topics.flatMap((t) => t.partitions.map((p) => p.partition))).toEqual([0, 1, 2]);
  });
});

describe('topic deletion', () => {
  it('removes the replicas of a deleted topic and starts a re-created one of the same name empty', async () => {
    cluster = new DataPlaneCluster();
    const c = cluster;
    await c.start([101, 102, 103]);
    const oldId = await c.createTopic('gone', [[101, 102, 103]]);
    expect((await c.produce('gone', 0, ['a', 'b'])).error_code).toBe(0);
    const dir = c.rm(102).partition('gone', 0)?.log.dir as string;
    expect(existsSync(dir)).toBe(true);
    c.commit([{ type: 'RemoveTopic', topicId: oldId }]);
    expect(c.rm(102).partition('gone', 0)).toBeUndefined();
    await until('the directory removed', () => readdirSync(dirname(dir)).every((n) => !n.startsWith('gone-0')));
    c.commit([
      { type: 'Topic', name: 'gone', topicId: 'id-gone-2' },
      {
        type: 'Partition',
        topicId: 'id-gone-2',
        partition: 0,
        replicas: [101, 102, 103],
        isr: [101, 102, 103],
        leader: 101,
        leaderEpoch: 0,
        partitionEpoch: 0,
      },
    ]);
    for (const b of [101, 102, 103]) await c.rm(b).whenLogsOpen();
    expect(c.rm(102).partition('gone', 0)?.log.logEndOffset).toBe(0);
    expect((await c.produce('gone', 0, ['new'])).base_offset).toBe(0);
  });

  it("restores a follower's HW from the log directory's replication-offset-checkpoint after a restart", async () => {
    const c = await threeBrokers();
    await c.createTopic('t', [[102, 101]]);
    expect((await c.produce('t', 0, ['a', 'b', 'c'])).error_code).toBe(0);
    const follower = () => c.rm(101).partition('t', 0);
    await until('the follower learns HW 3', () => follower()?.log.highWatermark === 3);
    const checkpoint = join(c.nodes.get(101)?.dir as string, REPLICATION_OFFSET_CHECKPOINT);
    await until(
      'the checkpoint holds HW 3',
      () => readReplicationOffsets(dirname(checkpoint)).get('t-0')?.highWatermark === 3,
    );
    const partitionDir = follower()?.log.dir as string;
    await c.stopBroker(102);
    await c.stopBroker(101);
    // The log's own state file as a crash would leave it: written before the HW moved.
    const statePath = join(partitionDir, PARTITION_STATE_CHECKPOINT);
    const lines = (readCheckpoint(statePath, 'raftka-partition-state', 1) as string[]).map((l) =>
      l.startsWith('high-watermark ') ? 'high-watermark 0' : l,
    );
    writeFileSync(statePath, encodeCheckpoint('raftka-partition-state', 1, lines));
    // Its leader stays down, so only the checkpoint can give the follower its HW back.
    await c.startBroker(101);
    expect(follower()?.log.highWatermark).toBe(3);
    // A topic re-created under the same name would have another id: that line is ignored.
    expect(readReplicationOffsets(dirname(checkpoint)).get('t-0')?.topicId).toBe('id-t');
  });

  it('re-sends a follower long poll at once when a partition joins its fetcher, instead of after replica.fetch.wait.max.ms', async () => {
    const c = await quietPair();
    // Give 102's fetcher time to park its next long poll on 101 (nothing more is written to 'quiet').
    await new Promise((r) => setTimeout(r, 300));
    await c.createTopic('joined', [[101, 102]]);
    const r = await c.produce('joined', 0, ['y'], { timeoutMs: 10_000 });
    expect(r.error_code).toBe(0);
  });

  it('does not let a long poll outlast the backoff of a partition that asked its new leader too early', async () => {
    const c = await quietPair();
    await c.createTopic('moved', [[102, 101]]);
    // 101 learns of its leadership late: 102's first fetch for 'moved' gets an error and backs off,
    // while its long poll for 'quiet' stays parked on 101.
    c.hold(101);
    c.moveLeader('moved', 0, 101);
    await new Promise((r) => setTimeout(r, 300));
    c.release(101);
    const r = await c.produce('moved', 0, ['y'], { timeoutMs: 10_000 });
    expect(r.error_code).toBe(0);
  });

  it('forgets an idle producer after producer.id.expiration.ms: its old sequence is then taken as new', async () => {
    cluster = new DataPlaneCluster({ producerIdExpirationMs: 300, producerIdExpirationCheckIntervalMs: 100 });
    const c = cluster;
    await c.start([101, 102]);
    await c.createTopic('t', [[101, 102]]);
    const producer = { id: 5000, epoch: 0, seq: 0 };
    const first = await c.produce('t', 0, ['a'], { producer });
    expect(first.error_code).toBe(0);
    // A retry while the producer is known is a duplicate: same offset, nothing appended.
    expect((await c.produce('t', 0, ['a'], { producer })).base_offset).toBe(first.base_offset);
    await until('the producer expires', () => c.rm(101).partition('t', 0)?.producers.entry(5000) === undefined);
    const again = await c.produce('t', 0, ['a'], { producer });
    expect(again.error_code).toBe(0);
    expect(again.base_offset).toBe(first.base_offset + 1);
  });
});
