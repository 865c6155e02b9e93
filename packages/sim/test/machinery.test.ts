// Unit tests of the simulator's own parts: the event queue, the network's
// faults and partitions, the disk's crash model and the state machine's
// snapshots. Randomized cases print their seed.

import { SeededRandom } from '@raftka/common';
import type { LogEntry } from '@raftka/raft';
import { describe, expect, test } from 'vitest';
import {
  EventQueue,
  encodeRecord,
  KvStateMachine,
  RaftControllerNode,
  SIM_RAFT_CONFIG,
  SimDisk,
  SimNetwork,
  type SimNode,
  World,
} from '../src/index.js';
import { soloCore } from './fakes.js';

function entry(offset: number, epoch = 1, value = `v${offset}`): LogEntry {
  return { offset, epoch, kind: 'data', data: encodeRecord('k', value), appendTimeMs: 0 };
}

describe('EventQueue', () => {
  test('pops by time, then by insertion order, and moves the clock', () => {
    const seed = 7;
    console.log('seed=', seed);
    const random = new SeededRandom(seed);
    const queue = new EventQueue<number>();
    const scheduled: { timeMs: number; id: number }[] = [];
    for (let id = 0; id < 500; id++) {
      const timeMs = random.int(0, 50);
      queue.schedule(timeMs, id);
      scheduled.push({ timeMs, id });
    }
    scheduled.sort((a, b) => a.timeMs - b.timeMs || a.id - b.id);
    const popped: number[] = [];
    for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
      popped.push(id);
      expect(queue.nowMs).toBe(scheduled[popped.length - 1]?.timeMs);
    }
    expect(popped).toEqual(scheduled.map((s) => s.id));
  });

  test('refuses to schedule in the past', () => {
    const queue = new EventQueue<string>();
    queue.schedule(10, 'a');
    queue.pop();
    expect(() => queue.schedule(5, 'b')).toThrow(/past/);
  });
});

describe('SimNetwork', () => {
  test('drops, duplicates and delays within the configured bounds', () => {
    const seed = 11;
    console.log('seed=', seed);
    const network = new SimNetwork(new SeededRandom(seed));
    network.faults = {
      dropProbability: 0.2,
      duplicateProbability: 0.1,
      delayMinMs: 3,
      delayMaxMs: 9,
      slowProbability: 0,
      slowDelayMaxMs: 0,
    };
    let copies = 0;
    for (let i = 0; i < 10_000; i++) {
      const times = network.route({ from: 1, to: 2 }, 100);
      copies += times.length;
      for (const t of times) expect(t >= 103 && t <= 109).toBe(true);
    }
    expect(network.dropped).toBeGreaterThan(1500);
    expect(network.dropped).toBeLessThan(2500);
    expect(network.duplicated).toBeGreaterThan(500);
    expect(copies).toBe(10_000 - network.dropped + network.duplicated);
  });

  test('partitions are directed, symmetric ones block both ways, and heal clears them', () => {
    const network = new SimNetwork(new SeededRandom(1));
    network.blockOneWay(1, 2);
    expect(network.route({ from: 1, to: 2 }, 0)).toEqual([]);
    expect(network.route({ from: 2, to: 1 }, 0)).toHaveLength(1);
    network.partition([[1], [2, 3]]);
    expect(network.isBlocked(3, 1)).toBe(true);
    expect(network.isBlocked(2, 3)).toBe(false);
    network.heal();
    expect(network.partitioned).toBe(false);
  });
});

