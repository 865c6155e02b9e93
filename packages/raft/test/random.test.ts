// Randomized runs of the core on the small network: message loss, duplication
// and reordering, partitions,
// crashes with and without a connection-close notice, restarts, resignations
// and snapshots, with the harness checking after every event that there is
// one leader per epoch, that committed entries never differ between nodes,
// and that a leader's HW never goes back. After the faults stop, the cluster
// must elect a leader and every node must converge to the same state.
// Each case names its seed; rerun one with RAFT_SEED=<seed>, run more with RAFT_SEEDS=<n>.

import { SeededRandom } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { Cluster } from './harness.js';

const only = process.env.RAFT_SEED === undefined ? undefined : Number(process.env.RAFT_SEED);
const count = Number(process.env.RAFT_SEEDS ?? 40);
const seeds = only === undefined ? Array.from({ length: count }, (_, i) => i + 1) : [only];

function runSeed(seed: number): void {
  const rng = new SeededRandom(seed);
  const voters = seed % 3 === 0 ? [1, 2, 3, 4, 5] : [1, 2, 3];
  const observers = [9];
  const c = new Cluster({
    voters,
    observers,
    seed,
    dropProbability: 0.05,
    duplicateProbability: 0.02,
    reorder: seed % 2 === 0,
    config: { snapshotChunkBytes: 1 + rng.int(8, 64), leaderEarlyFetchResponses: seed % 4 === 1 },
  });
  c.traceMessages = false;
  const all = [...voters, ...observers];
  const maxDown = Math.floor((voters.length - 1) / 2);
  let written = 0;
  for (let step = 0; step < 80; step++) {
    const action = rng.int(0, 12);
    const leader = c.leader();
    const down = all.filter((id) => !c.get(id).running);
    if (action <= 3 && leader !== undefined) {
      c.propose(
        leader.id,
        Array.from({ length: rng.int(1, 4) }, () => `s${seed}-${written++}`),
      );
    } else if (action === 4) {
      const shuffled = [...all].sort(() => rng.next() - 0.5);
      const cut = rng.int(1, all.length);
      c.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    } else if (action === 5) {
      c.cut.clear();
    } else if (action === 6 && down.filter((id) => voters.includes(id)).length < maxDown) {
      const victim = rng.pick(all.filter((id) => c.get(id).running));
      c.crash(victim, rng.chance(0.5));
    } else if (action === 7 && down.length > 0) {
      c.restart(rng.pick(down));
    } else if (action === 8 && leader !== undefined) {
      leader.node.resign(c.nowMs);
      c.process(leader);
    } else if (action === 9) {
      const h = c.get(rng.pick(all));
      if (h.running && h.appliedEnd > h.node.logStartOffset) c.snapshot(h.id);
    }
    c.run(rng.int(1, 2500));
  }

  // Liveness: heal everything and require convergence.
  c.dropProbability = 0;
  c.duplicateProbability = 0;
  c.cut.clear();
  for (const id of all) if (!c.get(id).running) c.restart(id);
  c.run(15_000);
  const leader = c.leader();
  expect(leader, 'a leader after healing').toBeDefined();
  c.propose(leader!.id, ['final']);
  c.run(3000);
  const reference = leader!.applied;
  expect(reference.at(-1)).toBe('final');
  for (const id of all) {
    const h = c.get(id);
    expect(h.applied, `node ${id} state machine`).toEqual(reference);
    expect(h.node.highWatermark, `node ${id} HW`).toBe(leader!.node.highWatermark);
  }
  const epochs = new Set(voters.map((id) => c.get(id).node.epoch));
  expect(epochs.size).toBe(1);
}

describe('randomized faults', () => {
  for (const seed of seeds) {
    it(`seed=${seed}`, () => {
      runSeed(seed);
    });
  }
});
