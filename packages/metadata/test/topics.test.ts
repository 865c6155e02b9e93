import { SeededRandom } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { controllerImageGauges, placeReplicas } from '../src/index.js';
import { checkPartitionInvariants, Harness } from './harness.js';

function errorOf(h: Harness, topic: Parameters<Harness['controller']['createTopics']>[0][number]): string | undefined {
  const [result] = h.controller.createTopics([topic]).response;
  return result?.error?.errorName;
}

describe('CreateTopics', () => {
  it('creates a topic with a topic id, partitions and configs in one batch', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    const before = h.endOffset;
    const result = h.controller.createTopics([
      { name: 'orders', numPartitions: 3, replicationFactor: 2, configs: { 'retention.ms': ' 1000 ' } },
    ]);
    expect(result.records.map((r) => r.type)).toEqual(['Topic', 'Config', 'Partition', 'Partition', 'Partition']);
    const [created] = h.apply(result);
    expect(created).toMatchObject({ name: 'orders', numPartitions: 3, replicationFactor: 2, error: null });
    expect(created!.topicId).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    const topic = h.image.topicByName('orders')!;
    expect(topic.topicId).toBe(created!.topicId);
    for (const p of topic.partitions) {
      expect(p.replicas).toHaveLength(2);
      expect(p.isr).toEqual(p.replicas);
      expect(p.leader).toBe(p.replicas[0]);
      expect(p).toMatchObject({ leaderEpoch: 0, partitionEpoch: 0 });
    }
    expect(h.image.effectiveConfig('orders', 'retention.ms')).toBe('1000');
    expect(h.endOffset - before).toBe(5);
  });

  it('uses num.partitions and default.replication.factor when none are given', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.apply(
      h.controller.incrementalAlterConfigs([
        {
          resourceType: 'cluster',
          resourceName: '',
          ops: [
            { name: 'num.partitions', op: 'set', value: '4' },
            { name: 'default.replication.factor', op: 'set', value: '2' },
          ],
        },
      ]),
    );
    const [r] = h.apply(h.controller.createTopics([{ name: 'defaults' }]));
    expect(r).toMatchObject({ numPartitions: 4, replicationFactor: 2, error: null });
  });

  it('refuses an existing name (TOPIC_ALREADY_EXISTS)', () => {
    const h = new Harness();
    h.addBrokers([1]);
    h.createTopic('a', 1, 1);
    expect(errorOf(h, { name: 'a', numPartitions: 1, replicationFactor: 1 })).toBe('TOPIC_ALREADY_EXISTS');
  });

  it("refuses illegal names (INVALID_TOPIC_EXCEPTION): characters, '.', '..', length > 249, '.'/'_' collisions", () => {
    const h = new Harness();
    h.addBrokers([1]);
    h.createTopic('a.b', 1, 1);
    for (const name of ['', '.', '..', 'a b', 'ü', 'x/y', 'x'.repeat(250), 'a_b']) {
      expect(errorOf(h, { name, numPartitions: 1, replicationFactor: 1 }), name).toBe('INVALID_TOPIC_EXCEPTION');
    }
    expect(errorOf(h, { name: 'x'.repeat(249), numPartitions: 1, replicationFactor: 1 })).toBeUndefined();
    expect(errorOf(h, { name: 'Az09._-', numPartitions: 1, replicationFactor: 1 })).toBeUndefined();
  });

  it('refuses a replication factor above the unfenced broker count (INVALID_REPLICATION_FACTOR)', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.register(4); // registered but fenced: does not count
    expect(errorOf(h, { name: 't', numPartitions: 1, replicationFactor: 4 })).toBe('INVALID_REPLICATION_FACTOR');
    expect(errorOf(h, { name: 't', numPartitions: 1, replicationFactor: 0 })).toBe('INVALID_REPLICATION_FACTOR');
    expect(errorOf(h, { name: 't', numPartitions: 1, replicationFactor: 3 })).toBeUndefined();
  });

  it('refuses a non-positive partition count (INVALID_PARTITIONS)', () => {
    const h = new Harness();
    h.addBrokers([1]);
    expect(errorOf(h, { name: 't', numPartitions: 0, replicationFactor: 1 })).toBe('INVALID_PARTITIONS');
    expect(errorOf(h, { name: 't', numPartitions: -5, replicationFactor: 1 })).toBe('INVALID_PARTITIONS');
    expect(errorOf(h, { name: 't', numPartitions: 1.5, replicationFactor: 1 })).toBe('INVALID_PARTITIONS');
  });

  it('refuses bad configs with INVALID_CONFIG naming the key and the reason', () => {
    const h = new Harness();
    h.addBrokers([1]);
    const cases: [Record<string, string>, RegExp][] = [
      [{ 'min.insync.replicas': '0' }, /min\.insync\.replicas.*below the minimum 1/],
      [{ 'retention.ms': 'soon' }, /retention\.ms.*not an integer/],
      [{ 'unclean.leader.election.enable': 'yes' }, /unclean\.leader\.election\.enable.*not true or false/],
      [{ 'cleanup.policy': 'delete,shred' }, /cleanup\.policy.*'shred' is not one of delete, compact/],
      [{ 'segment.bytes': '100' }, /segment\.bytes.*below the minimum/],
      [{ 'max.message.bytes': '99999999999' }, /max\.message\.bytes.*above the maximum/],
      [{ 'no.such.key': '1' }, /Unknown config 'no\.such\.key'/],
      [{ 'num.partitions': '3' }, /num\.partitions.*cannot be set on a topic/],
    ];
    for (const [configs, message] of cases) {
      const [r] = h.controller.createTopics([{ name: 't', numPartitions: 1, replicationFactor: 1, configs }]).response;
      expect(r?.error?.errorName).toBe('INVALID_CONFIG');
      expect(r?.error?.message).toMatch(message);
    }
  });

  it('validates explicit assignments (INVALID_REPLICA_ASSIGNMENT)', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.register(4);
    const bad: number[][][] = [
      [[1, 2], [3]], // inconsistent replication factor
      [[1, 1]], // duplicate broker
      [[1, 9]], // unknown broker
      [[]], // empty
      [[4]], // only a fenced broker
    ];
    for (const assignments of bad) {
      expect(errorOf(h, { name: 't', assignments }), JSON.stringify(assignments)).toBe('INVALID_REPLICA_ASSIGNMENT');
    }
    const [ok] = h.apply(
      h.controller.createTopics([
        {
          name: 't',
          assignments: [
            [4, 2],
            [3, 1],
          ],
        },
      ]),
    );
    expect(ok?.error).toBeNull();
    // The fenced broker is a replica but not in the ISR; the leader is the first active replica.
    expect(h.partition('t', 0)).toMatchObject({ replicas: [4, 2], isr: [2], leader: 2 });
    expect(h.partition('t', 1)).toMatchObject({ replicas: [3, 1], isr: [3, 1], leader: 3 });
    expect(errorOf(h, { name: 'u', assignments: [[1]], numPartitions: 1 })).toBe('INVALID_REQUEST');
  });

  it('answers duplicate names in one request with INVALID_REQUEST and creates the rest', () => {
    const h = new Harness();
    h.addBrokers([1]);
    const results = h.apply(
      h.controller.createTopics([
        { name: 'd', numPartitions: 1, replicationFactor: 1 },
        { name: 'e', numPartitions: 1, replicationFactor: 1 },
        { name: 'd', numPartitions: 1, replicationFactor: 1 },
      ]),
    );
    expect(results.map((r) => r.error?.errorName ?? null)).toEqual(['INVALID_REQUEST', null, 'INVALID_REQUEST']);
    expect(h.controller.listTopics().map((t) => t.name)).toEqual(['e']);
  });
});

