// Unit tests of RaftNode: each role's transitions, vote rules, the HW rule,
// the Ready contract, long poll, check-quorum, EndQuorumEpoch, fast failover
// on disconnect, divergence and snapshots. Single nodes are driven by hand;
// multi-node behaviour uses the small fixed network in harness.ts.

import { SeededRandom } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RAFT_CONFIG,
  type FetchResponse,
  type LogEntry,
  type NodeId,
  type PersistedState,
  type RaftConfig,
  type RaftMessage,
  RaftNode,
  type Ready,
  type VoteResponse,
} from '../src/index.js';
import { Cluster, type Disk } from './harness.js';

const enc = new TextEncoder();
const EMPTY: PersistedState = { quorumState: { epoch: 0, votedId: -1, leaderId: -1 }, entries: [] };

function node(
  nodeId: NodeId,
  voters: NodeId[],
  persisted: PersistedState = EMPTY,
  config: Partial<RaftConfig> = {},
  nowMs = 0,
): RaftNode {
  return new RaftNode(
    { ...DEFAULT_RAFT_CONFIG, ...config, nodeId, voters },
    persisted,
    new SeededRandom(nodeId),
    nowMs,
  );
}

/** Drain every Ready (persist is a no-op here); returns them in order. */
function drain(n: RaftNode, nowMs: number): Ready[] {
  const out: Ready[] = [];
  for (let i = 0; i < 100 && n.hasReady(); i++) {
    const r = n.ready();
    out.push(r);
    n.advance(r, nowMs);
  }
  return out;
}

function messages(readies: Ready[]): RaftMessage[] {
  return readies.flatMap((r) => r.messages);
}

function entries(epochs: number[], start = 0): LogEntry[] {
  return epochs.map((epoch, i) => ({
    offset: start + i,
    epoch,
    kind: 'data' as const,
    data: enc.encode(`e${start + i}`),
    appendTimeMs: 0,
  }));
}

/** A three-voter cluster with node 1 elected leader of epoch 1 and everything replicated. */
function electedCluster(extra: Partial<ConstructorParameters<typeof Cluster>[0]> = {}): Cluster {
  const c = new Cluster({ voters: [1, 2, 3], random: 'staggered', ...extra });
  c.tickTo(1000, false);
  c.stabilize();
  expect(c.get(1).node.role).toBe('leader');
  return c;
}

