import { isRaftkaError } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { type AlterPartitionRequest, controllerImageGauges } from '../src/index.js';
import { checkPartitionInvariants, Harness } from './harness.js';

function expectCode(fn: () => unknown, errorName: string): void {
  try {
    fn();
  } catch (e) {
    expect(isRaftkaError(e) && e.errorName).toBe(errorName);
    return;
  }
  expect.fail(`expected ${errorName}`);
}

describe('leadership on fencing', () => {
  it('gives every partition the fenced broker led a new leader in the same batch', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.createTopic('t', 30, 3);
    const led = h.image
      .topicByName('t')!
      .partitions.map((p, i) => ({ p, i }))
      .filter(({ p }) => p.leader === 2);
    expect(led.length).toBe(10);
    const records = h.timeOut(2);
    // One batch: partition changes first, the fence record last.
    expect(records.at(-1)).toMatchObject({ type: 'BrokerRegistrationChange', brokerId: 2, change: 'fence' });
    expect(records.slice(0, -1).every((r) => r.type === 'PartitionChange')).toBe(true);
    expect(records).toHaveLength(31);
    for (const { p: before, i } of led) {
      const after = h.partition('t', i);
      // The first replica in assignment order that is in the ISR and unfenced.
      const expected = before.replicas.find((id) => id !== 2 && before.isr.includes(id));
      expect(after.leader).toBe(expected);
      expect(after.leaderEpoch).toBe(before.leaderEpoch + 1);
      expect(after.partitionEpoch).toBe(before.partitionEpoch + 1);
    }
    for (const p of h.image.topicByName('t')!.partitions) expect(p.isr).not.toContain(2);
    checkPartitionInvariants(h.image);
    expect(h.controller.counters.leaderElections).toBe(10);
  });

  it('bumps the partition epoch but not the leader epoch when only the ISR shrinks', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.apply(h.controller.createTopics([{ name: 't', assignments: [[1, 2]] }]));
    h.timeOut(2);
    expect(h.partition('t', 0)).toMatchObject({ leader: 1, isr: [1], leaderEpoch: 0, partitionEpoch: 1 });
  });

  it('never empties the ISR: the last member stays and the partition goes offline', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.apply(h.controller.createTopics([{ name: 't', assignments: [[1, 2]] }]));
    h.timeOut(2);
    h.timeOut(1);
    expect(h.partition('t', 0)).toMatchObject({ leader: -1, isr: [1], leaderEpoch: 1 });
    expect(controllerImageGauges(h.image).offlinePartitionsCount).toBe(1);
    checkPartitionInvariants(h.image);
  });

  it('brings an offline partition back when its last ISR member is unfenced again', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.apply(h.controller.createTopics([{ name: 't', assignments: [[1, 2]] }]));
    h.timeOut(2);
    h.timeOut(1);
    // Broker 2 returns first: not in the ISR, so no clean leader and unclean election is off.
    h.heartbeat(2);
    expect(h.image.broker(2)!.fenced).toBe(false);
    expect(h.partition('t', 0).leader).toBe(-1);
    // Broker 1 returns (same incarnation, heartbeats resume): it leads again.
    const records = h.controller.brokerHeartbeat(
      {
        brokerId: 1,
        brokerEpoch: h.epochs.get(1)!,
        currentMetadataOffset: h.endOffset - 1,
        wantFence: false,
        wantShutDown: false,
      },
      h.nowMs,
    ).records;
    // The unfence first: a commit point inside the batch never shows a fenced broker leading.
    expect(records.map((r) => r.type)).toEqual(['BrokerRegistrationChange', 'PartitionChange']);
    h.apply({ records, response: null });
    expect(h.partition('t', 0)).toMatchObject({ leader: 1, isr: [1], leaderEpoch: 2 });
    expect(controllerImageGauges(h.image).offlinePartitionsCount).toBe(0);
    expect(h.controller.counters.uncleanLeaderElections).toBe(0);
  });

  it('elects an out-of-sync replica only where unclean.leader.election.enable allows it, and counts it', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.apply(
      h.controller.createTopics([
        { name: 'clean', assignments: [[1, 2]] },
        { name: 'dirty', assignments: [[1, 2]], configs: { 'unclean.leader.election.enable': 'true' } },
      ]),
    );
    h.timeOut(2);
    h.timeOut(1);
    h.heartbeat(2); // unfence broker 2, which is outside both ISRs
    expect(h.partition('clean', 0).leader).toBe(-1);
    expect(h.partition('dirty', 0)).toMatchObject({ leader: 2, isr: [2] });
    expect(h.controller.counters.uncleanLeaderElections).toBe(1);
    checkPartitionInvariants(h.image);
  });

  it('elects unclean at fence time when the topic allows it and a live replica exists', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.apply(
      h.controller.createTopics([
        { name: 'u', assignments: [[1, 2, 3]], configs: { 'unclean.leader.election.enable': 'true' } },
      ]),
    );
    // Leader 1 shrinks the ISR to itself.
    const p = h.partition('u', 0);
    h.apply(
      h.controller.alterPartition({
        brokerId: 1,
        brokerEpoch: h.epochs.get(1)!,
        topicId: h.topicId('u'),
        partition: 0,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        newIsr: [1],
      }),
    );
    h.timeOut(1);
    expect(h.partition('u', 0)).toMatchObject({ leader: 2, isr: [2] });
    expect(h.controller.counters.uncleanLeaderElections).toBe(1);
  });

  it('elects unclean leaders on the periodic check after the config is turned on', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.apply(h.controller.createTopics([{ name: 't', assignments: [[1, 2]] }]));
    h.timeOut(2);
    h.timeOut(1);
    h.heartbeat(2);
    expect(h.apply(h.controller.maybeElectUncleanLeaders()).elections).toBe(0);
    h.apply(
      h.controller.incrementalAlterConfigs([
        {
          resourceType: 'topic',
          resourceName: 't',
          ops: [{ name: 'unclean.leader.election.enable', op: 'set', value: 'true' }],
        },
      ]),
    );
    expect(h.apply(h.controller.maybeElectUncleanLeaders()).elections).toBe(1);
    expect(h.partition('t', 0)).toMatchObject({ leader: 2, isr: [2] });
  });
});

