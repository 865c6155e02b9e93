// The controller engine against an in-memory fake of the Raft log: the test
// plays the Raft node (elections, appends, commits) and checks what the
// engine activates, proposes, replays and answers, and when.
import { SeededRandom } from '@raftka/common';
import { describe, expect, test } from 'vitest';
import {
  ControllerEngine,
  type ControllerEngineOptions,
  decodeRecord,
  type EngineOutcome,
  type MetadataLog,
  type MetadataLogAppend,
  type MetadataLogEntry,
} from '../src/index.js';

const LISTENERS = [{ name: 'PLAINTEXT', host: 'localhost', port: 9092 }];

/** A Raft log in memory: the test decides who leads and what commits. */
class FakeLog implements MetadataLog {
  role = 'follower';
  epoch = 0;
  leaderId = -1;
  readonly entries: MetadataLogEntry[] = [];
  committed = 0;
  onPropose: (() => void) | undefined;

  propose(records: Uint8Array[], _nowMs: number): MetadataLogAppend {
    this.onPropose?.();
    if (this.role !== 'leader') return { ok: false, epoch: this.epoch, leaderId: this.leaderId };
    const firstOffset = this.entries.length;
    for (const data of records)
      this.entries.push({ offset: this.entries.length, epoch: this.epoch, kind: 'data', data });
    return { ok: true, epoch: this.epoch, firstOffset, lastOffset: this.entries.length - 1 };
  }

  /** This node wins `epoch`: it appends its leader-change entry (not committed yet). */
  winElection(epoch: number, selfId = 1): void {
    this.role = 'leader';
    this.epoch = epoch;
    this.leaderId = selfId;
    this.entries.push({ offset: this.entries.length, epoch, kind: 'leader-change', data: new Uint8Array() });
  }

  loseLeadership(epoch: number, leaderId: number): void {
    this.role = 'follower';
    this.epoch = epoch;
    this.leaderId = leaderId;
  }

  /** Entries from the last commit point to `endOffset` (exclusive), handed to the engine. */
  commitTo(engine: ControllerEngine, endOffset: number, nowMs: number): void {
    const batch = this.entries.slice(this.committed, endOffset);
    this.committed = endOffset;
    engine.handleCommitted(batch, nowMs);
  }

  commitAll(engine: ControllerEngine, nowMs: number): void {
    this.commitTo(engine, this.entries.length, nowMs);
  }
}

function setup(options: Partial<ControllerEngineOptions> = {}) {
  const log = new FakeLog();
  const engine = new ControllerEngine({ log, random: new SeededRandom(7), ...options });
  return { log, engine };
}

/** Collects outcomes of one request. */
function outcome<T>() {
  const seen: EngineOutcome<T>[] = [];
  return { seen, done: (o: EngineOutcome<T>) => seen.push(o) };
}

function activate(log: FakeLog, engine: ControllerEngine, epoch = 1, nowMs = 0): void {
  log.winElection(epoch);
  log.commitAll(engine, nowMs);
  expect(engine.isActive).toBe(true);
}

function register(log: FakeLog, engine: ControllerEngine, brokerId: number, nowMs: number): number {
  const r = outcome<{ brokerId: number; brokerEpoch: number }>();
  engine.registerBroker(
    { brokerId, incarnationId: `inc-${brokerId}`, rack: null, listeners: LISTENERS },
    nowMs,
    r.done,
  );
  log.commitAll(engine, nowMs);
  const o = r.seen[0];
  expect(o?.ok).toBe(true);
  return o?.ok ? o.response.brokerEpoch : -1;
}

function heartbeat(engine: ControllerEngine, brokerId: number, brokerEpoch: number, offset: number, nowMs: number) {
  const r = outcome<{ isCaughtUp: boolean; isFenced: boolean; shouldShutDown: boolean }>();
  engine.brokerHeartbeat(
    { brokerId, brokerEpoch, currentMetadataOffset: offset, wantFence: false, wantShutDown: false },
    nowMs,
    r.done,
  );
  return r.seen;
}