describe('DeleteTopics, CreatePartitions, DescribeTopics', () => {
  it('deletes a topic with its configs, and a new topic of that name starts clean', () => {
    const h = new Harness();
    h.addBrokers([1]);
    const id = h.createTopic('t', 2, 1, { 'retention.ms': '5' });
    const [r] = h.apply(h.controller.deleteTopics(['t', 't']));
    expect(r).toEqual({ name: 't', topicId: id, error: null });
    expect(h.image.topicByName('t')).toBeUndefined();
    expect(h.image.topicConfigs.has('t')).toBe(false);
    const [missing] = h.controller.deleteTopics(['t']).response;
    expect(missing?.error?.errorName).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    const id2 = h.createTopic('t', 1, 1);
    expect(id2).not.toBe(id);
    expect(h.image.effectiveConfig('t', 'retention.ms')).toBe('604800000');
  });

  it('adds partitions continuing the placement, and validates the count', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.createTopic('t', 3, 2);
    const [ok] = h.apply(h.controller.createPartitions([{ name: 't', count: 9 }]));
    expect(ok?.error).toBeNull();
    const partitions = h.image.topicByName('t')!.partitions;
    expect(partitions).toHaveLength(9);
    const leaders = new Map<number, number>();
    for (const p of partitions) {
      expect(p.replicas).toHaveLength(2);
      leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1);
    }
    expect([...leaders.values()]).toEqual([3, 3, 3]);
    const errs = (count: number, assignments?: number[][]) =>
      h.controller.createPartitions([{ name: 't', count, ...(assignments ? { assignments } : {}) }]).response[0]?.error
        ?.errorName;
    expect(errs(9)).toBe('INVALID_PARTITIONS');
    expect(errs(2)).toBe('INVALID_PARTITIONS');
    expect(errs(11, [[1, 2]])).toBe('INVALID_REPLICA_ASSIGNMENT');
    expect(errs(10, [[1]])).toBe('INVALID_REPLICA_ASSIGNMENT');
    expect(errs(10, [[1, 2]])).toBeUndefined();
    expect(h.controller.createPartitions([{ name: 'nope', count: 3 }]).response[0]?.error?.errorName).toBe(
      'UNKNOWN_TOPIC_OR_PARTITION',
    );
  });

  it('describes and lists topics, with offline replicas', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.createTopic('b', 1, 2);
    h.createTopic('a', 2, 1);
    expect(h.controller.listTopics().map((t) => t.name)).toEqual(['a', 'b']);
    h.timeOut(2);
    const [b, missing] = h.controller.describeTopics(['b', 'zz']);
    expect(b?.partitions[0]).toMatchObject({ leader: 1, isr: [1], offlineReplicas: [2] });
    expect(missing?.error?.errorName).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    expect(h.controller.describeTopics(null).map((t) => t.name)).toEqual(['a', 'b']);
    expect(controllerImageGauges(h.image)).toMatchObject({ globalTopicCount: 2, globalPartitionCount: 3 });
  });
});