describe('SimDisk', () => {
  test('a crash loses every write not yet synced, and only those', () => {
    const disk = new SimDisk();
    disk.writeQuorumState({ epoch: 1, votedId: 2, leaderId: -1 });
    disk.write({ kind: 'append', entries: [entry(0), entry(1)] });
    disk.sync();
    disk.writeQuorumState({ epoch: 2, votedId: 3, leaderId: -1 });
    disk.write({ kind: 'truncate', fromOffset: 1 });
    disk.write({ kind: 'append', entries: [entry(1, 2), entry(2, 2)] });
    expect(disk.written.entries.map((e) => e.epoch)).toEqual([1, 2, 2]);
    disk.crash();
    const recovered = disk.load();
    expect(recovered.quorumState).toEqual({ epoch: 1, votedId: 2, leaderId: -1 });
    expect(recovered.entries.map((e) => [e.offset, e.epoch])).toEqual([
      [0, 1],
      [1, 1],
    ]);
    expect(disk.lostOps).toBe(3);
  });

  test('snapshots are durable at once and the log after them is what a restart loads', () => {
    const disk = new SimDisk();
    disk.write({ kind: 'append', entries: [0, 1, 2, 3, 4].map((o) => entry(o)) });
    disk.sync();
    const machine = new KvStateMachine();
    for (const e of disk.written.entries.slice(0, 3)) machine.apply(e);
    disk.saveSnapshot(machine.takeSnapshot());
    disk.write({ kind: 'deleteBefore', offset: 3 });
    disk.crash();
    const recovered = disk.load();
    expect(recovered.snapshot?.id.endOffset).toBe(3);
    expect(recovered.entries.map((e) => e.offset)).toEqual([3, 4]);
  });

  test('a crash may keep a prefix of the unsynced batches, never part of one', () => {
    const disk = new SimDisk();
    disk.beginBatch();
    disk.write({ kind: 'append', entries: [entry(0), entry(1)] });
    disk.beginBatch();
    disk.writeQuorumState({ epoch: 3, votedId: 1, leaderId: -1 });
    disk.write({ kind: 'append', entries: [entry(2, 3)] });
    disk.beginBatch();
    disk.write({ kind: 'append', entries: [entry(3, 3)] });
    expect(disk.unsyncedBatches).toBe(3);
    disk.crash(2);
    const recovered = disk.load();
    expect(recovered.quorumState.epoch).toBe(3);
    expect(recovered.entries.map((e) => e.offset)).toEqual([0, 1, 2]);
    expect(disk.lostOps).toBe(1);
  });

  test('refuses entries that do not continue the log', () => {
    const disk = new SimDisk();
    expect(disk.write({ kind: 'append', entries: [entry(1)] })).toMatch(/does not continue/);
  });

  test('wipe loses everything', () => {
    const disk = new SimDisk();
    disk.write({ kind: 'append', entries: [entry(0)] });
    disk.sync();
    disk.wipe();
    expect(disk.load().entries).toEqual([]);
  });
});

describe('KvStateMachine', () => {
  test('a snapshot round-trips state and history, and applying continues after it', () => {
    const a = new KvStateMachine();
    for (let o = 0; o < 10; o++) a.apply(entry(o, 1, `x${o % 3}`));
    const b = KvStateMachine.fromSnapshot(a.takeSnapshot());
    expect(b.nextOffset).toBe(10);
    expect(b.historyHash).toBe(a.historyHash);
    expect([...b.kv]).toEqual([...a.kv].sort());
    a.apply(entry(10));
    b.apply(entry(10));
    expect(b.historyHash).toBe(a.historyHash);
    expect(() => b.apply(entry(12))).toThrow(/expected 11/);
  });
});

