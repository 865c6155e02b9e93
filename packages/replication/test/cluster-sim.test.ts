// A small seeded simulation of one partition on three brokers that runs the
// real cores end to end: the leader's state, follower fetches with diverging
// epochs and truncation, ISR changes committed by a model controller, broker
// crashes (disk kept) with clean leader election from the ISR, and restarts.
// After every event: every acks=all write answered NONE is in the leader's
// log and in every ISR member's log at its offset (invariant 2), logs agree
// up to each replica's HW (invariant 3), and the leader's HW never moves back
// within an epoch. Replay with SEED=<n>.
import { SeededRandom } from '@raftka/common';
import { expect, it } from 'vitest';
import {
  type AlterPartitionRequest,
  type EpochEndOffset,
  FollowerPartitionState,
  type LeaderEffects,
  LeaderPartitionState,
} from '../src/index.js';

interface Entry {
  epoch: number;
  id: number;
}

function endOffsetForEpoch(log: readonly Entry[]): (epoch: number) => EpochEndOffset {
  return (epoch) => {
    if (epoch === -1 || log.length === 0) return { leaderEpoch: -1, endOffset: -1 };
    const latest = log[log.length - 1]!.epoch;
    if (epoch === latest) return { leaderEpoch: epoch, endOffset: log.length };
    if (epoch > latest) return { leaderEpoch: -1, endOffset: -1 };
    if (epoch < log[0]!.epoch) return { leaderEpoch: epoch, endOffset: 0 };
    const firstAbove = log.findIndex((e) => e.epoch > epoch);
    return { leaderEpoch: log[firstAbove - 1]!.epoch, endOffset: firstAbove };
  };
}