describe('election', () => {
  it('a voter times out into prospective without bumping or persisting its epoch', () => {
    const n = node(1, [1, 2, 3]);
    expect(n.role).toBe('unattached');
    const deadline = n.nextDeadlineMs();
    expect(deadline).toBeGreaterThanOrEqual(1000);
    expect(deadline).toBeLessThan(2000);
    n.tick(deadline);
    expect(n.role).toBe('prospective');
    expect(n.epoch).toBe(0);
    const [r] = drain(n, deadline);
    expect(r!.quorumState).toBeUndefined();
    const votes = r!.messages.filter((m) => m.type === 'VoteRequest');
    expect(votes.map((m) => [m.to, m.candidateEpoch, m.preVote])).toEqual([
      [2, 1, true],
      [3, 1, true],
    ]);
  });

  it('becomes candidate only after a majority grants the pre-vote, then persists epoch and vote before asking', () => {
    const n = node(1, [1, 2, 3]);
    n.tick(n.nextDeadlineMs());
    drain(n, 2000);
    const grant = (from: NodeId, granted: boolean): VoteResponse => ({
      type: 'VoteResponse',
      from,
      to: 1,
      epoch: 0,
      candidateEpoch: 1,
      voteGranted: granted,
      preVote: true,
      leaderId: -1,
    });
    n.step(grant(2, false), 2000);
    expect(n.role).toBe('prospective');
    n.step(grant(3, true), 2000);
    expect(n.role).toBe('candidate');
    expect(n.epoch).toBe(1);
    const [r] = drain(n, 2000);
    expect(r!.quorumState).toEqual({ epoch: 1, votedId: 1, leaderId: -1 });
    expect(r!.mustSync).toBe(true);
    expect(r!.messages.every((m) => m.type === 'VoteRequest' && !m.preVote && m.candidateEpoch === 1)).toBe(true);
  });

  it('a single voter elects itself and commits on its own persisted log', () => {
    const n = node(1, [1]);
    n.tick(n.nextDeadlineMs());
    expect(n.role).toBe('leader');
    expect(n.highWatermark).toBe(0);
    drain(n, 2000);
    expect(n.highWatermark).toBe(2); // leader-change + voters entries, once persisted
    expect(n.propose([enc.encode('x')], 2000)).toMatchObject({ ok: true, firstOffset: 2, lastOffset: 2 });
    expect(n.highWatermark).toBe(2);
    const readies = drain(n, 2000);
    expect(n.highWatermark).toBe(3);
    expect(readies.flatMap((r) => r.committed).map((e) => e.offset)).toContain(2);
    expect(n.nextDeadlineMs()).toBe(Number.POSITIVE_INFINITY);
  });

  it('a lost election backs off and retries with a pre-vote in the same epoch', () => {
    const n = node(1, [1, 2, 3]);
    const t = n.nextDeadlineMs();
    n.tick(t);
    for (const from of [2, 3]) {
      n.step(
        {
          type: 'VoteResponse',
          from,
          to: 1,
          epoch: 0,
          candidateEpoch: 1,
          voteGranted: true,
          preVote: true,
          leaderId: -1,
        },
        t,
      );
    }
    expect(n.role).toBe('candidate');
    const timeout = n.nextDeadlineMs() - t;
    expect(timeout).toBeGreaterThanOrEqual(1000);
    expect(timeout).toBeLessThan(2000);
    const lostAt = n.nextDeadlineMs();
    n.tick(lostAt);
    expect(n.role).toBe('prospective');
    expect(n.epoch).toBe(1);
    expect(n.votedId).toBe(1);
    const backoff = n.nextDeadlineMs() - lostAt;
    expect(backoff).toBeGreaterThanOrEqual(100);
    expect(backoff).toBeLessThanOrEqual(DEFAULT_RAFT_CONFIG.electionBackoffMaxMs);
    drain(n, lostAt);
    n.tick(lostAt + backoff);
    const again = messages(drain(n, lostAt + backoff));
    expect(again.map((m) => m.type === 'VoteRequest' && m.preVote && m.candidateEpoch)).toEqual([2, 2]);
  });

  it('the candidate with a majority becomes leader, appends leader-change and voters, and announces itself', () => {
    const c = electedCluster();
    const leader = c.get(1).node;
    expect(leader.entryAt(0).kind).toBe('leader-change');
    expect(leader.entryAt(1).kind).toBe('voters');
    expect(JSON.parse(new TextDecoder().decode(leader.entryAt(1).data))).toEqual({ version: 0, voters: [1, 2, 3] });
    expect(c.get(2).node.role).toBe('follower');
    expect(c.get(2).node.leaderId).toBe(1);
    expect(leader.highWatermark).toBe(2);
  });
});

