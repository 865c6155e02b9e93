import { isRaftkaError, SeededRandom } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { controllerImageGauges, QuorumController } from '../src/index.js';
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

describe('broker registration', () => {
  it('makes the broker epoch the offset of the registration record, and starts fenced', () => {
    const h = new Harness();
    h.apply(h.controller.noOp());
    h.apply(h.controller.noOp());
    const epoch = h.register(1, 'r1');
    expect(epoch).toBe(2);
    const b = h.image.broker(1)!;
    expect(b).toMatchObject({ brokerEpoch: 2, fenced: true, rack: 'r1', inControlledShutdown: false });
    expect(Object.isFrozen(b)).toBe(true);
  });

  it('answers a retry from the same incarnation with the existing epoch and no records', () => {
    const h = new Harness();
    const epoch = h.register(1, null, 'abc');
    const retry = h.controller.registerBroker(
      { brokerId: 1, incarnationId: 'abc', rack: null, listeners: [] },
      h.nowMs,
    );
    expect(retry.records).toEqual([]);
    expect(retry.response.brokerEpoch).toBe(epoch);
  });

  it('refuses a second live incarnation with DUPLICATE_BROKER_REGISTRATION', () => {
    const h = new Harness();
    h.addBrokers([1]);
    h.nowMs += 1000;
    h.heartbeat(1);
    expectCode(
      () => h.controller.registerBroker({ brokerId: 1, incarnationId: 'other', rack: null, listeners: [] }, h.nowMs),
      'DUPLICATE_BROKER_REGISTRATION',
    );
  });

  it('lets a new incarnation replace one that stopped heartbeating, and moves its leadership away', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.createTopic('t', 6, 3);
    const oldEpoch = h.epochs.get(1)!;
    h.nowMs += h.controller.brokerSessionTimeoutMs + 1;
    h.heartbeat(2);
    h.heartbeat(3);
    const newEpoch = h.register(1, null, 'fresh');
    expect(newEpoch).toBeGreaterThan(oldEpoch);
    expect(h.image.broker(1)).toMatchObject({ incarnationId: 'fresh', fenced: true });
    for (const p of h.image.topicByName('t')!.partitions) {
      expect(p.leader).not.toBe(1);
      expect(p.isr).not.toContain(1);
    }
    checkPartitionInvariants(h.image);
    // The old epoch is now stale.
    expectCode(() => h.heartbeat(1, { epoch: oldEpoch }), 'STALE_BROKER_EPOCH');
  });

  it('refuses a second incarnation while the first heartbeats, even fenced (wantFence)', () => {
    const h = new Harness();
    h.register(1);
    h.heartbeat(1, { wantFence: true });
    expect(h.image.broker(1)!.fenced).toBe(true);
    expectCode(
      () => h.controller.registerBroker({ brokerId: 1, incarnationId: 'other', rack: null, listeners: [] }, h.nowMs),
      'DUPLICATE_BROKER_REGISTRATION',
    );
  });

  it('lets a new incarnation replace one whose heartbeat stream broke, at once', () => {
    const h = new Harness();
    h.addBrokers([1]);
    h.apply(h.controller.brokerConnectionLost(1, h.epochs.get(1)!));
    expect(h.image.broker(1)!.fenced).toBe(true);
    h.register(1, null, 'fresh');
    expect(h.image.broker(1)!.incarnationId).toBe('fresh');
  });

  it('refuses a negative broker id or a bad listener with INVALID_REQUEST', () => {
    const h = new Harness();
    expectCode(
      () => h.controller.registerBroker({ brokerId: -1, incarnationId: 'x', rack: null, listeners: [] }, 0),
      'INVALID_REQUEST',
    );
    expectCode(
      () =>
        h.controller.registerBroker(
          { brokerId: 1, incarnationId: 'x', rack: null, listeners: [{ name: 'PLAINTEXT', host: 'h', port: 70_000 }] },
          0,
        ),
      'INVALID_REQUEST',
    );
  });
});