describe('activation', () => {
  test('a leader activates only once its own leader-change entry is committed and applied', () => {
    const { log, engine } = setup();
    log.winElection(1);
    expect(engine.isActive).toBe(false);
    const r = outcome<unknown>();
    engine.createTopics([{ name: 't', numPartitions: 1, replicationFactor: 1 }], 0, r.done);
    expect(r.seen).toEqual([{ ok: false, error: expect.objectContaining({ errorName: 'NOT_CONTROLLER' }) }]);
    log.commitAll(engine, 10);
    expect(engine.isActive).toBe(true);
    expect(engine.activeEpoch).toBe(1);
    expect(engine.controller.counters.newActiveControllers).toBe(1);
  });

  test('a standby replays what an old leader committed before it activates on its own epoch', () => {
    const { log, engine } = setup();
    // Another controller led epoch 1 and wrote a registration; we replay it as a standby.
    log.winElection(1, 2);
    log.role = 'follower';
    const other = setup();
    activate(other.log, other.engine);
    register(other.log, other.engine, 5, 0);
    for (const e of other.log.entries.slice(1)) log.entries.push(e);
    log.commitAll(engine, 0);
    expect(engine.isActive).toBe(false);
    expect(engine.committedImage.broker(5)?.fenced).toBe(true);
    // Now we win epoch 2; the old entries are already applied, ours activates.
    log.winElection(2);
    log.commitAll(engine, 5);
    expect(engine.isActive).toBe(true);
    expect(engine.controller.heartbeatState(5)?.lastContactMs).toBe(5);
  });

  test('a leader-change of an older epoch, or applied after the node lost the lead, does not activate', () => {
    const { log, engine } = setup();
    log.winElection(1);
    log.loseLeadership(2, 3);
    log.commitAll(engine, 0);
    expect(engine.isActive).toBe(false);
  });
});

describe('writes', () => {
  test('an answer waits for the commit of its records; the registration answer carries the broker epoch', () => {
    const { log, engine } = setup();
    activate(log, engine);
    const r = outcome<{ brokerId: number; brokerEpoch: number }>();
    engine.registerBroker({ brokerId: 1, incarnationId: 'a', rack: null, listeners: LISTENERS }, 0, r.done);
    expect(r.seen).toEqual([]);
    expect(engine.controller.image.broker(1)?.brokerEpoch).toBe(1);
    expect(engine.committedImage.broker(1)).toBeUndefined();
    log.commitAll(engine, 1);
    expect(r.seen).toEqual([{ ok: true, response: { brokerId: 1, brokerEpoch: 1 } }]);
    expect(engine.committedImage.broker(1)?.brokerEpoch).toBe(1);
  });

  test('losing the lead before commit fails with NOT_CONTROLLER and drops the uncommitted tail', () => {
    const { log, engine } = setup();
    activate(log, engine);
    const r = outcome<unknown>();
    engine.registerBroker({ brokerId: 1, incarnationId: 'a', rack: null, listeners: LISTENERS }, 0, r.done);
    log.loseLeadership(2, 3);
    engine.checkLeadership();
    expect(r.seen).toEqual([{ ok: false, error: expect.objectContaining({ errorName: 'NOT_CONTROLLER' }) }]);
    expect(engine.isActive).toBe(false);
    expect(engine.controller.image).toBe(engine.committedImage);
    // The next leader kept the entry and committed it: the standby replays it like any other.
    log.commitAll(engine, 5);
    expect(engine.committedImage.broker(1)?.brokerEpoch).toBe(1);
  });

  test('a failed propose deactivates and answers NOT_CONTROLLER', () => {
    const { log, engine } = setup();
    activate(log, engine);
    log.onPropose = () => log.loseLeadership(2, 2);
    const r = outcome<unknown>();
    engine.updateFeatures([{ name: 'f', featureLevel: 1 }], 0, r.done);
    expect(r.seen[0]?.ok).toBe(false);
    expect(engine.isActive).toBe(false);
  });

  test('a handler error is answered at once with its Kafka code', () => {
    const { log, engine } = setup();
    activate(log, engine);
    const seen = heartbeat(engine, 9, 1, 0, 0);
    expect(seen).toEqual([
      { ok: false, error: expect.objectContaining({ errorName: 'STALE_BROKER_EPOCH', code: 77 }) },
    ]);
  });

  test('admin writes above the cap are throttled; heartbeats never are', () => {
    const { log, engine } = setup({ maxPendingAdminWrites: 2 });
    activate(log, engine);
    const epoch = register(log, engine, 1, 0);
    expect(heartbeat(engine, 1, epoch, 10, 0)).toEqual([]);
    log.commitAll(engine, 0);
    const results = [outcome<unknown>(), outcome<unknown>(), outcome<unknown>()];
    results.forEach((r, i) => {
      engine.createTopics([{ name: `t${i}`, numPartitions: 1, replicationFactor: 1 }], 0, r.done);
    });
    expect(results[2]!.seen).toEqual([
      { ok: false, error: expect.objectContaining({ errorName: 'THROTTLING_QUOTA_EXCEEDED' }) },
    ]);
    expect(heartbeat(engine, 1, epoch, 10, 1)).toEqual([
      { ok: true, response: { isCaughtUp: true, isFenced: false, shouldShutDown: false } },
    ]);
    log.commitAll(engine, 2);
    expect(results[0]!.seen[0]?.ok).toBe(true);
    expect(results[1]!.seen[0]?.ok).toBe(true);
  });

  test('MetadataLog.propose may not call back into the engine', () => {
    const { log, engine } = setup();
    activate(log, engine);
    log.onPropose = () => engine.handleCommitted([], 0);
    expect(() => engine.updateFeatures([{ name: 'f', featureLevel: 1 }], 0, () => {})).toThrow(/re-entered/);
  });
});