describe('vote granting', () => {
  const voteRequest = (
    from: NodeId,
    candidateEpoch: number,
    lastOffsetEpoch: number,
    lastOffset: number,
    preVote = false,
  ) => ({ type: 'VoteRequest', from, to: 1, candidateEpoch, lastOffsetEpoch, lastOffset, preVote }) as const;
  const persisted: PersistedState = {
    quorumState: { epoch: 2, votedId: -1, leaderId: -1 },
    entries: entries([1, 2, 2]),
  };

  it('grants at most one vote per epoch and persists it before the response is sent', () => {
    const n = node(1, [1, 2, 3], persisted);
    n.step(voteRequest(2, 3, 2, 3), 10);
    const [r] = drain(n, 10);
    expect(r!.quorumState).toEqual({ epoch: 3, votedId: 2, leaderId: -1 });
    expect(r!.mustSync).toBe(true);
    expect(r!.messages).toEqual([
      expect.objectContaining({ type: 'VoteResponse', to: 2, voteGranted: true, epoch: 3 }),
    ]);
    n.step(voteRequest(3, 3, 2, 9), 11);
    expect(messages(drain(n, 11))).toEqual([expect.objectContaining({ to: 3, voteGranted: false })]);
    // The same candidate asking again gets the same answer.
    n.step(voteRequest(2, 3, 2, 3), 12);
    expect(messages(drain(n, 12))).toEqual([expect.objectContaining({ to: 2, voteGranted: true })]);
  });

  it('refuses a candidate whose log is behind by (last epoch, end offset)', () => {
    for (const [lastEpoch, lastOffset, granted] of [
      [1, 9, false],
      [2, 2, false],
      [2, 3, true],
      [3, 1, true],
    ] as const) {
      const n = node(1, [1, 2, 3], persisted);
      n.step(voteRequest(2, 3, lastEpoch, lastOffset), 0);
      expect(messages(drain(n, 0))).toEqual([expect.objectContaining({ voteGranted: granted })]);
      expect(n.epoch).toBe(3); // a real vote request of a higher epoch moves the epoch either way
    }
  });

  it('refuses votes for an older epoch and in an epoch whose leader it knows', () => {
    const follower = node(1, [1, 2, 3], { ...persisted, quorumState: { epoch: 2, votedId: -1, leaderId: 3 } });
    follower.step(voteRequest(2, 1, 5, 50), 0);
    follower.step(voteRequest(2, 2, 5, 50), 0);
    const answers = messages(drain(follower, 0)).filter((m) => m.type === 'VoteResponse');
    expect(answers.map((m) => m.voteGranted)).toEqual([false, false]);
    expect(follower.role).toBe('follower');
  });

  it('a pre-vote changes nothing: no epoch, no vote, no persisted state', () => {
    const n = node(1, [1, 2, 3], persisted);
    n.step(voteRequest(2, 3, 2, 3, true), 0);
    const [r] = drain(n, 0);
    expect(r!.quorumState).toBeUndefined();
    expect(r!.messages).toEqual([expect.objectContaining({ voteGranted: true, preVote: true, epoch: 2 })]);
    expect(n.epoch).toBe(2);
    expect(n.votedId).toBe(-1);
    // A second pre-vote for another candidate is granted too: nothing was promised.
    n.step(voteRequest(3, 3, 2, 3, true), 0);
    expect(messages(drain(n, 0))).toEqual([expect.objectContaining({ to: 3, voteGranted: true })]);
  });

  it('a follower that hears from a live leader refuses pre-votes until fetchTimeoutMs passes without a fetch', () => {
    const c = electedCluster();
    c.run(1000);
    const f = c.get(2).node;
    const req = { ...voteRequest(3, 2, 1, 2, true), to: 2 };
    f.step(req, c.nowMs);
    const answers = messages(drain(f, c.nowMs)).filter((m) => m.type === 'VoteResponse') as VoteResponse[];
    expect(answers.at(-1)).toMatchObject({ voteGranted: false, leaderId: 1, epoch: 1 });
    expect(f.epoch).toBe(1);
  });

  it('observers never vote', () => {
    const n = node(4, [1, 2, 3]);
    n.step({ ...voteRequest(2, 1, 0, 0), to: 4 }, 0);
    expect(messages(drain(n, 0))).toEqual([expect.objectContaining({ voteGranted: false })]);
    expect(n.role).toBe('observer');
    expect(n.epoch).toBe(0);
  });
});

describe('pre-vote protects a healthy leader', () => {
  it('a rejoining partitioned voter does not bump the epoch', () => {
    const c = electedCluster();
    c.run(1000);
    c.partition([[3], [1, 2]]);
    c.run(20_000);
    expect(c.get(3).node.role).toBe('prospective');
    expect(c.get(3).node.epoch).toBe(1);
    c.cut.clear();
    c.run(5000);
    expect(c.get(1).node.role).toBe('leader');
    expect(c.get(1).node.epoch).toBe(1);
    expect(c.get(3).node.role).toBe('follower');
    expect(c.get(3).node.epoch).toBe(1);
  });

  it('a false disconnect notice makes a follower ask, get refused, and rejoin', () => {
    const c = electedCluster();
    c.run(1000);
    const f = c.get(3);
    f.node.peerDisconnected(1, c.nowMs);
    c.process(f);
    expect(f.node.role).toBe('prospective');
    c.run(3000);
    expect(f.node.role).toBe('follower');
    expect(c.get(1).node.role).toBe('leader');
    expect(c.get(1).node.epoch).toBe(1);
  });
});

