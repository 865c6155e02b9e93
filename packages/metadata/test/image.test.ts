import { isRaftkaError, SeededRandom } from '@raftka/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { controllerImageGauges, MetadataDelta, MetadataImage, QuorumController, replayAll } from '../src/index.js';
import { checkEpochsAdvance, checkPartitionInvariants, Harness } from './harness.js';

type Op =
  | { kind: 'register'; broker: number; rack: number; fresh: boolean }
  | { kind: 'heartbeat'; broker: number; lag: number; wantFence: boolean; wantShutDown: boolean }
  | { kind: 'tick'; ms: number }
  | { kind: 'heartbeatAll' }
  | { kind: 'crash'; broker: number }
  | { kind: 'failover' }
  | { kind: 'connectionLost'; broker: number }
  | { kind: 'create'; topic: number; partitions: number; rf: number; unclean: boolean }
  | { kind: 'delete'; topic: number }
  | { kind: 'addPartitions'; topic: number; extra: number }
  | { kind: 'alterIsr'; topic: number; partition: number; expand: boolean }
  | { kind: 'elect'; preferred: boolean }
  | { kind: 'balance' }
  | { kind: 'config'; topic: number; key: number; value: number }
  | { kind: 'producerIds'; broker: number };

const broker = fc.integer({ min: 1, max: 5 });
const topic = fc.integer({ min: 0, max: 3 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('register' as const),
    broker,
    rack: fc.integer({ min: 0, max: 2 }),
    fresh: fc.boolean(),
  }),
  {
    arbitrary: fc.record({
      kind: fc.constant('heartbeat' as const),
      broker,
      lag: fc.integer({ min: 0, max: 9 }).map((n) => (n < 7 ? 0 : n - 6)),
      wantFence: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      wantShutDown: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
    }),
    weight: 4,
  },
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 4000 }) }),
  { arbitrary: fc.constant({ kind: 'heartbeatAll' as const }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('crash' as const), broker }), weight: 2 },
  fc.constant({ kind: 'failover' as const }),
  fc.record({ kind: fc.constant('connectionLost' as const), broker }),
  {
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      topic,
      partitions: fc.integer({ min: 1, max: 4 }),
      rf: fc.integer({ min: 1, max: 3 }),
      unclean: fc.boolean(),
    }),
    weight: 2,
  },
  fc.record({ kind: fc.constant('delete' as const), topic }),
  fc.record({ kind: fc.constant('addPartitions' as const), topic, extra: fc.integer({ min: 1, max: 3 }) }),
  {
    arbitrary: fc.record({
      kind: fc.constant('alterIsr' as const),
      topic,
      partition: fc.integer({ min: 0, max: 6 }),
      expand: fc.boolean(),
    }),
    weight: 3,
  },
  fc.record({ kind: fc.constant('elect' as const), preferred: fc.boolean() }),
  fc.record({ kind: fc.constant('balance' as const) }),
  fc.record({
    kind: fc.constant('config' as const),
    topic,
    key: fc.integer({ min: 0, max: 2 }),
    value: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({ kind: fc.constant('producerIds' as const), broker }),
);

const CONFIGS: [string, string[]][] = [
  ['unclean.leader.election.enable', ['true', 'false', 'maybe', 'true']],
  ['retention.ms', ['1000', '-1', '-7', '86400000']],
  ['min.insync.replicas', ['1', '2', '0', '3']],
];

/** Runs one op through the handlers; operational refusals (typed errors) are part of the game. */
function run(h: Harness, o: Op): void {
  const name = 'topic' in o ? `topic-${o.topic}` : '';
  try {
    switch (o.kind) {
      case 'register': {
        const existing = h.image.broker(o.broker);
        const incarnation = o.fresh || existing === undefined ? `inc-${h.endOffset}` : existing.incarnationId;
        h.register(o.broker, `rack-${o.rack}`, incarnation);
        return;
      }
      case 'heartbeat':
        if (!h.epochs.has(o.broker)) return;
        h.heartbeat(o.broker, {
          offset: h.endOffset - 1 - o.lag,
          wantFence: o.wantFence,
          wantShutDown: o.wantShutDown,
        });
        return;
      case 'tick':
        h.nowMs += o.ms;
        h.apply(h.controller.maybeFenceStaleBrokers(h.nowMs));
        return;
      case 'crash':
        // Only this broker misses its session; the others keep heartbeating.
        h.nowMs += h.controller.brokerSessionTimeoutMs + 1;
        for (const b of h.image.brokers.values()) if (!b.fenced && b.brokerId !== o.broker) h.heartbeat(b.brokerId);
        h.apply(h.controller.maybeFenceStaleBrokers(h.nowMs));
        return;
      case 'failover':
        h.failover();
        return;
      case 'heartbeatAll':
        h.heartbeatAll();
        return;
      case 'connectionLost':
        if (h.epochs.has(o.broker)) h.apply(h.controller.brokerConnectionLost(o.broker, h.epochs.get(o.broker)!));
        return;
      case 'create':
        h.apply(
          h.controller.createTopics([
            {
              name,
              numPartitions: o.partitions,
              replicationFactor: o.rf,
              configs: { 'unclean.leader.election.enable': String(o.unclean) },
            },
          ]),
        );
        return;
      case 'delete':
        h.apply(h.controller.deleteTopics([name]));
        return;
      case 'addPartitions': {
        const t = h.image.topicByName(name);
        if (t) h.apply(h.controller.createPartitions([{ name, count: t.partitions.length + o.extra }]));
        return;
      }
      case 'alterIsr': {
        const t = h.image.topicByName(name);
        const p = t?.partitions[o.partition];
        if (!t || !p || p.leader === -1) return;
        const outside = p.replicas.filter((id) => !p.isr.includes(id));
        const newIsr = o.expand
          ? [...p.isr, ...outside.slice(0, 1)]
          : p.isr.filter((id, i) => id === p.leader || i !== p.isr.length - 1);
        h.apply(
          h.controller.alterPartition({
            brokerId: p.leader,
            brokerEpoch: h.epochs.get(p.leader)!,
            topicId: t.topicId,
            partition: o.partition,
            leaderEpoch: p.leaderEpoch,
            partitionEpoch: p.partitionEpoch,
            newIsr,
          }),
        );
        return;
      }
      case 'elect':
        h.apply(h.controller.electLeaders({ electionType: o.preferred ? 'preferred' : 'unclean', partitions: null }));
        return;
      case 'balance':
        h.apply(h.controller.maybeBalancePartitionLeaders());
        h.apply(h.controller.maybeElectUncleanLeaders());
        return;
      case 'config': {
        const [key, values] = CONFIGS[o.key]!;
        h.apply(
          h.controller.incrementalAlterConfigs([
            { resourceType: 'topic', resourceName: name, ops: [{ name: key, op: 'set', value: values[o.value]! }] },
          ]),
        );
        return;
      }
      case 'producerIds':
        if (h.epochs.has(o.broker)) {
          h.apply(h.controller.allocateProducerIds({ brokerId: o.broker, brokerEpoch: h.epochs.get(o.broker)! }));
        }
        return;
    }
  } catch (e) {
    if (!isRaftkaError(e)) throw e;
  }
}

describe('MetadataImage snapshots', () => {
  it('equals the image replayed in one go, whatever offset the snapshot was taken at (property)', () => {
    const seed = Number(process.env.METADATA_SEED ?? 0x5eed_0001);
    console.log('seed=', seed, '(replay with METADATA_SEED)');
    const seen = { records: 0, partitions: 0, offline: 0, fenced: 0, unclean: 0, registrationChanges: 0 };
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), fc.nat(), (ops, cut) => {
        const h = new Harness({ seed: 7 });
        // Start from a small live cluster so the random ops reach leadership, ISR and config states.
        h.addBrokers([1, 2, 3, 4], (id) => `rack-${id % 2}`);
        run(h, { kind: 'create', topic: 0, partitions: 3, rf: 3, unclean: false });
        run(h, { kind: 'create', topic: 1, partitions: 2, rf: 2, unclean: true });
        // A standby controller replays each committed batch as it commits.
        const standby = new QuorumController({ random: new SeededRandom(0) });
        standby.replayBatch(
          h.log.map((r) => r.record),
          0,
        );
        standby.commit(h.endOffset - 1);
        for (const o of ops) {
          const before = h.image;
          const from = h.endOffset;
          run(h, o);
          checkPartitionInvariants(h.image);
          checkEpochsAdvance(before, h.image);
          if (h.endOffset > from) {
            standby.replayBatch(
              h.log.slice(from).map((r) => r.record),
              from,
            );
            standby.commit(h.endOffset - 1);
          }
        }
        expect(standby.committedImage.equals(h.image)).toBe(true);
        const whole = replayAll(MetadataImage.EMPTY, h.log);
        expect(Buffer.from(whole.toBytes()).equals(Buffer.from(h.image.toBytes()))).toBe(true);
        const k = h.log.length === 0 ? 0 : cut % (h.log.length + 1);
        const snapshot = replayAll(MetadataImage.EMPTY, h.log.slice(0, k)).toBytes();
        const restored = replayAll(MetadataImage.fromBytes(snapshot), h.log.slice(k));
        expect(restored.equals(whole)).toBe(true);
        expect(restored.offset).toBe(h.log.length - 1);
        const gauges = controllerImageGauges(h.image);
        seen.records += h.log.length;
        seen.partitions += gauges.globalPartitionCount;
        seen.offline += gauges.offlinePartitionsCount;
        seen.fenced += gauges.fencedBrokerCount;
        seen.registrationChanges += h.log.filter((r) => r.record.type === 'BrokerRegistrationChange').length;
        seen.unclean += h.controller.counters.uncleanLeaderElections;
      }),
      { seed, numRuns: 200 },
    );
    console.log('explored (sums over runs):', JSON.stringify(seen));
    // The generator must reach the interesting states, or the property proves little.
    expect(seen.offline).toBeGreaterThan(0);
    expect(seen.fenced).toBeGreaterThan(0);
  });

  it('round-trips through bytes, and refuses corrupt or unknown snapshots', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3], (id) => `r${id}`);
    h.createTopic('a', 3, 2, { 'retention.ms': '10' });
    h.apply(h.controller.updateFeatures([{ name: 'metadata.version', featureLevel: 2 }]));
    h.apply(h.controller.allocateProducerIds({ brokerId: 1, brokerEpoch: h.epochs.get(1)! }));
    const bytes = h.image.toBytes();
    const loaded = MetadataImage.fromBytes(bytes);
    expect(loaded.equals(h.image)).toBe(true);
    expect(loaded.nextProducerId).toBe(1000);
    expect(loaded.topicByName('a')?.partitions).toEqual(h.image.topicByName('a')?.partitions);

    const flipped = Uint8Array.from(bytes);
    flipped[bytes.length - 3] = flipped[bytes.length - 3]! ^ 1;
    expect(() => MetadataImage.fromBytes(flipped)).toThrow(/CRC/);
    const newer = Uint8Array.from(bytes);
    newer[1] = 9;
    expect(() => MetadataImage.fromBytes(newer)).toThrow(/version 9/);
    expect(() => MetadataImage.fromBytes(Uint8Array.from([1, 2, 3]))).toThrow(/not a metadata image/);
  });

  it('is frozen and shares untouched topics and brokers with the previous image', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.createTopic('a', 2, 2);
    h.createTopic('b', 2, 2);
    const before = h.image;
    const p = before.topicByName('a')!.partitions[0]!;
    h.apply(
      h.controller.alterPartition({
        brokerId: p.leader,
        brokerEpoch: h.epochs.get(p.leader)!,
        topicId: h.topicId('a'),
        partition: 0,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        newIsr: [p.leader],
      }),
    );
    const after = h.image;
    expect(after.topicByName('b')).toBe(before.topicByName('b'));
    expect(after.topicByName('a')!.partitions[1]).toBe(before.topicByName('a')!.partitions[1]);
    expect(after.brokers).toBe(before.brokers);
    expect(Object.isFrozen(after)).toBe(true);
    expect(Object.isFrozen(after.topicByName('a')!.partitions[0]!.isr)).toBe(true);
    expect(() => {
      (after.topicByName('a')!.partitions[0]!.isr as number[]).push(9);
    }).toThrow();
  });

  it('asserts on records a well-formed log never holds', () => {
    const delta = new MetadataDelta(MetadataImage.EMPTY);
    expect(() => delta.replay({ type: 'RemoveTopic', topicId: 'nope' }, 0)).toThrow(/unknown topic/);
    const d2 = new MetadataDelta(MetadataImage.EMPTY);
    d2.replay({ type: 'NoOp' }, 5);
    expect(() => d2.replay({ type: 'NoOp' }, 5)).toThrow(/after offset 5/);
  });
});
