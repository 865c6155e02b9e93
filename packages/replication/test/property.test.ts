// Random runs of one partition leader with two followers: appends (some with
// acks=all), follower fetches, clock ticks, AlterPartition answers and
// controller ISR shrinks. After every event: the HW never moves back, it is at
// most the min LEO over the maximal ISR, and an acks=all produce completes
// with NONE only when every ISR member holds the batch. Replay with SEED=<n>.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type AlterPartitionRequest, LeaderPartitionState, type ProduceCompletion } from '../src/index.js';

type Cmd =
  | { t: 'append'; n: number; acksAll: boolean }
  | { t: 'fetch'; replica: number; k: number }
  | { t: 'tick'; dtMs: number }
  | { t: 'alterAnswer'; outcome: 'NONE' | 'INELIGIBLE_REPLICA' | 'INVALID_UPDATE_VERSION' | 'NOT_CONTROLLER' }
  | { t: 'controllerShrink'; replica: number }
  | { t: 'eligibility'; replica: number; eligible: boolean };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ t: fc.constant('append' as const), n: fc.integer({ min: 1, max: 5 }), acksAll: fc.boolean() }),
  fc.record({ t: fc.constant('fetch' as const), replica: fc.constantFrom(2, 3), k: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ t: fc.constant('fetch' as const), replica: fc.constantFrom(2, 3), k: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ t: fc.constant('tick' as const), dtMs: fc.integer({ min: 0, max: 20_000 }) }),
  fc.record({
    t: fc.constant('alterAnswer' as const),
    outcome: fc.constantFrom(
      'NONE' as const,
      'INELIGIBLE_REPLICA' as const,
      'INVALID_UPDATE_VERSION' as const,
      'NOT_CONTROLLER' as const,
    ),
  }),
  fc.record({ t: fc.constant('controllerShrink' as const), replica: fc.constantFrom(2, 3) }),
  fc.record({ t: fc.constant('eligibility' as const), replica: fc.constantFrom(2, 3), eligible: fc.boolean() }),
);

function run(cmds: Cmd[], minIsr: number): void {
  let nowMs = 0;
  const l = new LeaderPartitionState({
    localBrokerId: 1,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    leaderEpoch: 1,
    partitionEpoch: 1,
    minInsyncReplicas: minIsr,
    leaderEpochStartOffset: 0,
    highWatermark: 0,
    nowMs,
  });
  const followerLeo = new Map([
    [2, 0],
    [3, 0],
  ]);
  const eligible = new Map([
    [2, true],
    [3, true],
  ]);
  const isEligible = (id: number) => eligible.get(id) ?? false;
  const waiting = new Map<number, number>(); // id -> requiredOffset
  let nextId = 0;
  let inFlight: AlterPartitionRequest | undefined;
  let lastHw = 0;

  const check = (completed: readonly ProduceCompletion[], alter?: AlterPartitionRequest) => {
    if (alter !== undefined) inFlight = alter;
    expect(l.highWatermark).toBeGreaterThanOrEqual(lastHw);
    lastHw = l.highWatermark;
    for (const id of l.maximalIsr) {
      const leo = id === 1 ? l.logEndOffset : followerLeo.get(id)!;
      expect(l.highWatermark).toBeLessThanOrEqual(leo);
    }
    for (const c of completed) {
      const required = waiting.get(c.id);
      expect(required).toBeDefined();
      waiting.delete(c.id);
      if (c.error === 'NONE') {
        for (const id of l.isr) {
          const leo = id === 1 ? l.logEndOffset : followerLeo.get(id)!;
          expect(leo).toBeGreaterThanOrEqual(required!);
        }
        expect(l.isr.length).toBeGreaterThanOrEqual(Math.min(minIsr, 3));
      }
    }
  };

  for (const c of cmds) {
    switch (c.t) {
      case 'append': {
        if (c.acksAll && l.checkProduce({ acks: -1 }) !== 'NONE') break;
        const e = l.onLocalAppend(l.logEndOffset + c.n);
        check(e.completedProduces);
        if (c.acksAll) {
          const id = nextId++;
          waiting.set(id, l.logEndOffset);
          const d = l.addDelayedProduce({ id, requiredOffset: l.logEndOffset, deadlineMs: nowMs + 60_000 });
          check(d.completedProduces);
        }
        break;
      }
      case 'fetch': {
        const leo = followerLeo.get(c.replica)!;
        const e = l.onFollowerFetch({ replicaId: c.replica, fetchOffset: leo, nowMs }, isEligible);
        check(e.completedProduces, e.alterPartition);
        followerLeo.set(c.replica, Math.min(l.logEndOffset, leo + c.k));
        break;
      }
      case 'tick': {
        nowMs += c.dtMs;
        const e = l.onTick(nowMs);
        check(e.completedProduces, e.alterPartition);
        break;
      }
      case 'alterAnswer': {
        if (inFlight === undefined) break;
        const req = inFlight;
        // The controller refuses to add an ineligible broker.
        const refuse = req.kind === 'expand' && req.changed.some((id) => !isEligible(id));
        const outcome = refuse ? 'INELIGIBLE_REPLICA' : c.outcome;
        const e =
          outcome === 'NONE'
            ? l.onAlterPartitionResponse(req, {
                error: 'NONE',
                leaderEpoch: req.leaderEpoch,
                partitionEpoch: l.partitionEpoch + 1,
                isr: req.newIsr,
              })
            : l.onAlterPartitionResponse(req, { error: outcome });
        if (outcome !== 'NOT_CONTROLLER') inFlight = undefined;
        if (outcome === 'INVALID_UPDATE_VERSION') {
          // The leader waits for metadata: deliver the committed state again, newer.
          const m = l.onMetadataUpdate({
            replicas: l.replicas,
            isr: l.isr,
            leaderEpoch: 1,
            partitionEpoch: l.partitionEpoch + 1,
            nowMs,
          });
          check(m.completedProduces);
        }
        check(e.completedProduces);
        break;
      }
      case 'controllerShrink': {
        if (!l.isr.includes(c.replica)) break;
        inFlight = undefined;
        const e = l.onMetadataUpdate({
          replicas: l.replicas,
          isr: l.isr.filter((id) => id !== c.replica),
          leaderEpoch: 1,
          partitionEpoch: l.partitionEpoch + 1,
          nowMs,
        });
        check(e.completedProduces);
        break;
      }
      case 'eligibility':
        eligible.set(c.replica, c.eligible);
        break;
    }
  }
  const rest = l.resign();
  expect(rest.every((c) => c.error === 'NOT_LEADER_OR_FOLLOWER')).toBe(true);
  check(rest);
  expect(waiting.size).toBe(0);
}

it('leader HW and acks=all invariants hold under random fetch/append/ISR events', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 2 ** 31);
  console.log('replication property seed=', seed);
  fc.assert(
    fc.property(fc.array(cmd, { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 3 }), (cmds, minIsr) =>
      run(cmds, minIsr),
    ),
    { seed, numRuns: 1000 },
  );
});