describe('high watermark', () => {
  it('does not commit entries of an older epoch before an entry of its own epoch', () => {
    // Node 1 wins epoch 3 holding epoch-2 entries that were never committed.
    const fresh = node(1, [1, 2, 3], {
      quorumState: { epoch: 2, votedId: -1, leaderId: -1 },
      entries: entries([1, 2, 2]),
    });
    const t = fresh.nextDeadlineMs();
    fresh.tick(t);
    for (const from of [2, 3]) {
      fresh.step(
        {
          type: 'VoteResponse',
          from,
          to: 1,
          epoch: 2,
          candidateEpoch: 3,
          voteGranted: true,
          preVote: true,
          leaderId: -1,
        },
        t,
      );
    }
    for (const from of [2, 3]) {
      fresh.step(
        {
          type: 'VoteResponse',
          from,
          to: 1,
          epoch: 3,
          candidateEpoch: 3,
          voteGranted: true,
          preVote: false,
          leaderId: -1,
        },
        t,
      );
    }
    expect(fresh.role).toBe('leader');
    drain(fresh, t);
    expect(fresh.logEndOffset).toBe(4); // leader-change at offset 3
    const fetch = (from: NodeId, fetchOffset: number, lastFetchedEpoch: number) =>
      ({
        type: 'FetchRequest',
        from,
        to: 1,
        currentLeaderEpoch: 3,
        fetchOffset,
        lastFetchedEpoch,
        maxBytes: 1 << 20,
        maxWaitMs: 0,
      }) as const;
    fresh.step(fetch(2, 3, 2), t + 1);
    expect(fresh.highWatermark).toBe(0); // offsets 0..2 are on a majority but are not of epoch 3
    fresh.step(fetch(2, 4, 3), t + 2);
    expect(fresh.highWatermark).toBe(4);
    const committed = drain(fresh, t + 2).flatMap((r) => r.committed);
    expect(committed.map((e) => e.offset)).toEqual([0, 1, 2, 3]);
  });

  it('the leader counts only its persisted log end toward the HW', () => {
    const c = electedCluster();
    c.run(1000);
    const leader = c.get(1).node;
    const hw = leader.highWatermark;
    leader.propose([enc.encode('x')], c.nowMs);
    // Hand out the Ready (entries not yet durable) but do not advance it.
    const r = leader.ready();
    expect(r.entries.map((e) => e.offset)).toEqual([hw]);
    expect(leader.hasReady()).toBe(false); // nothing more until advance()
    // Node 2 already has the entry (as if the response raced ahead of our fsync) and says so.
    leader.step(
      {
        type: 'FetchRequest',
        from: 2,
        to: 1,
        currentLeaderEpoch: 1,
        fetchOffset: hw + 1,
        lastFetchedEpoch: 1,
        maxBytes: 1 << 20,
        maxWaitMs: 0,
      },
      c.nowMs,
    );
    expect(leader.highWatermark).toBe(hw); // 2 has it, we have not persisted it: only one of three
    leader.advance(r, c.nowMs);
    expect(leader.highWatermark).toBe(hw + 1);
  });

  it('followers learn the HW from fetch responses, capped at their own log end', () => {
    const c = electedCluster();
    c.propose(1, ['a', 'b', 'c']);
    c.run(1000);
    for (const id of [1, 2, 3]) expect(c.get(id).node.highWatermark).toBe(5);
    expect(c.get(2).applied).toEqual(['a', 'b', 'c']);
  });
});

describe('early fetch responses (opt-in)', () => {
  it('puts only a leader fetch answers in earlyMessages, and the HW still waits for its own fsync', () => {
    const c = electedCluster({ config: { leaderEarlyFetchResponses: true } });
    c.run(1000);
    const leader = c.get(1).node;
    const hw = leader.highWatermark;
    leader.propose([enc.encode('x')], c.nowMs);
    const r = leader.ready();
    expect(r.entries).toHaveLength(1);
    expect(r.earlyMessages?.map((m) => m.type)).toEqual(['FetchResponse', 'FetchResponse']);
    expect(r.messages).toEqual([]);
    // Both followers got the entry before our fsync and fetch past it: a majority without us.
    for (const from of [2, 3]) {
      leader.step(
        {
          type: 'FetchRequest',
          from,
          to: 1,
          currentLeaderEpoch: 1,
          fetchOffset: hw + 1,
          lastFetchedEpoch: 1,
          maxBytes: 1 << 20,
          maxWaitMs: 500,
        },
        c.nowMs,
      );
    }
    expect(leader.highWatermark).toBe(hw + 1);
    leader.advance(r, c.nowMs);
    const next = leader.ready();
    expect(next.committed.map((e) => e.offset)).toEqual([hw]);
    leader.advance(next, c.nowMs);
  });

  it('never sends votes early', () => {
    const n = node(1, [1, 2, 3], EMPTY, { leaderEarlyFetchResponses: true });
    n.step(
      { type: 'VoteRequest', from: 2, to: 1, candidateEpoch: 1, lastOffsetEpoch: 0, lastOffset: 0, preVote: false },
      0,
    );
    const [r] = drain(n, 0);
    expect(r!.earlyMessages).toBeUndefined();
    expect(r!.messages).toHaveLength(1);
  });
});

