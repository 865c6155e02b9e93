// Scripted fault scenarios, after Kafka's RaftEventSimulationTest, and the
// random-fault mode. Each scenario drives a RaftCluster through its faults and
// states what it expects along the way (a leader is elected, the majority
// makes progress); the invariants are checked after every event regardless,
// and the runner ends every scenario by healing everything and requiring
// convergence. Scenario expectations fail as the "Scenario" invariant.

import { assert, SeededRandom } from '@raftka/common';
import type { NodeId } from '@raftka/raft';
import type { RaftCluster } from './cluster.js';
import type { InvariantName } from './invariants.js';
import type { RaftControllerNode } from './raft-node.js';

export interface Scenario {
  name: string;
  description: string;
  /** Voter count the scenario needs, overriding the option. */
  voters?: number;
  /** Invariants this scenario cannot keep (Kafka drops the same ones for single-node data loss). */
  withoutInvariants?: InvariantName[];
  run(cluster: RaftCluster): void;
}

const LEADER_WAIT_MS = 15_000;
const CATCH_UP_WAIT_MS = 20_000;

function expect(cluster: RaftCluster, ok: boolean, what: string): void {
  if (!ok) cluster.world.fail('Scenario', `${what} (${cluster.describe()})`);
}

function awaitLeader(
  cluster: RaftCluster,
  what: string,
  accept: (leaderId: NodeId, epoch: number) => boolean = () => true,
  among?: readonly NodeId[],
): RaftControllerNode {
  const found = cluster.world.runUntil(() => {
    const leader = cluster.stableLeader(among);
    return leader !== undefined && accept(leader.nodeId, leader.core.epoch);
  }, cluster.nowMs + LEADER_WAIT_MS);
  expect(cluster, found, `${what}: no leader within ${LEADER_WAIT_MS}ms`);
  const leader = cluster.stableLeader(among);
  assert(leader !== undefined, 'runUntil returned with a leader');
  return leader;
}

/** Runs the client until the leader's HW passes `offset`. */
function awaitProgress(cluster: RaftCluster, offset: number, what: string): void {
  cluster.startClient();
  const ok = cluster.world.runUntil(() => {
    const leader = cluster.leader();
    return leader !== undefined && leader.core.highWatermark > offset;
  }, cluster.nowMs + CATCH_UP_WAIT_MS);
  expect(cluster, ok, `${what}: HW did not pass ${offset} within ${CATCH_UP_WAIT_MS}ms`);
}

function awaitCaughtUp(cluster: RaftCluster, nodeId: NodeId, offset: number, what: string): void {
  const node = cluster.node(nodeId);
  const ok = cluster.world.runUntil(
    () => node.up && node.stateMachine.nextOffset >= offset,
    cluster.nowMs + CATCH_UP_WAIT_MS,
  );
  expect(cluster, ok, `${what}: node ${nodeId} did not apply up to ${offset} within ${CATCH_UP_WAIT_MS}ms`);
}

function leaderHighWatermark(cluster: RaftCluster): number {
  return cluster.leader()?.core.highWatermark ?? 0;
}

const initialElection: Scenario = {
  name: 'initial-election',
  description: 'a fresh quorum elects a leader and commits client records',
  run(cluster) {
    awaitLeader(cluster, 'initial election');
    awaitProgress(cluster, 20, 'first writes');
  },
};

const leaderFailure: Scenario = {
  name: 'leader-failure',
  description:
    'the leader resigns (even seeds) or crashes (odd seeds); a new one is elected; the old one restarts and catches up',
  run(cluster) {
    const first = awaitLeader(cluster, 'initial election');
    awaitProgress(cluster, 20, 'first writes');
    const oldId = first.nodeId;
    const oldEpoch = first.core.epoch;
    if (cluster.options.seed % 2 === 0) {
      cluster.resign(oldId);
      cluster.world.runFor(100);
    }
    cluster.crash(oldId);
    awaitLeader(cluster, 'election after leader failure', (id, epoch) => id !== oldId && epoch > oldEpoch);
    const hw = leaderHighWatermark(cluster);
    awaitProgress(cluster, hw + 10, 'writes under the new leader');
    cluster.restart(oldId);
    awaitCaughtUp(cluster, oldId, leaderHighWatermark(cluster), 'old leader after restart');
  },
};