describe('heartbeat priority', () => {
  test('a record-less heartbeat on a settled registration answers at once, behind uncommitted work', () => {
    const { log, engine } = setup();
    activate(log, engine);
    const e1 = register(log, engine, 1, 0);
    const e2 = register(log, engine, 2, 0);
    heartbeat(engine, 1, e1, 10, 0);
    heartbeat(engine, 2, e2, 10, 0);
    log.commitAll(engine, 0);
    // A topic is being created (uncommitted) while broker 1 heartbeats.
    const topic = outcome<unknown>();
    engine.createTopics([{ name: 't', numPartitions: 4, replicationFactor: 2 }], 100, topic.done);
    expect(topic.seen).toEqual([]);
    expect(heartbeat(engine, 1, e1, 10, 100)).toEqual([
      { ok: true, response: { isCaughtUp: true, isFenced: false, shouldShutDown: false } },
    ]);
    expect(engine.controller.heartbeatState(1)?.lastContactMs).toBe(100);
  });

  test('a heartbeat decided on an uncommitted registration change waits for that commit', () => {
    const { log, engine } = setup();
    activate(log, engine);
    const e1 = register(log, engine, 1, 0);
    // The unfence heartbeat writes a record; a second heartbeat reads the uncommitted unfence.
    const first = heartbeat(engine, 1, e1, 10, 0);
    const second = heartbeat(engine, 1, e1, 10, 1);
    expect(first).toEqual([]);
    expect(second).toEqual([]);
    log.commitAll(engine, 2);
    expect(first[0]).toEqual({ ok: true, response: { isCaughtUp: true, isFenced: false, shouldShutDown: false } });
    expect(second[0]).toEqual({ ok: true, response: { isCaughtUp: true, isFenced: false, shouldShutDown: false } });
  });

  test("one broker's heartbeats are answered in the order they came, as on the heartbeat stream", () => {
    const { log, engine } = setup({ maxIdleIntervalMs: 0 });
    activate(log, engine);
    const e1 = register(log, engine, 1, 0);
    heartbeat(engine, 1, e1, 100, 0);
    log.commitAll(engine, 0);
    const order: string[] = [];
    const send = (name: string, wantFence: boolean) =>
      engine.brokerHeartbeat(
        { brokerId: 1, brokerEpoch: e1, currentMetadataOffset: 100, wantFence, wantShutDown: false },
        1,
        (o) => order.push(`${name}:${o.ok ? (o.response.isFenced ? 'fenced' : 'unfenced') : o.error.errorName}`),
      );
    send('a', true); // writes the fence record at offset X
    const fenceEnd = log.entries.length;
    engine.updateFeatures([{ name: 'f', featureLevel: 1 }], 1, () => {}); // more uncommitted work at X+1
    send('b', true); // read the uncommitted fence: waits for X+1
    log.commitTo(engine, fenceEnd, 2); // the fence commits, the feature not yet
    expect(order).toEqual(['a:fenced']);
    send('c', true); // settled now, but b is still waiting: c goes after it
    engine.brokerHeartbeat(
      { brokerId: 1, brokerEpoch: e1 + 1000, currentMetadataOffset: 100, wantFence: false, wantShutDown: false },
      3,
      (o) => order.push(`d:${o.ok ? 'ok' : o.error.errorName}`),
    );
    expect(order).toEqual(['a:fenced']);
    log.commitAll(engine, 4);
    expect(order).toEqual(['a:fenced', 'b:fenced', 'c:fenced', 'd:STALE_BROKER_EPOCH']);
    // Nothing pending: the next one is answered at once again.
    send('e', true);
    expect(order[order.length - 1]).toBe('e:fenced');
  });

  test('a closed connection fences at once, with the leader moves in the same batch', () => {
    const { log, engine } = setup();
    activate(log, engine);
    const e1 = register(log, engine, 1, 0);
    const e2 = register(log, engine, 2, 0);
    heartbeat(engine, 1, e1, 10, 0);
    heartbeat(engine, 2, e2, 10, 0);
    log.commitAll(engine, 0);
    engine.createTopics([{ name: 't', assignments: [[1, 2]] }], 0, () => {});
    log.commitAll(engine, 0);
    const before = log.entries.length;
    const r = outcome<{ fenced: boolean }>();
    engine.brokerConnectionLost(1, e1, 50, r.done);
    const records = log.entries.slice(before).map((e) => decodeRecord(e.data));
    expect(records.map((x) => x.type)).toEqual(['PartitionChange', 'BrokerRegistrationChange']);
    log.commitAll(engine, 51);
    expect(r.seen).toEqual([{ ok: true, response: { fenced: true } }]);
    const p = engine.committedImage.topicByName('t')!.partitions[0]!;
    expect(p.leader).toBe(2);
    expect(p.isr).toEqual([2]);
  });

  test("the active controller's image (adopted from its handlers' own replay) equals a standby's replay", () => {
    const { log, engine } = setup();
    activate(log, engine);
    const epochs = [1, 2, 3].map((id) => register(log, engine, id, 0));
    epochs.forEach((epoch, i) => {
      heartbeat(engine, i + 1, epoch, 10, 0);
    });
    log.commitAll(engine, 0);
    engine.createTopics([{ name: 'a', numPartitions: 30, replicationFactor: 3 }], 1, () => {});
    // Two handlers before a commit: the second decides on the first's uncommitted records.
    engine.createTopics([{ name: 'b', numPartitions: 7, replicationFactor: 2 }], 1, () => {});
    log.commitAll(engine, 1);
    engine.brokerConnectionLost(1, epochs[0]!, 2, () => {});
    engine.brokerConnectionLost(2, epochs[1]!, 2, () => {});
    // A leader-change entry between batches: the next batch's offsets differ from the handler's stand-ins.
    log.commitAll(engine, 3);
    log.loseLeadership(2, 3);
    engine.checkLeadership();
    log.winElection(3);
    log.commitAll(engine, 4);
    expect(engine.isActive).toBe(true);
    const e1 = register(log, engine, 1, 5);
    heartbeat(engine, 1, e1, log.entries.length, 5);
    log.commitAll(engine, 5);
    expect(engine.committedImage.broker(1)?.fenced).toBe(false);
    const standby = setup();
    standby.log.entries.push(...log.entries);
    standby.log.commitAll(standby.engine, 6);
    expect(standby.engine.committedImage.offset).toBe(engine.committedImage.offset);
    expect(standby.engine.committedImage.equals(engine.committedImage)).toBe(true);
    expect(engine.controller.image.equals(engine.committedImage)).toBe(true);
  });
});