describe('long poll', () => {
  it('parks a fetch with nothing new and answers it at maxWaitMs or when entries arrive', () => {
    const c = electedCluster();
    c.run(1000);
    const leader = c.get(1).node;
    const start = c.nowMs;
    // Both followers' fetches are parked now: the next deadline is the long-poll deadline.
    expect(leader.nextDeadlineMs()).toBeLessThanOrEqual(start + 500);
    expect(c.queue).toEqual([]);
    leader.propose([enc.encode('p')], c.nowMs);
    c.process(c.get(1));
    const answered = c.queue.filter((m) => m.type === 'FetchResponse') as FetchResponse[];
    expect(answered.map((m) => m.to).sort()).toEqual([2, 3]);
    expect(answered.every((m) => m.entries.length === 1)).toBe(true);
    c.stabilize();
    c.queue = [];
    c.tickTo(c.nowMs + 500, false);
    const empty = c.queue.filter((m) => m.type === 'FetchResponse') as FetchResponse[];
    expect(empty.map((m) => m.to).sort()).toEqual([2, 3]);
    expect(empty.every((m) => m.entries.length === 0)).toBe(true);
  });

  it('keeps at most one parked fetch per replica', () => {
    const c = electedCluster();
    c.run(1000);
    const leader = c.get(1).node;
    for (let i = 0; i < 5; i++) {
      leader.step(
        {
          type: 'FetchRequest',
          from: 4,
          to: 1,
          currentLeaderEpoch: 1,
          fetchOffset: leader.logEndOffset,
          lastFetchedEpoch: 1,
          maxBytes: 1 << 20,
          maxWaitMs: 500,
        },
        c.nowMs,
      );
    }
    c.process(c.get(1));
    c.queue = c.queue.filter((m) => m.to === 4);
    expect(c.queue.length).toBeLessThanOrEqual(1); // at most the first (HW news) answered at once
    c.tickTo(c.nowMs + 500, false);
    expect(c.queue.filter((m) => m.to === 4).length).toBeLessThanOrEqual(2);
  });
});

describe('check-quorum', () => {
  it('a leader cut off from the majority resigns after 1.5 x fetchTimeoutMs and refuses writes', () => {
    const c = electedCluster();
    c.run(1000);
    const cutAt = c.nowMs;
    c.partition([[1], [2, 3]]);
    c.run(2900);
    expect(c.get(1).node.role).toBe('leader');
    c.run(cutAt + 3100 - c.nowMs);
    const old = c.get(1).node;
    expect(old.role).toBe('resigned');
    expect(old.propose([enc.encode('late')], c.nowMs)).toMatchObject({
      ok: false,
      errorName: 'NOT_LEADER_OR_FOLLOWER',
    });
    expect(old.counters.checkQuorumResignations).toBe(1);
  });

  it('a leader with a live majority never resigns', () => {
    const c = electedCluster();
    c.partition([[3], [1, 2]]);
    c.run(30_000);
    expect(c.get(1).node.role).toBe('leader');
    expect(c.get(1).node.epoch).toBe(1);
  });
});

describe('EndQuorumEpoch', () => {
  it('resign() hands over to the successor with the longest log within a few message hops, no timers', () => {
    const c = electedCluster();
    c.run(1000);
    c.partition([[3], [1, 2]]);
    c.propose(1, ['only-on-1-and-2']);
    c.run(100);
    c.cut.clear();
    c.get(1).node.resign(c.nowMs);
    c.process(c.get(1));
    const end = c.queue.find((m) => m.type === 'EndQuorumEpochRequest');
    expect(end).toMatchObject({ preferredSuccessors: [2, 3] });
    const before = c.nowMs;
    c.stabilize();
    expect(c.nowMs).toBe(before);
    expect(c.get(2).node.role).toBe('leader');
    expect(c.get(2).node.epoch).toBe(2);
    expect(c.get(1).node.role).toBe('follower');
    expect(c.get(3).node.role).toBe('follower');
  });

  it('successors other than #0 wait by position before campaigning', () => {
    const n = node(3, [1, 2, 3], { quorumState: { epoch: 4, votedId: -1, leaderId: 1 }, entries: [] });
    drain(n, 0);
    n.step({ type: 'EndQuorumEpochRequest', from: 1, to: 3, leaderEpoch: 4, preferredSuccessors: [2, 3] }, 10);
    expect(n.role).toBe('follower');
    expect(n.leaderId).toBe(-1); // the leader is leaving: no longer named
    expect(n.nextDeadlineMs()).toBe(110);
    n.tick(110);
    expect(n.role).toBe('prospective');
  });
});