describe('AlterPartition', () => {
  function setup() {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.apply(h.controller.createTopics([{ name: 't', assignments: [[1, 2, 3]] }]));
    const p = h.partition('t', 0);
    const base: AlterPartitionRequest = {
      brokerId: 1,
      brokerEpoch: h.epochs.get(1)!,
      topicId: h.topicId('t'),
      partition: 0,
      leaderEpoch: p.leaderEpoch,
      partitionEpoch: p.partitionEpoch,
      newIsr: [1, 2],
    };
    return { h, base };
  }

  it('commits a shrink and an expand as PartitionChange records', () => {
    const { h, base } = setup();
    const shrink = h.controller.alterPartition(base);
    expect(shrink.records).toEqual([
      { type: 'PartitionChange', topicId: base.topicId, partition: 0, leader: null, isr: [1, 2], replicas: null },
    ]);
    const response = h.apply(shrink);
    expect(response).toMatchObject({ leader: 1, leaderEpoch: 0, partitionEpoch: 1, isr: [1, 2] });
    expect(h.partition('t', 0)).toMatchObject({ isr: [1, 2], partitionEpoch: 1, leaderEpoch: 0 });
    h.apply(h.controller.alterPartition({ ...base, partitionEpoch: 1, newIsr: [1, 2, 3] }));
    expect(h.partition('t', 0)).toMatchObject({ isr: [1, 2, 3], partitionEpoch: 2 });
  });

  it('refuses a stale broker epoch (STALE_BROKER_EPOCH)', () => {
    const { h, base } = setup();
    expectCode(() => h.controller.alterPartition({ ...base, brokerEpoch: base.brokerEpoch + 1 }), 'STALE_BROKER_EPOCH');
  });

  it('refuses a broker that does not lead (NOT_LEADER_OR_FOLLOWER)', () => {
    const { h, base } = setup();
    expectCode(
      () => h.controller.alterPartition({ ...base, brokerId: 2, brokerEpoch: h.epochs.get(2)! }),
      'NOT_LEADER_OR_FOLLOWER',
    );
  });

  it('refuses an old leader epoch (FENCED_LEADER_EPOCH)', () => {
    const { h, base } = setup();
    expectCode(
      () => h.controller.alterPartition({ ...base, leaderEpoch: base.leaderEpoch - 1 }),
      'FENCED_LEADER_EPOCH',
    );
  });

  it('refuses a stale partition epoch (INVALID_UPDATE_VERSION)', () => {
    const { h, base } = setup();
    h.apply(h.controller.alterPartition(base));
    expectCode(() => h.controller.alterPartition({ ...base, newIsr: [1] }), 'INVALID_UPDATE_VERSION');
  });

  it('refuses a fenced new member (INELIGIBLE_REPLICA)', () => {
    const { h, base } = setup();
    h.apply(h.controller.alterPartition({ ...base, newIsr: [1] }));
    h.apply(h.controller.brokerConnectionLost(3, h.epochs.get(3)!));
    expectCode(() => h.controller.alterPartition({ ...base, partitionEpoch: 1, newIsr: [1, 3] }), 'INELIGIBLE_REPLICA');
    // An eligible one joins.
    h.apply(h.controller.alterPartition({ ...base, partitionEpoch: 1, newIsr: [1, 2] }));
    expect(h.partition('t', 0).isr).toEqual([1, 2]);
  });

  it('refuses malformed ISRs and unknown partitions', () => {
    const { h, base } = setup();
    expectCode(() => h.controller.alterPartition({ ...base, newIsr: [] }), 'INVALID_REQUEST');
    expectCode(() => h.controller.alterPartition({ ...base, newIsr: [2, 3] }), 'INVALID_REQUEST');
    expectCode(() => h.controller.alterPartition({ ...base, newIsr: [1, 1] }), 'INVALID_REQUEST');
    expectCode(() => h.controller.alterPartition({ ...base, newIsr: [1, 7] }), 'INVALID_REQUEST');
    expectCode(() => h.controller.alterPartition({ ...base, partition: 5 }), 'UNKNOWN_TOPIC_OR_PARTITION');
  });
});