describe('periodic duties', () => {
  test('a NoOp after metadata.max.idle.interval.ms without appends', () => {
    const { log, engine } = setup();
    activate(log, engine, 1, 1000);
    expect(engine.nextDeadlineMs()).toBe(1500);
    engine.tick(1499);
    expect(log.entries.length).toBe(1);
    engine.tick(1500);
    expect(decodeRecord(log.entries[1]!.data).type).toBe('NoOp');
    expect(engine.nextDeadlineMs()).toBe(2000);
    // Any append restarts the idle interval.
    engine.updateFeatures([{ name: 'f', featureLevel: 1 }], 1800, () => {});
    expect(engine.nextDeadlineMs()).toBe(2300);
  });

  test('brokers whose session expired are fenced at the deadline; standbys have no deadline', () => {
    const { log, engine } = setup({ brokerSessionTimeoutMs: 9000, maxIdleIntervalMs: 0 });
    activate(log, engine);
    const e1 = register(log, engine, 1, 0);
    heartbeat(engine, 1, e1, 10, 0);
    log.commitAll(engine, 0);
    expect(engine.committedImage.broker(1)?.fenced).toBe(false);
    expect(engine.nextDeadlineMs()).toBe(9001);
    engine.tick(9001);
    log.commitAll(engine, 9001);
    expect(engine.committedImage.broker(1)?.fenced).toBe(true);
    expect(engine.controller.counters.timedOutBrokerHeartbeats).toBe(1);
    log.loseLeadership(2, 2);
    engine.checkLeadership();
    expect(engine.nextDeadlineMs()).toBe(Number.POSITIVE_INFINITY);
  });

  test('leader moves feed the election latency when they commit', () => {
    const { log, engine } = setup({ maxIdleIntervalMs: 0 });
    activate(log, engine);
    const e1 = register(log, engine, 1, 0);
    const e2 = register(log, engine, 2, 0);
    heartbeat(engine, 1, e1, 10, 0);
    heartbeat(engine, 2, e2, 10, 0);
    log.commitAll(engine, 0);
    engine.createTopics([{ name: 't', assignments: [[1, 2]] }], 0, () => {});
    log.commitAll(engine, 0);
    engine.brokerConnectionLost(1, e1, 100);
    log.commitAll(engine, 130);
    expect(engine.controller.counters.leaderElectionLatencyCount).toBe(1);
    expect(engine.controller.counters.leaderElectionLatencyMaxMs).toBe(30);
  });
});