describe('fast failover on disconnect', () => {
  it('followers campaign in id order as soon as the leader connection closes', () => {
    const c = electedCluster();
    c.run(1000);
    const t = c.nowMs;
    c.crash(1, true);
    c.stabilize();
    expect(c.get(2).node.role).toBe('leader');
    expect(c.nowMs).toBe(t);
    c.propose(2, ['after']);
    c.run(1000);
    expect(c.get(3).applied).toEqual(['after']);
  });

  it('a disconnect of someone other than the leader changes nothing', () => {
    const c = electedCluster();
    c.run(1000);
    c.get(2).node.peerDisconnected(3, c.nowMs);
    expect(c.get(2).node.role).toBe('follower');
  });
});

describe('divergence', () => {
  it('a follower with a divergent suffix from an old epoch ends up identical to the leader', () => {
    // Node 3 was leader of epoch 2 and wrote offsets 3..6 that nobody else has;
    // nodes 1 and 2 moved on in epoch 3 with other entries at those offsets.
    const text = (l: LogEntry[]) => l.map((e) => `${e.offset}/${e.epoch}`);
    const base = entries([1, 1, 1]);
    const d = (epoch: number, leaderId: NodeId, log: LogEntry[]): Disk => ({
      quorumState: { epoch, votedId: -1, leaderId },
      snapshot: undefined,
      entries: log,
    });
    const c = new Cluster({
      voters: [1, 2, 3],
      random: 'staggered',
      disks: new Map([
        [1, d(3, -1, [...base, ...entries([3, 3], 3)])],
        [2, d(3, -1, [...base, ...entries([3, 3], 3)])],
        [3, d(2, -1, [...base, ...entries([2, 2, 2, 2], 3)])],
      ]),
    });
    c.run(5000);
    const leader = c.leader()!;
    expect(leader.id).not.toBe(3);
    const logOf = (id: NodeId) => {
      const n = c.get(id).node;
      const out: LogEntry[] = [];
      for (let o = n.logStartOffset; o < n.logEndOffset; o++) out.push(n.entryAt(o));
      return out;
    };
    expect(text(logOf(3))).toEqual(text(logOf(leader.id)));
    expect(c.get(3).node.counters.truncations).toBeGreaterThan(0);
    expect(c.get(3).disk.entries.map((e) => `${e.offset}/${e.epoch}`)).toEqual(text(logOf(leader.id)));
  });
});