describe('describeBrokers', () => {
  it('lists every registration with its state and soft heartbeat fields', () => {
    const h = new Harness();
    h.addBrokers([2, 1], (id) => `r${id}`);
    h.register(3);
    h.heartbeat(1, { wantShutDown: true });
    h.nowMs += 5;
    h.heartbeat(2, { offset: 4 });
    const brokers = h.controller.describeBrokers();
    expect(brokers.map((b) => [b.brokerId, b.state, b.rack])).toEqual([
      [1, 'controlled-shutdown', 'r1'],
      [2, 'unfenced', 'r2'],
      [3, 'fenced', null],
    ]);
    expect(brokers[1]).toMatchObject({ lastContactMs: h.nowMs, metadataOffset: 4 });
    h.controller.resign();
    expect(h.controller.describeBrokers()[1]).toMatchObject({ lastContactMs: null, metadataOffset: -1 });
  });
});

describe('broker heartbeat', () => {
  it('refuses a wrong broker epoch (STALE_BROKER_EPOCH), also for an unknown broker', () => {
    const h = new Harness();
    const epoch = h.register(1);
    expectCode(() => h.heartbeat(1, { epoch: epoch + 7 }), 'STALE_BROKER_EPOCH');
    expectCode(() => h.heartbeat(9, { epoch: 0 }), 'STALE_BROKER_EPOCH');
  });

  it('unfences only once the broker has caught up to its registration offset', () => {
    const h = new Harness();
    h.apply(h.controller.noOp());
    const epoch = h.register(1);
    expect(h.heartbeat(1, { offset: epoch - 1 })).toEqual({ isCaughtUp: false, isFenced: true, shouldShutDown: false });
    expect(h.image.broker(1)!.fenced).toBe(true);
    expect(h.heartbeat(1, { offset: epoch })).toEqual({ isCaughtUp: true, isFenced: false, shouldShutDown: false });
    expect(h.image.broker(1)!.fenced).toBe(false);
  });

  it('keeps a broker fenced while it asks to be (wantFence) and fences an unfenced one that asks', () => {
    const h = new Harness();
    h.register(1);
    expect(h.heartbeat(1, { wantFence: true }).isFenced).toBe(true);
    expect(h.image.broker(1)!.fenced).toBe(true);
    h.heartbeat(1);
    expect(h.image.broker(1)!.fenced).toBe(false);
    expect(h.heartbeat(1, { wantFence: true }).isFenced).toBe(true);
    expect(h.image.broker(1)!.fenced).toBe(true);
  });

  it('tells a fenced broker that wants to shut down to do so at once', () => {
    const h = new Harness();
    h.register(1);
    expect(h.heartbeat(1, { wantShutDown: true })).toMatchObject({ isFenced: true, shouldShutDown: true });
    // Its restart may register at once.
    h.register(1, null, 'restarted');
    expect(h.image.broker(1)!.incarnationId).toBe('restarted');
  });
});

describe('session timeout and lost connections', () => {
  it('fences a broker after broker.session.timeout.ms without contact, and counts it', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    expect(h.controller.brokerSessionTimeoutMs).toBe(9000);
    h.nowMs += 9000;
    h.heartbeat(2);
    const early = h.controller.maybeFenceStaleBrokers(h.nowMs);
    expect(early.records).toEqual([]);
    expect(early.response.nextCheckMs).toBe(h.nowMs + 1 - 9000 + 9000);
    h.nowMs += 1;
    const late = h.controller.maybeFenceStaleBrokers(h.nowMs);
    expect(late.response.fencedBrokerIds).toEqual([1]);
    h.apply(late);
    expect(h.image.broker(1)!.fenced).toBe(true);
    expect(h.image.broker(2)!.fenced).toBe(false);
    expect(h.controller.counters.timedOutBrokerHeartbeats).toBe(1);
    expect(controllerImageGauges(h.image)).toMatchObject({ activeBrokerCount: 1, fencedBrokerCount: 1 });
  });

  it('fences several stale brokers in one batch without electing one of them', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.createTopic('t', 3, 3);
    h.nowMs += 10_000;
    h.heartbeat(3);
    const result = h.controller.maybeFenceStaleBrokers(h.nowMs);
    expect(result.response.fencedBrokerIds).toEqual([1, 2]);
    h.apply(result);
    for (const p of h.image.topicByName('t')!.partitions) {
      expect(p.leader).toBe(3);
      expect(p.isr).toEqual([3]);
    }
  });

  it('seeds every broker with now on becoming active (KAFKA-18138)', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    // Fail over: a new controller replays the log and becomes active much later.
    const standby = new QuorumController({ random: new SeededRandom(2) });
    for (const { record, offset } of h.log) standby.replay(record, offset);
    standby.commit(h.endOffset - 1);
    const later = h.nowMs + 60_000;
    standby.becomeActive(later);
    expect(standby.maybeFenceStaleBrokers(later + 9000).records).toEqual([]);
    expect(standby.maybeFenceStaleBrokers(later + 9001).response.fencedBrokerIds).toEqual([1, 2]);
  });

  it('fences at once when the heartbeat stream breaks, only for the current epoch', () => {
    const h = new Harness();
    h.addBrokers([1]);
    const epoch = h.epochs.get(1)!;
    expect(h.controller.brokerConnectionLost(1, epoch + 1).response.fenced).toBe(false);
    const r = h.controller.brokerConnectionLost(1, epoch);
    expect(r.response.fenced).toBe(true);
    h.apply(r);
    expect(h.image.broker(1)!.fenced).toBe(true);
    expect(h.controller.brokerConnectionLost(1, epoch).records).toEqual([]);
  });
});