describe('World with a non-Raft node kind', () => {
  /** Sends a ping to every peer every 100 ms and counts what arrives; enough to exercise the generic loop. */
  class PingNode implements SimNode {
    up = true;
    incarnation = 0;
    received = 0;
    disconnects: number[] = [];
    #nextPingMs = 0;
    constructor(
      readonly nodeId: number,
      readonly peers: number[],
      readonly world: World,
    ) {}
    receive(): void {
      this.received++;
    }
    tick(nowMs: number): void {
      if (nowMs < this.#nextPingMs) return;
      for (const peer of this.peers) this.world.send({ from: this.nodeId, to: peer, type: 'Ping' });
      this.#nextPingMs = nowMs + 100;
    }
    nextDeadlineMs(): number {
      return this.#nextPingMs;
    }
    peerDisconnected(peer: number): void {
      this.disconnects.push(peer);
    }
    crash(): void {
      this.up = false;
      this.incarnation++;
    }
    restart(nowMs: number): void {
      this.up = true;
      this.#nextPingMs = nowMs;
    }
  }

  test('timers, delivery, partitions and crash notifications', () => {
    const world = new World({ seed: 3, trace: true, eventsMax: 10_000, disconnectDelayMaxMs: 10 });
    const nodes = [1, 2, 3].map(
      (id) =>
        new PingNode(
          id,
          [1, 2, 3].filter((p) => p !== id),
          world,
        ),
    );
    for (const node of nodes) world.addNode(node);
    world.start();
    world.runFor(1000);
    // Ten rounds of pings, each node hearing from two peers (the last round may still be in flight).
    for (const node of nodes) expect(node.received).toBeGreaterThanOrEqual(18);
    world.network.isolate(1, [1, 2, 3]);
    const before = nodes[0]!.received;
    world.runFor(1000);
    expect(nodes[0]!.received - before).toBeLessThanOrEqual(2);
    expect(nodes[0]!.disconnects).toEqual([]);
    world.network.heal();
    world.crash(3);
    world.runFor(50);
    expect(nodes[0]!.disconnects).toEqual([3]);
    expect(nodes[1]!.disconnects).toEqual([3]);
    expect(world.traceLines.some((line) => line.includes('1->2 Ping'))).toBe(true);
  });
});

describe('RaftControllerNode with slow fsyncs', () => {
  test('the driver waits for the fsync, queues what arrives, and a crash meanwhile loses the Ready', () => {
    const world = new World({ seed: 1, trace: false, eventsMax: 10_000, disconnectDelayMaxMs: 10 });
    const ignore = (): void => {};
    const observer = {
      sendingEarly: ignore,
      persisted: ignore,
      truncated: ignore,
      installing: ignore,
      applying: ignore,
      restarted: ignore,
    };
    const node = new RaftControllerNode(
      {
        config: { ...SIM_RAFT_CONFIG, nodeId: 1, voters: [1] },
        createCore: soloCore(),
        random: new SeededRandom(1),
        send: (message) => world.send(message),
        clockSeed: 1,
        snapshotEveryEntries: 1000,
        observer,
        fsyncLatencyMs: () => 10,
        scheduleAt: (timeMs, label, run) => world.at(timeMs, label, run),
      },
      0,
    );
    world.addNode(node);
    world.start();
    // The leader-change record is being synced until t=10: not durable, not committed.
    expect(node.disk.durable.entries).toHaveLength(0);
    expect(node.core.highWatermark).toBe(0);
    expect(node.nextDeadlineMs()).toBe(10);
    expect(node.propose([encodeRecord('k', 'a')], 0)).toBeUndefined();
    world.runFor(10);
    // Synced and committed; the queued proposal ran and its own fsync is under way.
    expect(node.core.highWatermark).toBe(1);
    expect(node.stateMachine.nextOffset).toBe(1);
    expect(node.disk.written.entries).toHaveLength(2);
    expect(node.disk.durable.entries).toHaveLength(1);
    world.crash(1);
    world.restart(1);
    expect(node.disk.durable.entries.map((e) => e.kind)).toEqual(['leader-change']);
  });

  test('a paused process runs no timers and queues what arrives until it resumes', () => {
    const world = new World({ seed: 2, trace: false, eventsMax: 10_000, disconnectDelayMaxMs: 10 });
    const ignore = (): void => {};
    const observer = {
      sendingEarly: ignore,
      persisted: ignore,
      truncated: ignore,
      installing: ignore,
      applying: ignore,
      restarted: ignore,
    };
    const node = new RaftControllerNode(
      {
        config: { ...SIM_RAFT_CONFIG, nodeId: 1, voters: [1] },
        createCore: soloCore(),
        random: new SeededRandom(2),
        send: (message) => world.send(message),
        clockSeed: 2,
        snapshotEveryEntries: 1000,
        observer,
        fsyncLatencyMs: () => 0,
        scheduleAt: (timeMs, label, run) => world.at(timeMs, label, run),
      },
      0,
    );
    world.addNode(node);
    world.start();
    expect(node.core.highWatermark).toBe(1);
    expect(node.pause(0, 500)).toBe(true);
    expect(node.pause(0, 500)).toBe(false);
    expect(node.nextDeadlineMs()).toBe(500);
    expect(node.propose([encodeRecord('k', 'a')], 0)).toBeUndefined();
    world.runFor(499);
    expect(node.core.logEndOffset).toBe(1);
    world.runFor(1);
    expect(node.core.logEndOffset).toBe(2);
    expect(node.stateMachine.kv.get('k')).toBe('a');
  });
});