describe('snapshots', () => {
  it('a far-behind observer fetches the snapshot in several chunks, installs it, and continues', () => {
    const c = new Cluster({
      voters: [1, 2, 3],
      observers: [4],
      random: 'staggered',
      config: { snapshotChunkBytes: 16 },
    });
    c.tickTo(1000, false);
    c.stabilize();
    c.run(200);
    expect(c.get(4).node.leaderId).toBe(1);
    c.crash(4, false);
    c.propose(
      1,
      Array.from({ length: 20 }, (_, i) => `record-${i}`),
    );
    c.run(1000);
    const snap = c.snapshot(1);
    expect(c.get(1).node.logStartOffset).toBe(snap.id.endOffset);
    expect(c.get(1).disk.entries).toEqual([]);
    c.propose(1, ['tail']);
    c.run(100);
    c.restart(4);
    c.traceMessages = false;
    let chunks = 0;
    for (let i = 0; i < 100 && c.get(4).node.logEndOffset < c.get(1).node.logEndOffset; i++) {
      c.tickTo(c.nowMs + 10, false);
      chunks += c.queue.filter((m) => m.type === 'FetchSnapshotRequest').length;
      c.deliver();
    }
    c.run(1000);
    const expectedChunks = Math.ceil(snap.data.length / 16);
    expect(expectedChunks).toBeGreaterThan(3);
    expect(chunks).toBeGreaterThanOrEqual(expectedChunks);
    const o = c.get(4);
    expect(o.node.logStartOffset).toBe(snap.id.endOffset);
    expect(o.disk.snapshot?.id).toEqual(snap.id);
    expect(o.applied).toEqual(c.get(1).applied);
    expect(o.applied.at(-1)).toBe('tail');
    expect(o.node.counters.snapshotsInstalled).toBe(1);
  });

  it('starts over when the leader replaces its snapshot in the middle of a download', () => {
    const c = new Cluster({
      voters: [1, 2, 3],
      observers: [4],
      random: 'staggered',
      config: { snapshotChunkBytes: 8 },
    });
    c.tickTo(1000, false);
    c.stabilize();
    c.run(200);
    c.crash(4, false);
    c.propose(1, ['a', 'b', 'c', 'd']);
    c.run(1000);
    const first = c.snapshot(1);
    c.restart(4);
    c.traceMessages = false;
    // Let the observer fetch two chunks of the first snapshot.
    let chunksSeen = 0;
    for (let i = 0; i < 50 && chunksSeen < 2; i++) {
      c.tickTo(c.nowMs + 5, false);
      chunksSeen += c.queue.filter((m) => m.type === 'FetchSnapshotResponse').length;
      c.deliver();
    }
    expect(chunksSeen).toBe(2);
    c.propose(1, ['e', 'f']);
    // The leader applies e, f only after the followers fetch them; wait for that.
    for (let i = 0; i < 20 && c.get(1).appliedEnd < c.get(1).node.logEndOffset; i++) {
      c.tickTo(c.nowMs + 1, false);
      c.deliver((m) => m.to !== 4 && m.from !== 4);
    }
    const second = c.snapshot(1);
    expect(second.id.endOffset).toBeGreaterThan(first.id.endOffset);
    const errors: number[] = [];
    for (let i = 0; i < 200 && c.get(4).node.logEndOffset < c.get(1).node.logEndOffset; i++) {
      for (const m of c.queue) if (m.type === 'FetchSnapshotResponse' && m.errorCode !== 0) errors.push(m.errorCode);
      c.deliver();
      c.tickTo(c.nowMs + 5, false);
    }
    expect(errors).toContain(98); // SNAPSHOT_NOT_FOUND for the replaced one
    expect(c.get(4).node.snapshot?.id).toEqual(second.id);
    c.run(1000);
    expect(c.get(4).applied).toEqual(c.get(1).applied);
  });

  it('a recovered snapshot is handed to the state machine in the first Ready', () => {
    const snapshot = { id: { endOffset: 5, epoch: 2 }, data: enc.encode('[]') };
    const n = node(1, [1, 2, 3], {
      quorumState: { epoch: 2, votedId: -1, leaderId: 2 },
      snapshot,
      entries: entries([2, 2], 5),
    });
    expect(n.logStartOffset).toBe(5);
    expect(n.logEndOffset).toBe(7);
    expect(n.highWatermark).toBe(5);
    const [r] = drain(n, 0);
    expect(r!.installSnapshot).toBe(snapshot);
    expect(r!.snapshot).toBeUndefined();
    expect(r!.messages).toEqual([
      expect.objectContaining({ type: 'FetchRequest', fetchOffset: 7, lastFetchedEpoch: 2 }),
    ]);
  });

  it('refuses a snapshot above the high watermark', () => {
    const c = electedCluster();
    const leader = c.get(1).node;
    expect(() => leader.snapshotTaken({ id: { endOffset: 99, epoch: 1 }, data: new Uint8Array(0) })).toThrow(
      'above the HW',
    );
  });
});