describe('controlled shutdown', () => {
  it('moves leadership away, leaves the ISRs, and allows shutdown once every broker has seen it', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    h.createTopic('t', 9, 3);
    const led = h.image.topicByName('t')!.partitions.filter((p) => p.leader === 1).length;
    expect(led).toBeGreaterThan(0);

    const first = h.heartbeat(1, { wantShutDown: true });
    expect(first).toMatchObject({ isFenced: false, shouldShutDown: false });
    const b1 = h.image.broker(1)!;
    expect(b1.inControlledShutdown).toBe(true);
    // The shutdown record is last in its batch, so its offset covers the leader moves.
    expect(b1.controlledShutdownOffset).toBe(h.endOffset - 1);
    for (const p of h.image.topicByName('t')!.partitions) {
      expect(p.leader).not.toBe(1);
      expect(p.isr).not.toContain(1);
    }
    expect(controllerImageGauges(h.image).controlledShutdownBrokerCount).toBe(1);

    // Brokers 2 and 3 have not reported the shutdown offset yet.
    h.heartbeat(2, { offset: b1.controlledShutdownOffset - 1 });
    h.heartbeat(3, { offset: b1.controlledShutdownOffset - 1 });
    expect(h.heartbeat(1, { wantShutDown: true }).shouldShutDown).toBe(false);
    h.heartbeat(2);
    expect(h.heartbeat(1, { wantShutDown: true }).shouldShutDown).toBe(false);
    h.heartbeat(3);
    expect(h.heartbeat(1, { wantShutDown: true }).shouldShutDown).toBe(true);
    checkPartitionInvariants(h.image);
  });

  it('keeps a broker that may not join ISRs while shutting down out of them (INELIGIBLE_REPLICA)', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.createTopic('t', 1, 2);
    h.heartbeat(2, { wantShutDown: true });
    const p = h.partition('t', 0);
    expect(p.leader).toBe(1);
    expect(p.isr).toEqual([1]);
    expectCode(
      () =>
        h.controller.alterPartition({
          brokerId: 1,
          brokerEpoch: h.epochs.get(1)!,
          topicId: h.topicId('t'),
          partition: 0,
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: p.partitionEpoch,
          newIsr: [1, 2],
        }),
      'INELIGIBLE_REPLICA',
    );
  });

  it('takes a single-replica partition offline rather than keep a leader that is leaving', () => {
    const h = new Harness();
    h.addBrokers([1]);
    h.createTopic('t', 1, 1);
    h.heartbeat(1, { wantShutDown: true });
    expect(h.partition('t', 0)).toMatchObject({ leader: -1, isr: [1] });
    expect(h.heartbeat(1, { wantShutDown: true }).shouldShutDown).toBe(true);
    // The restarted broker comes back as the last ISR member and leads again.
    h.register(1, null, 'after-restart');
    h.heartbeat(1);
    expect(h.partition('t', 0)).toMatchObject({ leader: 1, isr: [1] });
  });
});