describe('configs', () => {
  it('describes with sources topic > cluster > default, and alters incrementally', () => {
    const h = new Harness();
    h.addBrokers([1]);
    h.createTopic('t', 1, 1, { 'cleanup.policy': 'compact, delete' });
    h.apply(
      h.controller.incrementalAlterConfigs([
        { resourceType: 'cluster', resourceName: '', ops: [{ name: 'retention.bytes', op: 'set', value: '1024' }] },
      ]),
    );
    const [desc] = h.controller.describeConfigs([{ resourceType: 'topic', resourceName: 't' }]);
    const entry = (name: string) => desc!.entries.find((e) => e.name === name);
    expect(entry('cleanup.policy')).toMatchObject({ value: 'compact,delete', source: 'topic' });
    expect(entry('retention.bytes')).toMatchObject({ value: '1024', source: 'cluster', unit: 'bytes' });
    expect(entry('retention.ms')).toMatchObject({ value: '604800000', source: 'default', unit: 'ms' });
    expect(entry('num.partitions')).toBeUndefined();

    h.apply(
      h.controller.incrementalAlterConfigs([
        {
          resourceType: 'topic',
          resourceName: 't',
          ops: [
            { name: 'cleanup.policy', op: 'delete' },
            { name: 'min.insync.replicas', op: 'set', value: '2' },
          ],
        },
      ]),
    );
    expect(h.image.effectiveConfig('t', 'cleanup.policy')).toBe('delete');
    expect(h.image.effectiveConfig('t', 'min.insync.replicas')).toBe('2');
  });

  it('reports per-resource errors and writes nothing for validateOnly', () => {
    const h = new Harness();
    h.addBrokers([1]);
    h.createTopic('t', 1, 1);
    const result = h.controller.incrementalAlterConfigs(
      [
        { resourceType: 'topic', resourceName: 't', ops: [{ name: 'retention.ms', op: 'set', value: '-2' }] },
        { resourceType: 'topic', resourceName: 'none', ops: [] },
        { resourceType: 'cluster', resourceName: 'x', ops: [] },
        { resourceType: 'topic', resourceName: 't', ops: [{ name: 'segment.bytes', op: 'set' }] },
        { resourceType: 'topic', resourceName: 't', ops: [{ name: 'retention.ms', op: 'set', value: '-1' }] },
      ],
      true,
    );
    expect(result.records).toEqual([]);
    expect(result.response.map((r) => r.error?.errorName ?? null)).toEqual([
      'INVALID_CONFIG',
      'UNKNOWN_TOPIC_OR_PARTITION',
      'INVALID_REQUEST',
      'INVALID_CONFIG',
      null,
    ]);
    expect(result.response[0]?.error?.message).toMatch(/retention\.ms.*-2 is below the minimum -1/);
  });
});