describe('observers', () => {
  it('find the leader by asking voters in turn and show up in describeQuorum', () => {
    const c = new Cluster({ voters: [1, 2, 3], observers: [7], random: 'staggered' });
    c.tickTo(1000, false);
    c.stabilize();
    c.run(500);
    const o = c.get(7).node;
    expect(o.role).toBe('observer');
    expect(o.state).toBe('follower');
    expect(o.leaderId).toBe(1);
    c.propose(1, ['m']);
    c.run(600);
    expect(c.get(7).applied).toEqual(['m']);
    const q = c.get(1).node.describeQuorum(c.nowMs);
    expect(q.leaderId).toBe(1);
    expect(q.voters.map((v) => v.nodeId)).toEqual([1, 2, 3]);
    expect(q.observers.map((v) => v.nodeId)).toEqual([7]);
    expect(q.observers[0]!.logEndOffset).toBe(c.get(1).node.logEndOffset);
    expect(q.observers[0]!.lastCaughtUpTimeMs).toBeGreaterThan(0);
    expect(() => c.get(2).node.describeQuorum(c.nowMs)).toThrow('not the quorum leader');
  });

  it('ask the voters in turn while none answers', () => {
    const o = node(7, [1, 2, 3]);
    const asked: NodeId[] = [];
    let now = 0;
    for (let i = 0; i < 4; i++) {
      now = o.nextDeadlineMs();
      o.tick(now);
      for (const m of messages(drain(o, now))) if (m.type === 'FetchRequest') asked.push(m.to);
    }
    expect(asked).toEqual([1, 2, 3, 1]);
    expect(now).toBe(3 * DEFAULT_RAFT_CONFIG.requestTimeoutMs);
    // A voter that knows the leader redirects the observer to it.
    o.step(
      {
        type: 'FetchResponse',
        from: 1,
        to: 7,
        errorCode: 6,
        epoch: 3,
        leaderId: 2,
        fetchOffset: 0,
        lastFetchedEpoch: 0,
        highWatermark: 0,
        logStartOffset: 0,
        entries: [],
      },
      now,
    );
    expect(o.state).toBe('follower');
    expect(o.leaderId).toBe(2);
    expect(o.epoch).toBe(3);
    const [r] = drain(o, now);
    expect(r!.quorumState).toEqual({ epoch: 3, votedId: -1, leaderId: 2 });
    expect(r!.messages).toEqual([expect.objectContaining({ type: 'FetchRequest', to: 2, currentLeaderEpoch: 3 })]);
  });

  it('follow the new leader after a failover', () => {
    const c = new Cluster({ voters: [1, 2, 3], observers: [7], random: 'staggered' });
    c.tickTo(1000, false);
    c.stabilize();
    c.run(500);
    c.crash(1, true);
    c.run(3000);
    const leader = c.leader()!;
    expect(leader.id).not.toBe(1);
    expect(c.get(7).node.leaderId).toBe(leader.id);
    expect(c.get(7).node.epoch).toBe(leader.node.epoch);
  });
});

describe('stale and fenced messages', () => {
  it('ignores responses from older epochs and moves to a higher epoch it hears of', () => {
    const n = node(1, [1, 2, 3], { quorumState: { epoch: 5, votedId: -1, leaderId: 2 }, entries: [] });
    drain(n, 0);
    const stale: FetchResponse = {
      type: 'FetchResponse',
      from: 2,
      to: 1,
      errorCode: 0,
      epoch: 4,
      leaderId: 2,
      fetchOffset: 0,
      lastFetchedEpoch: 0,
      highWatermark: 99,
      logStartOffset: 0,
      entries: [],
    };
    n.step(stale, 1);
    expect(n.highWatermark).toBe(0);
    n.step({ type: 'BeginQuorumEpochRequest', from: 3, to: 1, leaderEpoch: 7 }, 2);
    expect(n.epoch).toBe(7);
    expect(n.leaderId).toBe(3);
    const [r] = drain(n, 2);
    expect(r!.quorumState).toEqual({ epoch: 7, votedId: -1, leaderId: 3 });
  });

  it('answers a fetch with a stale epoch with FENCED_LEADER_EPOCH and the current leader', () => {
    const c = electedCluster();
    const leader = c.get(1).node;
    leader.step(
      {
        type: 'FetchRequest',
        from: 2,
        to: 1,
        currentLeaderEpoch: 0,
        fetchOffset: 0,
        lastFetchedEpoch: 0,
        maxBytes: 100,
        maxWaitMs: 0,
      },
      c.nowMs,
    );
    const [r] = drain(leader, c.nowMs);
    expect(r!.messages).toEqual([expect.objectContaining({ errorCode: 74, epoch: 1, leaderId: 1 })]);
  });

  it('a restarted leader cannot lead again in its old epoch', () => {
    const n = node(1, [1, 2, 3], { quorumState: { epoch: 3, votedId: 1, leaderId: 1 }, entries: entries([3]) });
    expect(n.role).toBe('resigned');
    expect(n.propose([enc.encode('x')], 0)).toMatchObject({ ok: false });
  });

  it('rejects time going backwards and messages for someone else', () => {
    const n = node(1, [1, 2, 3], EMPTY, {}, 100);
    expect(() => n.tick(99)).toThrow('time went back');
    expect(() => n.step({ type: 'BeginQuorumEpochRequest', from: 2, to: 3, leaderEpoch: 1 }, 100)).toThrow(
      'delivered to 1',
    );
  });

  it('refuses a second ready() before advance()', () => {
    const n = node(1, [1, 2, 3]);
    n.tick(n.nextDeadlineMs());
    n.ready();
    expect(n.hasReady()).toBe(false);
    expect(() => n.ready()).toThrow('before advance()');
  });
});