const allKilled: Scenario = {
  name: 'all-killed',
  description: 'every voter crashes; only a majority restarts and must elect a leader and make progress',
  run(cluster) {
    awaitLeader(cluster, 'initial election');
    awaitProgress(cluster, 20, 'first writes');
    const hw = leaderHighWatermark(cluster);
    for (const node of cluster.upNodes()) cluster.crash(node.nodeId);
    cluster.world.runFor(cluster.random.int(100, 2000));
    const voters = cluster.voterIds.slice();
    const majority = Math.floor(voters.length / 2) + 1;
    for (let i = 0; i < majority; i++) {
      const index = cluster.random.int(0, voters.length);
      cluster.restart(voters.splice(index, 1)[0] as NodeId);
    }
    awaitLeader(cluster, 'election after restarting a majority');
    awaitProgress(cluster, hw + 10, 'writes after the restart');
  },
};

const leaderPartitioned: Scenario = {
  name: 'leader-partitioned',
  description: 'the leader is cut off; the rest elect a new leader and progress; after healing the old leader follows',
  run(cluster) {
    const first = awaitLeader(cluster, 'initial election');
    awaitProgress(cluster, 20, 'first writes');
    const oldId = first.nodeId;
    cluster.world.network.isolate(oldId, cluster.allIds);
    const rest = cluster.allIds.filter((id) => id !== oldId);
    const oldEpoch = first.core.epoch;
    const next = awaitLeader(cluster, 'election without the old leader', (_, epoch) => epoch > oldEpoch, rest);
    awaitProgress(cluster, next.core.highWatermark + 10, 'writes under the new leader');
    cluster.world.network.heal();
    const old = cluster.node(oldId);
    const ok = cluster.world.runUntil(
      () => old.core.role !== 'leader' && old.core.epoch >= next.core.epoch,
      cluster.nowMs + CATCH_UP_WAIT_MS,
    );
    expect(cluster, ok, `old leader ${oldId} did not step down after the partition healed`);
  },
};

const majoritySplit: Scenario = {
  name: 'majority-split',
  voters: 5,
  description: 'five voters split 2|3: the majority HW moves beyond the minority HW, then all catch up',
  run(cluster) {
    awaitLeader(cluster, 'initial election');
    awaitProgress(cluster, 20, 'first writes');
    const ids = cluster.voterIds.slice();
    const minority: NodeId[] = [];
    while (minority.length < 2) minority.push(ids.splice(cluster.random.int(0, ids.length), 1)[0] as NodeId);
    const others = cluster.allIds.filter((id) => !minority.includes(id));
    cluster.world.network.partition([minority, others]);
    const minorityHw = (): number => Math.max(...minority.map((id) => cluster.node(id).core.highWatermark));
    const majorityLeader = awaitLeader(cluster, 'majority side', () => true, others);
    const before = minorityHw();
    awaitProgress(cluster, Math.max(before, majorityLeader.core.highWatermark) + 20, 'majority writes');
    const majorityHw = leaderHighWatermark(cluster);
    expect(cluster, majorityHw > minorityHw(), `majority HW ${majorityHw} did not pass minority HW ${minorityHw()}`);
    cluster.world.network.heal();
    for (const id of minority) awaitCaughtUp(cluster, id, majorityHw, 'minority after healing');
  },
};

const backToBack: Scenario = {
  name: 'back-to-back-failures',
  description: 'the leader crashes, and the next leader crashes soon after it is elected',
  run(cluster) {
    const first = awaitLeader(cluster, 'initial election');
    awaitProgress(cluster, 20, 'first writes');
    cluster.crash(first.nodeId);
    const second = awaitLeader(cluster, 'second election', (id) => id !== first.nodeId);
    cluster.restart(first.nodeId);
    cluster.world.runFor(cluster.random.int(0, 200));
    cluster.crash(second.nodeId);
    const third = awaitLeader(cluster, 'third election', (id) => id !== second.nodeId);
    cluster.restart(second.nodeId);
    awaitProgress(cluster, third.core.highWatermark + 10, 'writes after two failures');
  },
};

