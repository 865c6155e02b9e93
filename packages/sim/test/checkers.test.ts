// The invariant checkers must be able to fail: each test feeds the simulator a
// deliberately broken fake core and expects the named invariant to be reported
// together with the seed and the command that replays it. The unbroken fake
// is the control: the same runs pass with it.

import { describe, expect, test } from 'vitest';
import {
  DEFAULT_CLUSTER_OPTIONS,
  RaftCluster,
  runSimulation,
  SimulationFailure,
  type SimulationSummary,
} from '../src/index.js';
import { type SoloBugs, soloCore } from './fakes.js';
import { neverSyncs, overstatesFetchOffset } from './mutants.js';

function run(bugs: SoloBugs, scenario: string, voters: number, seeds = 5): SimulationSummary {
  const firstSeed = 100;
  console.log(`checker test ${JSON.stringify(bugs)} ${scenario}: seeds ${firstSeed}..${firstSeed + seeds - 1}`);
  return runSimulation({ firstSeed, seeds, scenario, voters, observers: 0, createCore: soloCore(bugs) });
}

function expectEveryFailure(summary: SimulationSummary, invariant: string): void {
  expect(summary.failures.length).toBe(summary.seedsRun);
  for (const failure of summary.failures) {
    expect(failure.invariant).toBe(invariant);
    expect(failure.replayCommand).toContain(`pnpm raftka sim --seed ${failure.seed} `);
    expect(failure.message).toContain(invariant);
  }
}

describe('invariant checkers catch broken cores', () => {
  test('control: a correct single-voter core passes random faults and the all-killed scenario', () => {
    expect(run({}, 'random', 1).failures).toEqual([]);
    expect(run({}, 'all-killed', 1).failures).toEqual([]);
  });

  test('SingleLeader: every voter declares itself leader of epoch 1', () => {
    expectEveryFailure(run({ everyoneLeads: true }, 'random', 3), 'SingleLeader');
  });

  test('MajorityReachedHighWatermark: a leader that commits entries it never synced', () => {
    expectEveryFailure(run({ commitUnsynced: true }, 'random', 1), 'MajorityReachedHighWatermark');
  });

  test('ConsistentCommittedData: committed data lost in a crash and overwritten', () => {
    // Without the HW check, the loss shows up as a different record at an already committed offset.
    const summary = runSimulation({
      firstSeed: 100,
      seeds: 5,
      scenario: 'single-node-data-loss',
      voters: 1,
      observers: 0,
      createCore: soloCore({}),
    });
    expectEveryFailure(summary, 'ConsistentCommittedData');
  });

  test('MonotonicEpoch: a restarted node goes back to an older epoch', () => {
    expectEveryFailure(run({ epochGoesBack: true }, 'all-killed', 1), 'MonotonicEpoch');
  });

  test('StateMachinePrefix: a committed entry handed to the state machine twice', () => {
    expectEveryFailure(run({ reapply: true }, 'initial-election', 1), 'StateMachinePrefix');
  });

  test('Liveness: a quorum that never elects a leader fails with "no liveness"', () => {
    const summary = run({ neverLeads: true }, 'random', 3, 2);
    expectEveryFailure(summary, 'Liveness');
    for (const failure of summary.failures) expect(failure.message).toContain('no liveness');
  });

  test('DurableBeforeVisible: a granted vote or a voter fetch offset that is not synced yet', () => {
    const cluster = new RaftCluster({ ...DEFAULT_CLUSTER_OPTIONS, seed: 9, voters: 3, createCore: soloCore() });
    const node = cluster.nodes[0]!;
    const vote = {
      type: 'VoteResponse' as const,
      from: 1,
      to: 2,
      epoch: 5,
      candidateEpoch: 5,
      leaderId: -1,
      voteGranted: true,
      preVote: false,
    };
    const fetch = {
      type: 'FetchRequest' as const,
      from: 1,
      to: 2,
      currentLeaderEpoch: 5,
      fetchOffset: 3,
      lastFetchedEpoch: 5,
      maxBytes: 1024,
      maxWaitMs: 500,
    };
    for (const message of [vote, fetch]) {
      const ready = { entries: [], mustSync: false, messages: [message], committed: [] };
      let caught: unknown;
      try {
        cluster.invariants.persisted(node, ready);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SimulationFailure);
      expect((caught as SimulationFailure).invariant).toBe('DurableBeforeVisible');
    }
    // The same vote after the quorum state is synced is fine.
    node.disk.writeQuorumState({ epoch: 5, votedId: 2, leaderId: -1 });
    node.disk.sync();
    cluster.invariants.persisted(node, { entries: [], mustSync: true, messages: [vote], committed: [] });
  });

  test('SingleVote: a voter that grants two candidates in one epoch', () => {
    const cluster = new RaftCluster({ ...DEFAULT_CLUSTER_OPTIONS, seed: 9, voters: 3, createCore: soloCore() });
    const node = cluster.nodes[0]!;
    node.disk.writeQuorumState({ epoch: 7, votedId: 2, leaderId: -1 });
    node.disk.sync();
    const grant = (to: number) => ({
      type: 'VoteResponse' as const,
      from: 1,
      to,
      epoch: 7,
      candidateEpoch: 7,
      leaderId: -1,
      voteGranted: true,
      preVote: false,
    });
    cluster.invariants.persisted(node, { entries: [], mustSync: true, messages: [grant(2)], committed: [] });
    node.disk.writeQuorumState({ epoch: 7, votedId: 3, leaderId: -1 });
    node.disk.sync();
    expect(() =>
      cluster.invariants.persisted(node, {
        quorumState: { epoch: 7, votedId: 3, leaderId: -1 },
        entries: [],
        mustSync: true,
        messages: [grant(3)],
        committed: [],
      }),
    ).toThrow(/SingleVote violated.*voted for both 2 and 3 in epoch 7/);
  });
});

describe('invariant checkers catch mutants of the real core', () => {
  test('a core that never asks for fsync', () => {
    const summary = runSimulation({ firstSeed: 1, seeds: 10, scenario: 'random', createCore: neverSyncs });
    console.log('mutant neverSyncs: seeds 1..10');
    expect(summary.failures.length).toBe(10);
    for (const failure of summary.failures) {
      expect(['DurableBeforeVisible', 'MajorityReachedHighWatermark']).toContain(failure.invariant);
    }
  });

  test('a follower that claims one entry more than it has', () => {
    const summary = runSimulation({
      firstSeed: 1,
      seeds: 5,
      scenario: 'leader-failure',
      createCore: overstatesFetchOffset,
    });
    console.log('mutant overstatesFetchOffset: seeds 1..5');
    expectEveryFailure(summary, 'DurableBeforeVisible');
  });
});