function simulate(seed: number, steps: number): { acked: number; elections: number; expansions: number } {
  const rnd = new SeededRandom(seed);
  const pick = (n: number) => Math.floor(rnd.next() * n);
  const brokers = [1, 2, 3];
  const logs = new Map<number, Entry[]>(brokers.map((b) => [b, []]));
  const followerHw = new Map<number, number>(brokers.map((b) => [b, 0]));
  const alive = new Set(brokers);
  const slow = new Set<number>();
  let isr = [1, 2, 3];
  let leaderId = 1;
  let leaderEpoch = 0;
  let partitionEpoch = 0;
  let nowMs = 0;
  let nextId = 0;
  let elections = 0;
  let expansions = 0;
  let leader: LeaderPartitionState | undefined;
  const followers = new Map<number, FollowerPartitionState>();
  const waiting = new Map<number, number>(); // produce id -> offset
  const acked = new Map<number, number>(); // offset -> id
  let lastHw = 0;

  const become = () => {
    followers.clear();
    leader = undefined;
    lastHw = 0;
    if (leaderId === -1) return;
    const log = logs.get(leaderId)!;
    leader = new LeaderPartitionState({
      localBrokerId: leaderId,
      replicas: brokers,
      isr,
      leaderEpoch,
      partitionEpoch,
      minInsyncReplicas: 2,
      leaderEpochStartOffset: log.length,
      highWatermark: Math.min(followerHw.get(leaderId)!, log.length),
      nowMs,
    });
    lastHw = leader.highWatermark;
    for (const b of brokers) {
      if (b !== leaderId && alive.has(b)) {
        followers.set(
          b,
          new FollowerPartitionState({ localBrokerId: b, leaderId, leaderEpoch, highWatermark: followerHw.get(b)! }),
        );
      }
    }
  };

  const settle = (e: LeaderEffects) => {
    for (const c of e.completedProduces) {
      const offset = waiting.get(c.id);
      expect(offset).toBeDefined();
      waiting.delete(c.id);
      if (c.error === 'NONE') acked.set(offset!, c.id);
    }
    if (e.alterPartition !== undefined) {
      inFlight = e.alterPartition;
      // A follower that stalls right after it was proposed back into the ISR (KIP-497's case).
      if (inFlight.kind === 'expand' && rnd.next() < 0.5) for (const b of inFlight.changed) slow.add(b);
    }
    if (e.retryAlterPartition === true) expect(inFlight).toBeDefined();
  };

  // The controller answers the AlterPartition in flight some events later:
  // stale epochs are refused as Kafka's controller does, and adding a fenced
  // broker is INELIGIBLE_REPLICA.
  let inFlight: AlterPartitionRequest | undefined;
  const answerAlter = () => {
    const req = inFlight;
    if (req === undefined || leader === undefined) return;
    if (req.leaderEpoch !== leaderEpoch) {
      settle(leader.onAlterPartitionResponse(req, { error: 'FENCED_LEADER_EPOCH' }));
    } else if (req.partitionEpoch !== partitionEpoch) {
      settle(leader.onAlterPartitionResponse(req, { error: 'INVALID_UPDATE_VERSION' }));
    } else if (req.kind === 'expand' && req.changed.some((b) => !alive.has(b))) {
      inFlight = undefined;
      settle(leader.onAlterPartitionResponse(req, { error: 'INELIGIBLE_REPLICA' }));
    } else {
      inFlight = undefined;
      partitionEpoch += 1;
      isr = [...req.newIsr];
      if (req.kind === 'expand') expansions += 1;
      settle(leader.onAlterPartitionResponse(req, { error: 'NONE', leaderEpoch, partitionEpoch, isr }));
    }
  };

  const elect = () => {
    const candidates = isr.filter((b) => alive.has(b));
    if (leader !== undefined) for (const c of leader.resign()) settleOne(c.id);
    leaderId = candidates.length === 0 ? -1 : candidates[pick(candidates.length)]!;
    leaderEpoch += 1;
    partitionEpoch += 1;
    elections += 1;
    inFlight = undefined;
    become();
  };
  const settleOne = (id: number) => {
    waiting.delete(id);
  };

  const check = () => {
    if (leader !== undefined) {
      expect(leader.highWatermark).toBeGreaterThanOrEqual(lastHw);
      lastHw = leader.highWatermark;
      followerHw.set(leaderId, leader.highWatermark);
    }
    for (const [offset, id] of acked) {
      for (const b of isr) {
        if (logs.get(b)![offset]?.id !== id)
          throw new Error(`seed ${seed}: acked offset ${offset} lost on broker ${b}`);
      }
    }
    for (const a of brokers) {
      for (const b of brokers) {
        const upTo = Math.min(followerHw.get(a)!, followerHw.get(b)!);
        const la = logs.get(a)!;
        const lb = logs.get(b)!;
        for (let o = 0; o < upTo; o++) {
          if (la[o]?.id !== lb[o]?.id || la[o]?.epoch !== lb[o]?.epoch) {
            throw new Error(`seed ${seed}: brokers ${a} and ${b} differ at ${o} below the HW`);
          }
        }
      }
    }
  };

  become();
  for (let step = 0; step < steps; step++) {
    const r = rnd.next();
    if (r < 0.3) {
      if (leader !== undefined) {
        const acksAll = rnd.next() < 0.7;
        if (leader.checkProduce({ acks: acksAll ? -1 : 1 }) === 'NONE') {
          const log = logs.get(leaderId)!;
          const id = nextId++;
          log.push({ epoch: leaderEpoch, id });
          settle(leader.onLocalAppend(log.length));
          if (acksAll) {
            waiting.set(id, log.length - 1);
            settle(leader.addDelayedProduce({ id, requiredOffset: log.length, deadlineMs: nowMs + 30_000 }));
          }
        }
      }
    } else if (r < 0.72) {
      // A slow broker fetches rarely: it falls out of the ISR, and may turn slow again right after it asked to re-join.
      const candidates = [...followers.keys()].filter((x) => !slow.has(x) || rnd.next() < 0.1);
      const b = candidates[pick(candidates.length)];
      if (b !== undefined && leader !== undefined) {
        const f = followers.get(b)!;
        const log = logs.get(b)!;
        const leaderLog = logs.get(leaderId)!;
        const view = {
          logStartOffset: 0,
          logEndOffset: log.length,
          latestEpoch: log.at(-1)?.epoch ?? -1,
          endOffsetForEpoch: endOffsetForEpoch(log),
        };
        const req = f.buildFetch(view);
        const d = leader.validateFetch(req, { logStartOffset: 0, endOffsetForEpoch: endOffsetForEpoch(leaderLog) });
        if (d.kind === 'diverging') {
          const t = f.handleFetchResponse(
            req,
            { error: 'NONE', highWatermark: leader.highWatermark, logStartOffset: 0, divergingEpoch: d.divergingEpoch },
            view,
          );
          expect(t.kind).toBe('truncate');
          if (t.kind === 'truncate') {
            log.length = t.offset;
            followerHw.set(b, f.onTruncated(log.length));
          }
        } else if (d.kind === 'read') {
          settle(leader.onFollowerFetch({ replicaId: b, fetchOffset: req.fetchOffset, nowMs }, () => alive.has(b)));
          if (leader !== undefined) {
            const batch = leaderLog.slice(d.fetchOffset, Math.min(d.maxOffset, d.fetchOffset + 1 + pick(4)));
            log.push(...batch.map((e) => ({ ...e })));
            followerHw.set(b, f.onAppended(leader.highWatermark, log.length));
          }
        } else {
          throw new Error(`unexpected fetch error ${d.error}`);
        }
      }
    } else if (r < 0.85) {
      nowMs += pick(20_000);
      if (rnd.next() < 0.3) {
        const b = brokers[pick(3)]!;
        if (slow.has(b)) slow.delete(b);
        else slow.add(b);
      }
      if (leader !== undefined) settle(leader.onTick(nowMs));
    } else if (r < 0.92) {
      answerAlter();
    } else if (r < 0.935) {
      // Crash a broker (its disk survives); the controller fences it.
      const b = brokers[pick(3)]!;
      if (alive.has(b)) {
        alive.delete(b);
        followers.delete(b);
        if (isr.includes(b) && isr.length > 1) isr = isr.filter((x) => x !== b);
        if (b === leaderId) elect();
        else if (leader !== undefined) {
          partitionEpoch += 1;
          inFlight = undefined;
          settle(leader.onMetadataUpdate({ replicas: brokers, isr, leaderEpoch, partitionEpoch, nowMs }));
        }
      }
    } else {
      const b = brokers[pick(3)]!;
      if (!alive.has(b)) {
        alive.add(b);
        if (leaderId === -1 && isr.includes(b)) elect();
        else if (leaderId !== -1) {
          followers.set(
            b,
            new FollowerPartitionState({ localBrokerId: b, leaderId, leaderEpoch, highWatermark: followerHw.get(b)! }),
          );
        }
      }
    }
    check();
  }
  return { acked: acked.size, elections, expansions };
}

it('acks=all writes survive crashes and clean elections; logs agree up to the HW', () => {
  const base = Number(process.env.SEED ?? Date.now() % 2 ** 31);
  console.log('replication cluster-sim seed=', base);
  let acked = 0;
  let elections = 0;
  let expansions = 0;
  for (let i = 0; i < 15; i++) {
    const r = simulate(base + i, 1500);
    acked += r.acked;
    elections += r.elections;
    expansions += r.expansions;
  }
  console.log('acked', acked, 'elections', elections, 'ISR expansions', expansions);
  // The runs must exercise what they check.
  expect(acked).toBeGreaterThan(100);
  expect(elections).toBeGreaterThan(10);
  expect(expansions).toBeGreaterThan(10);
});