describe('placement balance', () => {
  function spread(counts: Map<number, number>): number {
    const values = [...counts.values()];
    return Math.max(...values) - Math.min(...values);
  }

  for (const brokers of [3, 6]) {
    it(`spreads 1000 partitions x RF 3 evenly over ${brokers} brokers without racks`, () => {
      const seed = 1000 + brokers;
      const assignments = placeReplicas({
        brokers: Array.from({ length: brokers }, (_, i) => ({ brokerId: i + 1, rack: null })),
        partitionCount: 1000,
        replicationFactor: 3,
        startPartitionId: 0,
        random: new SeededRandom(seed),
      });
      const leaders = new Map<number, number>();
      const replicas = new Map<number, number>();
      for (const a of assignments) {
        expect(new Set(a).size).toBe(3);
        leaders.set(a[0]!, (leaders.get(a[0]!) ?? 0) + 1);
        for (const id of a) replicas.set(id, (replicas.get(id) ?? 0) + 1);
      }
      console.log(`seed=${seed} brokers=${brokers} leaders=${JSON.stringify([...leaders])}`);
      expect(leaders.size).toBe(brokers);
      expect(spread(leaders)).toBeLessThanOrEqual(1);
      expect(spread(replicas)).toBeLessThanOrEqual(3);
    });
  }

  it('puts the replicas of each partition on distinct racks and spreads leaders over racks', () => {
    const seed = 77;
    const racks = ['a', 'b', 'c'];
    const brokers = Array.from({ length: 6 }, (_, i) => ({ brokerId: i + 1, rack: racks[i % 3]! }));
    const assignments = placeReplicas({
      brokers,
      partitionCount: 1000,
      replicationFactor: 3,
      startPartitionId: 0,
      random: new SeededRandom(seed),
    });
    const rackOf = new Map(brokers.map((b) => [b.brokerId, b.rack]));
    const leaderRacks = new Map<string, number>();
    const leaders = new Map<number, number>();
    const replicas = new Map<number, number>();
    for (const a of assignments) {
      expect(new Set(a.map((id) => rackOf.get(id))).size).toBe(3);
      leaderRacks.set(rackOf.get(a[0]!)!, (leaderRacks.get(rackOf.get(a[0]!)!) ?? 0) + 1);
      leaders.set(a[0]!, (leaders.get(a[0]!) ?? 0) + 1);
      for (const id of a) replicas.set(id, (replicas.get(id) ?? 0) + 1);
    }
    console.log(`seed=${seed} leaderRacks=${JSON.stringify([...leaderRacks])}`);
    expect(spread(leaders)).toBeLessThanOrEqual(1);
    expect(spread(replicas)).toBeLessThanOrEqual(3);
    expect(Math.max(...leaderRacks.values()) - Math.min(...leaderRacks.values())).toBeLessThanOrEqual(1);
  });

  it('uses more racks than replicas: at most one replica per rack', () => {
    const brokers = [1, 2, 3, 4].map((id) => ({ brokerId: id, rack: id <= 2 ? 'x' : 'y' }));
    const assignments = placeReplicas({
      brokers,
      partitionCount: 100,
      replicationFactor: 2,
      startPartitionId: 0,
      random: new SeededRandom(5),
    });
    for (const a of assignments) expect(a.map((id) => (id <= 2 ? 'x' : 'y')).sort()).toEqual(['x', 'y']);
  });

  it('places only on unfenced brokers through CreateTopics', () => {
    const h = new Harness({ seed: 9 });
    h.addBrokers([1, 2, 3, 4], (id) => `rack-${id % 2}`);
    h.timeOut(4);
    h.createTopic('t', 300, 2);
    for (const p of h.image.topicByName('t')!.partitions) expect(p.replicas).not.toContain(4);
    checkPartitionInvariants(h.image);
  });
});