const singleNodeDataLoss: Scenario = {
  name: 'single-node-data-loss',
  description: 'one node loses its disk (committed data included), restarts empty and catches up from the others',
  // A voter that lost its disk also lost its vote, so it may vote again in an old epoch.
  withoutInvariants: ['MonotonicEpoch', 'MajorityReachedHighWatermark', 'SingleVote'],
  run(cluster) {
    awaitLeader(cluster, 'initial election');
    awaitProgress(cluster, 30, 'first writes');
    // Let every node hold everything first, so losing one disk cannot lose a committed record.
    cluster.stopClient();
    const settled = cluster.world.runUntil(() => cluster.converged(), cluster.nowMs + CATCH_UP_WAIT_MS);
    expect(cluster, settled, 'cluster did not settle before the disk loss');
    const victim = cluster.random.pick(cluster.allIds);
    cluster.crashAndWipe(victim);
    cluster.world.runFor(cluster.random.int(0, 1500));
    cluster.restart(victim);
    awaitLeader(cluster, 'leader after the disk loss');
    const hw = leaderHighWatermark(cluster);
    awaitProgress(cluster, hw + 10, 'writes after the disk loss');
    awaitCaughtUp(cluster, victim, hw, 'wiped node');
  },
};

export interface RandomFaultOptions {
  /** Simulated time of the fault phase. */
  durationMs: number;
  /** Also stall processes now and then (drawn from a stream of their own). */
  pauses?: boolean;
}

const PAUSE_PROBABILITY = 0.15;

/** Now and then a running node stalls for 0.1-3 s, long enough to miss its leadership or its fetch deadline. */
function maybePause(cluster: RaftCluster, random: SeededRandom): void {
  if (!random.chance(PAUSE_PROBABILITY)) return;
  const up = cluster.upNodes();
  if (up.length === 0) return;
  const node = random.pick(up);
  const durationMs = random.int(100, 3000);
  if (node.pause(cluster.nowMs, durationMs))
    cluster.world.record(`pause ${node.nodeId} ${durationMs}ms`, 11, node.nodeId, 0);
}

/** One kind of fault of the random mode; `share` is its probability per step. */
interface RandomFault {
  name: string;
  share: number;
  /** Returns how long to let the cluster run afterwards. */
  apply(cluster: RaftCluster): number;
}

function afterFaultMs(cluster: RaftCluster): number {
  return cluster.random.int(20, 800);
}

