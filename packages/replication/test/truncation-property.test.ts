// Random divergent logs: a common prefix, then a leader suffix and a follower
// suffix written in different leader epochs. A follower that fetches with its
// last epoch, truncates on every diverging-epoch answer and appends what the
// leader returns must end with the leader's log, never cutting into the common
// prefix (no divergent logs, no lost committed data). Replay with SEED=<n>.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type EpochEndOffset, FollowerPartitionState, validateLeaderFetch } from '../src/index.js';

/** An epoch cache over a log given as the epoch of each offset, answering like Kafka's endOffsetFor. */
function endOffsetForEpoch(log: readonly number[]): (epoch: number) => EpochEndOffset {
  return (epoch) => {
    if (epoch === -1 || log.length === 0) return { leaderEpoch: -1, endOffset: -1 };
    const latest = log[log.length - 1]!;
    if (epoch === latest) return { leaderEpoch: epoch, endOffset: log.length };
    if (epoch > latest) return { leaderEpoch: -1, endOffset: -1 };
    if (epoch < log[0]!) return { leaderEpoch: epoch, endOffset: 0 };
    const firstAbove = log.findIndex((e) => e > epoch);
    return { leaderEpoch: log[firstAbove - 1]!, endOffset: firstAbove };
  };
}

const runs = fc
  .record({
    prefix: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 8 }),
    leaderRuns: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
    followerRuns: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 4 }),
    epochs: fc.shuffledSubarray([4, 5, 6, 7, 8, 9, 10, 11], { minLength: 8, maxLength: 8 }),
    followerContinuesPrefixEpoch: fc.integer({ min: 0, max: 3 }),
  })
  .map(({ prefix, leaderRuns, followerRuns, epochs, followerContinuesPrefixEpoch }) => {
    const common = [...prefix].sort((a, b) => a - b);
    // Disjoint epoch sets per side (each epoch has one leader); the leader holds the highest.
    const followerEpochs = epochs.slice(0, followerRuns.length).sort((a, b) => a - b);
    const leaderEpochs = epochs.slice(4, 4 + leaderRuns.length).sort((a, b) => a - b);
    const maxEpoch = Math.max(...leaderEpochs, ...followerEpochs);
    leaderEpochs[leaderEpochs.length - 1] = maxEpoch + 1;
    const follower = [...common];
    // The follower may have got more of the prefix's last epoch than the leader.
    if (common.length > 0) for (let i = 0; i < followerContinuesPrefixEpoch; i++) follower.push(common.at(-1)!);
    followerRuns.forEach((n, i) => {
      for (let k = 0; k < n; k++) follower.push(followerEpochs[i]!);
    });
    const leader = [...common];
    leaderRuns.forEach((n, i) => {
      for (let k = 0; k < n; k++) leader.push(leaderEpochs[i]!);
    });
    return { common: common.length, leader, follower, leaderEpoch: leaderEpochs.at(-1)! };
  });

it('a follower converges to the leader log without cutting into the common prefix', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 2 ** 31);
  console.log('truncation property seed=', seed);
  fc.assert(
    fc.property(runs, ({ common, leader, follower: start, leaderEpoch }) => {
      let log = [...start];
      const f = new FollowerPartitionState({ localBrokerId: 2, leaderId: 1, leaderEpoch, highWatermark: common });
      const leaderView = {
        leaderEpoch,
        logStartOffset: 0,
        logEndOffset: leader.length,
        highWatermark: common,
        endOffsetForEpoch: endOffsetForEpoch(leader),
      };
      for (let round = 0; round < 20; round++) {
        const view = {
          logStartOffset: 0,
          logEndOffset: log.length,
          latestEpoch: log.length === 0 ? -1 : log.at(-1)!,
          endOffsetForEpoch: endOffsetForEpoch(log),
        };
        const req = f.buildFetch(view);
        const answer = validateLeaderFetch(req, leaderView);
        if (answer.kind === 'error') throw new Error(`unexpected ${answer.error}`);
        if (answer.kind === 'read') {
          log = [...log, ...leader.slice(answer.fetchOffset, answer.maxOffset)];
          break;
        }
        const d = f.handleFetchResponse(
          req,
          { error: 'NONE', highWatermark: common, logStartOffset: 0, divergingEpoch: answer.divergingEpoch },
          view,
        );
        if (d.kind !== 'truncate') throw new Error(`unexpected ${d.kind}`);
        expect(d.offset).toBeGreaterThanOrEqual(common);
        expect(d.offset).toBeLessThan(log.length);
        log = log.slice(0, d.offset);
      }
      expect(log).toEqual(leader);
    }),
    { seed, numRuns: 2000 },
  );
});