describe('ElectLeaders and leader rebalancing', () => {
  function withMovedLeaders() {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.createTopic('t', 30, 3);
    h.timeOut(1);
    // Broker 1 restarts with the same process: heartbeats resume, it is unfenced, then rejoins ISRs.
    h.heartbeat(1);
    const topicId = h.topicId('t');
    h.image.topicByName('t')!.partitions.forEach((p, i) => {
      h.apply(
        h.controller.alterPartition({
          brokerId: p.leader,
          brokerEpoch: h.epochs.get(p.leader)!,
          topicId,
          partition: i,
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: p.partitionEpoch,
          newIsr: [...p.isr, 1],
        }),
      );
    });
    return h;
  }

  it('answers ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE, and elects the preferred replica', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.apply(h.controller.createTopics([{ name: 't', assignments: [[1, 2]] }]));
    const electPreferred = () =>
      h.controller.electLeaders({ electionType: 'preferred', partitions: [{ topic: 't', partition: 0 }] });
    expect(electPreferred().response[0]?.error?.errorName).toBe('ELECTION_NOT_NEEDED');
    h.timeOut(1);
    h.heartbeat(1);
    expect(h.partition('t', 0)).toMatchObject({ leader: 2, isr: [2] });
    expect(electPreferred().response[0]?.error?.errorName).toBe('PREFERRED_LEADER_NOT_AVAILABLE');
    const p = h.partition('t', 0);
    h.apply(
      h.controller.alterPartition({
        brokerId: 2,
        brokerEpoch: h.epochs.get(2)!,
        topicId: h.topicId('t'),
        partition: 0,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        newIsr: [2, 1],
      }),
    );
    const [ok] = h.apply(electPreferred());
    expect(ok?.error).toBeNull();
    expect(h.partition('t', 0)).toMatchObject({ leader: 1, leaderEpoch: p.leaderEpoch + 1 });
    const [unknown] = h.controller.electLeaders({
      electionType: 'preferred',
      partitions: [{ topic: 't', partition: 9 }],
    }).response;
    expect(unknown?.error?.errorName).toBe('UNKNOWN_TOPIC_OR_PARTITION');
  });

  it('runs an unclean election on demand', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.apply(h.controller.createTopics([{ name: 't', assignments: [[1, 2]] }]));
    const unclean = () =>
      h.controller.electLeaders({ electionType: 'unclean', partitions: [{ topic: 't', partition: 0 }] });
    expect(unclean().response[0]?.error?.errorName).toBe('ELECTION_NOT_NEEDED');
    h.timeOut(2);
    h.timeOut(1);
    expect(unclean().response[0]?.error?.errorName).toBe('ELIGIBLE_LEADERS_NOT_AVAILABLE');
    h.heartbeat(2);
    const [ok] = h.apply(unclean());
    expect(ok?.error).toBeNull();
    expect(h.partition('t', 0)).toMatchObject({ leader: 2, isr: [2] });
    expect(h.controller.counters.uncleanLeaderElections).toBe(1);
  });

  it('moves leadership back to preferred replicas when a broker is over the imbalance threshold', () => {
    const h = withMovedLeaders();
    const before = controllerImageGauges(h.image).preferredReplicaImbalanceCount;
    expect(before).toBe(10);
    const result = h.apply(h.controller.maybeBalancePartitionLeaders());
    expect(result).toEqual({ elections: 10, moreRemaining: false });
    expect(controllerImageGauges(h.image).preferredReplicaImbalanceCount).toBe(0);
    expect(h.controller.maybeBalancePartitionLeaders().records).toEqual([]);
    checkPartitionInvariants(h.image);
  });

  it('caps elections per pass and honours auto.leader.rebalance.enable and the percentage', () => {
    const capped = new Harness({ maxElectionsPerImbalancePass: 4 });
    capped.addBrokers([1, 2, 3]);
    capped.createTopic('t', 30, 3);
    capped.timeOut(1);
    capped.heartbeat(1);
    capped.image.topicByName('t')!.partitions.forEach((p, i) => {
      capped.apply(
        capped.controller.alterPartition({
          brokerId: p.leader,
          brokerEpoch: capped.epochs.get(p.leader)!,
          topicId: capped.topicId('t'),
          partition: i,
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: p.partitionEpoch,
          newIsr: [...p.isr, 1],
        }),
      );
    });
    expect(capped.apply(capped.controller.maybeBalancePartitionLeaders())).toEqual({
      elections: 4,
      moreRemaining: true,
    });

    const off = withMovedLeaders();
    off.apply(
      off.controller.incrementalAlterConfigs([
        {
          resourceType: 'cluster',
          resourceName: '',
          ops: [{ name: 'auto.leader.rebalance.enable', op: 'set', value: 'false' }],
        },
      ]),
    );
    expect(off.controller.maybeBalancePartitionLeaders().records).toEqual([]);

    const tolerant = withMovedLeaders();
    tolerant.apply(
      tolerant.controller.incrementalAlterConfigs([
        {
          resourceType: 'cluster',
          resourceName: '',
          ops: [{ name: 'leader.imbalance.per.broker.percentage', op: 'set', value: '100' }],
        },
      ]),
    );
    expect(tolerant.controller.maybeBalancePartitionLeaders().records).toEqual([]);
  });
});

