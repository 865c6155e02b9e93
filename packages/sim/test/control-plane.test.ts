// The control-plane simulation: controllers running the real Raft core, the
// real ControllerEngine and QuorumController; brokers as Raft observers with
// the registration/heartbeat/fencing lifecycle; random broker crashes,
// controlled shutdowns, pauses, partitions, controller failovers and a lossy
// network. Invariants after every event, convergence after healing. Failures
// print the seed and the replay command (`pnpm raftka sim --seed N --scenario control-plane --trace`).

import { MetadataDelta, MetadataImage, QuorumController, type QuorumControllerOptions } from '@raftka/metadata';
import { describe, expect, test } from 'vitest';
import { CONTROL_PLANE_SCENARIO, ControlPlaneInvariants, runControlPlaneSeed, runSimulation } from '../src/index.js';
import { failureReport } from './report.js';

const FIRST_SEED = 1;
const SEEDS = 200;

describe('control-plane scenario', () => {
  test(`seeds ${FIRST_SEED}..${FIRST_SEED + SEEDS - 1} hold every invariant and converge`, () => {
    console.log(`sim ${CONTROL_PLANE_SCENARIO}: seeds ${FIRST_SEED}..${FIRST_SEED + SEEDS - 1}`);
    const summary = runSimulation({ firstSeed: FIRST_SEED, seeds: SEEDS, scenario: CONTROL_PLANE_SCENARIO });
    console.log(
      `sim ${CONTROL_PLANE_SCENARIO}: ${summary.seedsRun} seeds, ${summary.events} events, ${Math.round(summary.simTimeMs / 1000)}s simulated, ${summary.elections} controller activations`,
    );
    expect(summary.seedsRun).toBe(SEEDS);
    expect(summary.failures, failureReport(summary)).toEqual([]);
    expect(summary.elections).toBeGreaterThanOrEqual(SEEDS);
  }, 300_000);

  test('a seed replays exactly: same trace hash twice, with and without a text trace', () => {
    const first = runControlPlaneSeed(7);
    const second = runControlPlaneSeed(7, { trace: true });
    expect(first.ok).toBe(true);
    expect(second.traceHash).toBe(first.traceHash);
    expect(second.events).toBe(first.events);
    expect(runControlPlaneSeed(8).traceHash).not.toBe(first.traceHash);
  });
});

/** A controller that forgets to move leadership off the brokers it fences (keeps only the fence record). */
class ForgetsToMoveLeaders extends QuorumController {
  override maybeFenceStaleBrokers(nowMs: number) {
    const result = super.maybeFenceStaleBrokers(nowMs);
    return { ...result, records: result.records.filter((r) => r.type !== 'PartitionChange') };
  }

  override brokerConnectionLost(brokerId: number, brokerEpoch: number) {
    const result = super.brokerConnectionLost(brokerId, brokerEpoch);
    return { ...result, records: result.records.filter((r) => r.type !== 'PartitionChange') };
  }
}

/** A controller that writes AlterPartition's new ISR without the leader in it. */
class DropsLeaderFromIsr extends QuorumController {
  override alterPartition(request: Parameters<QuorumController['alterPartition']>[0]) {
    const result = super.alterPartition(request);
    const records = result.records.map((r) =>
      r.type === 'PartitionChange' && r.isr !== null && r.isr.length > 1
        ? { ...r, isr: r.isr.filter((id) => id !== request.brokerId) }
        : r,
    );
    return { ...result, records };
  }
}

describe('the checkers catch broken controllers', () => {
  const mutants: [string, (o: QuorumControllerOptions) => QuorumController, string][] = [
    ['forgets to move leaders off fenced brokers', (o) => new ForgetsToMoveLeaders(o), 'FencedLeadsNothing'],
    ['drops the leader from the ISR on AlterPartition', (o) => new DropsLeaderFromIsr(o), 'LeaderInIsr'],
  ];
  test.each(mutants)('a controller that %s', (_name, createController, invariant) => {
    const results = [1, 2, 3, 4, 5, 6].map((seed) => runControlPlaneSeed(seed, { createController }));
    const caught = results.filter((r) => r.invariant === invariant);
    for (const r of results) console.log(`seed=${r.seed} ${r.ok ? 'ok' : r.failure?.slice(0, 160)}`);
    expect(caught.length).toBeGreaterThanOrEqual(4);
    expect(caught[0]?.replayCommand).toMatch(/--scenario control-plane/);
  });
});

describe('invariant checks on hand-made images', () => {
  const registered = (offset: number) => {
    const d = new MetadataDelta(MetadataImage.EMPTY);
    d.replay({ type: 'RegisterBroker', brokerId: 1, incarnationId: 'a', rack: null, listeners: [] }, offset);
    return d.apply();
  };
  const node = (nodeId: number, image: MetadataImage, incarnation = 0) => ({
    nodeId,
    up: true,
    incarnation,
    committedMetadataImage: () => image,
  });
  const failures = () => {
    const seen: string[] = [];
    const invariants = new ControlPlaneInvariants((name, detail) => {
      seen.push(`${name}: ${detail}`);
      throw new Error(name);
    });
    return { seen, invariants };
  };

  test('ImagesAgree: two nodes with different images at the same offset', () => {
    const { seen, invariants } = failures();
    const a = registered(5);
    const d = new MetadataDelta(MetadataImage.EMPTY);
    d.replay({ type: 'RegisterBroker', brokerId: 2, incarnationId: 'b', rack: null, listeners: [] }, 5);
    const b = d.apply();
    invariants.check([node(1, a)]);
    expect(() => invariants.check([node(1, a), node(2, b)])).toThrow('ImagesAgree');
    expect(seen[0]).toMatch(/offset 5/);
  });

  test('MonotonicPartitionEpochs: a node whose partition epoch goes back', () => {
    const { invariants } = failures();
    const base = registered(0);
    const withTopic = (epoch: number, offset: number) => {
      const d = new MetadataDelta(base);
      d.replay({ type: 'Topic', name: 't', topicId: 'T' }, offset);
      d.replay(
        {
          type: 'Partition',
          topicId: 'T',
          partition: 0,
          replicas: [1],
          isr: [1],
          leader: -1,
          leaderEpoch: epoch,
          partitionEpoch: epoch,
        },
        offset + 1,
      );
      return d.apply();
    };
    invariants.check([node(1, withTopic(3, 1))]);
    expect(() => invariants.check([node(1, withTopic(2, 10))])).toThrow('MonotonicPartitionEpochs');
    // After a restart (new incarnation) the node's comparison starts afresh.
    const fresh = failures();
    fresh.invariants.check([node(1, withTopic(3, 1))]);
    expect(() => fresh.invariants.check([node(1, withTopic(2, 20), 1)])).not.toThrow();
  });
});
