// The in-memory log and its epoch history (the leader side of KIP-595 reconciliation).
import { describe, expect, it } from 'vitest';
import { RaftLog } from '../src/log.js';
import type { LogEntry } from '../src/types.js';

const entry = (offset: number, epoch: number, text = `${offset}`): LogEntry => ({
  offset,
  epoch,
  kind: 'data',
  data: new TextEncoder().encode(text),
  appendTimeMs: 0,
});

/** Epochs 1 at [0,3), 3 at [3,5), 4 at [5,8). */
function sample(): RaftLog {
  const log = new RaftLog(undefined, []);
  for (const [offset, epoch] of [1, 1, 1, 3, 3, 4, 4, 4].entries()) log.append(entry(offset, epoch));
  return log;
}

describe('RaftLog', () => {
  it('answers endOffsetForEpoch with the largest epoch at or below the request', () => {
    const log = sample();
    expect(log.endOffsetForEpoch(1)).toEqual({ epoch: 1, offset: 3 });
    expect(log.endOffsetForEpoch(2)).toEqual({ epoch: 1, offset: 3 });
    expect(log.endOffsetForEpoch(3)).toEqual({ epoch: 3, offset: 5 });
    expect(log.endOffsetForEpoch(4)).toEqual({ epoch: 4, offset: 8 });
    expect(log.endOffsetForEpoch(9)).toEqual({ epoch: 4, offset: 8 });
    expect(log.endOffsetForEpoch(0)).toEqual({ epoch: 0, offset: 0 });
  });

  it('matches a fetch position only when the epoch before it agrees', () => {
    const log = sample();
    expect(log.matches(0, 0)).toBe(true);
    expect(log.matches(3, 1)).toBe(true);
    expect(log.matches(4, 3)).toBe(true);
    expect(log.matches(4, 2)).toBe(false);
    expect(log.matches(8, 4)).toBe(true);
    expect(log.matches(9, 4)).toBe(false);
  });

  it('truncates entries and the epoch history together', () => {
    const log = sample();
    log.truncateTo(4);
    expect(log.endOffset).toBe(4);
    expect(log.lastEpoch).toBe(3);
    expect(log.endOffsetForEpoch(4)).toEqual({ epoch: 3, offset: 4 });
    log.truncateTo(3);
    expect(log.endOffsetForEpoch(4)).toEqual({ epoch: 1, offset: 3 });
    expect(() => log.append(entry(3, 0))).toThrow('append of epoch 0 after epoch 1');
    expect(() => log.append(entry(5, 1))).toThrow('append at 5 but the log ends at 3');
  });

  it('compacts to a snapshot and answers below it with the snapshot', () => {
    const log = sample();
    log.compact({ id: { endOffset: 4, epoch: 3 }, data: new Uint8Array(1) });
    expect(log.startOffset).toBe(4);
    expect(log.epochBefore(4)).toBe(3);
    expect(log.endOffsetForEpoch(3)).toEqual({ epoch: 3, offset: 5 });
    expect(log.endOffsetForEpoch(2)).toEqual({ epoch: 3, offset: 4 });
    expect(log.matches(4, 3)).toBe(true);
    expect(log.matches(3, 3)).toBe(false);
    expect(() => log.compact({ id: { endOffset: 6, epoch: 3 }, data: new Uint8Array(1) })).toThrow(
      'snapshot epoch 3 differs',
    );
  });

  it('reads at least one entry and then stays within maxBytes', () => {
    const log = sample();
    expect(log.read(0, 8, 0).map((e) => e.offset)).toEqual([0]);
    expect(log.read(0, 8, 2).map((e) => e.offset)).toEqual([0, 1]);
    expect(log.read(2, 4, 1000).map((e) => e.offset)).toEqual([2, 3]);
  });
});