describe('producer ids, features, no-op', () => {
  it('hands out consecutive blocks of 1000 producer ids', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    const a = h.apply(h.controller.allocateProducerIds({ brokerId: 1, brokerEpoch: h.epochs.get(1)! }));
    const b = h.apply(h.controller.allocateProducerIds({ brokerId: 2, brokerEpoch: h.epochs.get(2)! }));
    expect(a).toEqual({ producerIdStart: 0, producerIdLen: 1000 });
    expect(b).toEqual({ producerIdStart: 1000, producerIdLen: 1000 });
    expect(h.image.nextProducerId).toBe(2000);
    expectCode(() => h.controller.allocateProducerIds({ brokerId: 1, brokerEpoch: 999 }), 'STALE_BROKER_EPOCH');
  });

  it('does not hand out the same block twice before the first commits', () => {
    const h = new Harness();
    h.addBrokers([1]);
    const first = h.controller.allocateProducerIds({ brokerId: 1, brokerEpoch: h.epochs.get(1)! });
    // The active controller replays its own appends at once, before the commit.
    h.controller.replayBatch(first.records, h.endOffset);
    const second = h.controller.allocateProducerIds({ brokerId: 1, brokerEpoch: h.epochs.get(1)! });
    expect(second.response.producerIdStart).toBe(first.response.producerIdStart + 1000);
    expect(h.controller.committedImage.nextProducerId).toBe(0);
    // Losing leadership drops what never committed.
    h.controller.resign();
    expect(h.controller.image.nextProducerId).toBe(0);
  });

  it('records feature levels and refuses bad ones', () => {
    const h = new Harness();
    h.apply(h.controller.updateFeatures([{ name: 'metadata.version', featureLevel: 3 }]));
    expect(h.image.features.get('metadata.version')).toBe(3);
    expectCode(() => h.controller.updateFeatures([{ name: 'x', featureLevel: -1 }]), 'INVALID_REQUEST');
    const noOp = h.controller.noOp();
    expect(noOp.records).toEqual([{ type: 'NoOp' }]);
  });

  it('only lets the active controller decide', () => {
    const h = new Harness();
    h.controller.resign();
    expect(() => h.controller.createTopics([])).toThrow(/not active/);
  });
});

describe('commit bookkeeping', () => {
  it('commits part of the uncommitted records', () => {
    const h = new Harness();
    h.addBrokers([1]);
    const base = h.endOffset;
    const create = h.controller.createTopics([{ name: 'a', numPartitions: 1, replicationFactor: 1 }]);
    h.controller.replayBatch(create.records, base);
    const n = create.records.length;
    const create2 = h.controller.createTopics([{ name: 'b', numPartitions: 1, replicationFactor: 1 }]);
    h.controller.replayBatch(create2.records, base + n);
    h.controller.commit(base + n - 1);
    expect(h.controller.committedImage.topicByName('a')).toBeDefined();
    expect(h.controller.committedImage.topicByName('b')).toBeUndefined();
    expect(h.controller.image.topicByName('b')).toBeDefined();
    h.controller.commit(base + n + create2.records.length - 1);
    expect(h.controller.committedImage.equals(h.controller.image)).toBe(true);
  });
});