/** Shares sum to 1; the order is part of what a seed means, so keep it stable. */
const RANDOM_FAULTS: readonly RandomFault[] = [
  {
    name: 'quiet',
    share: 0.2,
    apply(cluster) {
      const { network } = cluster.world;
      network.heal();
      network.faults = { ...network.faults, dropProbability: 0, duplicateProbability: 0, slowProbability: 0 };
      for (const node of cluster.downNodes()) if (cluster.random.chance(0.5)) cluster.restart(node.nodeId);
      return cluster.random.int(300, 2000);
    },
  },
  {
    name: 'network',
    share: 0.15,
    apply(cluster) {
      const random = cluster.random;
      cluster.world.network.faults = {
        dropProbability: random.chance(0.5) ? random.next() * 0.2 : 0,
        duplicateProbability: random.chance(0.5) ? random.next() * 0.1 : 0,
        delayMinMs: 1,
        delayMaxMs: random.int(2, 40),
        slowProbability: random.next() * 0.1,
        // Now and then a message arrives seconds late, long after its epoch ended.
        slowDelayMaxMs: random.chance(0.2) ? random.int(1000, 5000) : random.int(0, 500),
      };
      return afterFaultMs(cluster);
    },
  },
  {
    name: 'crash',
    share: 0.15,
    apply(cluster) {
      const random = cluster.random;
      const up = cluster.upNodes();
      const leader = cluster.leader();
      const victim = leader !== undefined && random.chance(0.5) ? leader : up.length > 0 ? random.pick(up) : undefined;
      if (victim !== undefined) {
        cluster.crash(victim.nodeId);
        // A quick bounce: the process restarts within milliseconds, possibly mid-election.
        if (random.chance(0.3)) {
          cluster.world.at(cluster.nowMs + random.int(0, 30), `bounce ${victim.nodeId}`, () => {
            if (!victim.up) cluster.restart(victim.nodeId);
          });
        }
      }
      return afterFaultMs(cluster);
    },
  },
  {
    name: 'restart',
    share: 0.15,
    apply(cluster) {
      const down = cluster.downNodes();
      if (down.length > 0) cluster.restart(cluster.random.pick(down).nodeId);
      return afterFaultMs(cluster);
    },
  },
  {
    name: 'partition',
    share: 0.1,
    apply(cluster) {
      const ids = cluster.allIds;
      const side = ids.filter(() => cluster.random.chance(0.5));
      cluster.world.network.partition([side, ids.filter((id) => !side.includes(id))]);
      return afterFaultMs(cluster);
    },
  },
  {
    name: 'one-way',
    share: 0.07,
    apply(cluster) {
      const ids = cluster.allIds;
      // A single node has no link to block; this step then heals instead, as it always has.
      if (ids.length < 2) return RANDOM_FAULTS_BY_NAME.heal.apply(cluster);
      const from = cluster.random.pick(ids);
      const to = cluster.random.pick(ids.filter((id) => id !== from));
      cluster.world.network.blockOneWay(from, to);
      return afterFaultMs(cluster);
    },
  },
  {
    name: 'heal',
    share: 0.08,
    apply(cluster) {
      cluster.world.network.heal();
      return afterFaultMs(cluster);
    },
  },
  {
    name: 'resign',
    share: 0.1,
    apply(cluster) {
      const leader = cluster.leader();
      if (leader !== undefined) cluster.resign(leader.nodeId);
      return afterFaultMs(cluster);
    },
  },
];

const RANDOM_FAULTS_BY_NAME = Object.fromEntries(RANDOM_FAULTS.map((f) => [f.name, f])) as Record<
  string,
  RandomFault
> & {
  heal: RandomFault;
};

function pickFault(roll: number): RandomFault {
  let cumulative = 0;
  for (const fault of RANDOM_FAULTS) {
    cumulative += fault.share;
    if (roll < cumulative) return fault;
  }
  return RANDOM_FAULTS[RANDOM_FAULTS.length - 1] as RandomFault;
}

/**
 * Everything mixed: crashes and restarts (a majority may be down), symmetric
 * and one-way partitions, lossy, duplicating and slow network, resignations,
 * all separated by fault-free stretches in which the quorum should recover.
 */
export function randomFaults(options: RandomFaultOptions): Scenario {
  return {
    name: 'random',
    description: 'random crashes, restarts, partitions, message loss, duplication and delay, with quiet stretches',
    run(cluster) {
      const endMs = cluster.nowMs + options.durationMs;
      const pauseRandom = options.pauses ? new SeededRandom((cluster.options.seed ^ 0x9a05e000) >>> 0) : undefined;
      cluster.startClient();
      for (let step = 0; cluster.nowMs < endMs && step < RANDOM_STEPS_MAX; step++) {
        const fault = pickFault(cluster.random.next());
        const runForMs = fault.apply(cluster);
        if (pauseRandom !== undefined) maybePause(cluster, pauseRandom);
        cluster.world.record(`fault ${fault.name} ${cluster.describeFaults()}`, 10, step, 0);
        cluster.world.runFor(runForMs);
      }
    },
  };
}

const RANDOM_STEPS_MAX = 1000;

export const SCENARIOS: readonly Scenario[] = [
  initialElection,
  leaderFailure,
  allKilled,
  leaderPartitioned,
  majoritySplit,
  backToBack,
  singleNodeDataLoss,
];

export const SCENARIO_NAMES: readonly string[] = [...SCENARIOS.map((s) => s.name), 'random'];

export function findScenario(name: string, randomOptions: RandomFaultOptions): Scenario {
  if (name === 'random') return randomFaults(randomOptions);
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (scenario === undefined) {
    throw new RangeError(`unknown scenario ${JSON.stringify(name)}; known: ${SCENARIO_NAMES.join(', ')}`);
  }
  return scenario;
}