describe('preferred leader rebalancing', () => {
  test('runs on the dynamic leader.imbalance.check.interval.seconds and moves leadership back', () => {
    const { log, engine } = setup({ maxIdleIntervalMs: 0 });
    activate(log, engine, 1, 0);
    const e1 = register(log, engine, 1, 0);
    const e2 = register(log, engine, 2, 0);
    heartbeat(engine, 2, e2, 100, 0);
    log.commitAll(engine, 0);
    // Broker 1 (preferred) is fenced when the topic is created, so broker 2 leads.
    engine.createTopics([{ name: 't', assignments: [[1, 2]] }], 0, () => {});
    log.commitAll(engine, 0);
    heartbeat(engine, 1, e1, 100, 0);
    log.commitAll(engine, 0);
    const topicId = engine.committedImage.topicByName('t')!.topicId;
    const p = engine.committedImage.partition(topicId, 0)!;
    expect(p.leader).toBe(2);
    engine.alterPartition(
      {
        brokerId: 2,
        brokerEpoch: e2,
        topicId,
        partition: 0,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        newIsr: [2, 1],
      },
      0,
      () => {},
    );
    log.commitAll(engine, 0);
    expect(engine.nextDeadlineMs()).toBe(9001); // the session check; the rebalance is 300 s away
    engine.incrementalAlterConfigs(
      [
        {
          resourceType: 'cluster',
          resourceName: '',
          ops: [{ name: 'leader.imbalance.check.interval.seconds', op: 'set', value: '5' }],
        },
      ],
      false,
      10,
      () => {},
    );
    log.commitAll(engine, 10);
    expect(engine.nextDeadlineMs()).toBe(5000);
    engine.tick(5000);
    log.commitAll(engine, 5000);
    expect(engine.committedImage.partition(topicId, 0)!.leader).toBe(1);
    expect(engine.nextDeadlineMs()).toBe(9001);
  });
});

describe('snapshots', () => {
  test('a snapshot of the committed image loads on a standby that then replays what follows', () => {
    const { log, engine } = setup();
    activate(log, engine);
    register(log, engine, 1, 0);
    register(log, engine, 2, 0);
    const snapshot = engine.takeSnapshot()!;
    expect(snapshot.id.endOffset).toBe(log.entries.length);
    register(log, engine, 3, 0);

    const standbyLog = new FakeLog();
    const standby = new ControllerEngine({ log: standbyLog, random: new SeededRandom(1) });
    standby.handleSnapshot(snapshot);
    expect(standby.appliedOffset).toBe(snapshot.id.endOffset - 1);
    standby.handleCommitted(log.entries.slice(snapshot.id.endOffset), 0);
    expect(standby.committedImage.equals(engine.committedImage)).toBe(true);
  });
});
