import { describe, expect, it } from 'vitest';
import { INT32_MAX, incrementSequence, ProducerStateManager } from '../src/index.js';

const h = (producerEpoch: number, baseSequence: number, count = 1, producerId = 7) => ({
  producerId,
  producerEpoch,
  baseSequence,
  lastOffsetDelta: count - 1,
});

describe('ProducerStateManager', () => {
  it('accepts any sequence from an unknown producer', () => {
    const m = new ProducerStateManager();
    expect(m.check(h(3, 42))).toEqual({ kind: 'append' });
  });

  it('answers a retried batch with its original offsets (NONE, not DUPLICATE_SEQUENCE_NUMBER)', () => {
    const m = new ProducerStateManager();
    m.replay(h(0, 0, 3), 100, 1);
    m.replay(h(0, 3, 2), 103, 2);
    expect(m.check(h(0, 0, 3))).toEqual({ kind: 'duplicate', firstOffset: 100, lastOffset: 102 });
    expect(m.check(h(0, 3, 2))).toEqual({ kind: 'duplicate', firstOffset: 103, lastOffset: 104 });
    expect(m.check(h(0, 5, 1))).toEqual({ kind: 'append' });
  });

  it('keeps only the last 5 batches for duplicate detection', () => {
    const m = new ProducerStateManager();
    for (let i = 0; i < 6; i++) m.replay(h(0, i), i, 0);
    expect(m.entry(7)?.batches).toHaveLength(5);
    expect(m.check(h(0, 0)).kind).toBe('error'); // oldest is forgotten: out of order now
    expect(m.check(h(0, 1))).toEqual({ kind: 'duplicate', firstOffset: 1, lastOffset: 1 });
  });

  it('rejects a gap or a repeat with OUT_OF_ORDER_SEQUENCE_NUMBER (45)', () => {
    const m = new ProducerStateManager();
    m.replay(h(0, 0, 2), 0, 0);
    expect(m.check(h(0, 3))).toMatchObject({ kind: 'error', error: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    expect(m.check(h(0, 1))).toMatchObject({ kind: 'error', error: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    expect(m.check(h(0, 2))).toEqual({ kind: 'append' });
  });

  it('rejects an older producer epoch with INVALID_PRODUCER_EPOCH (47)', () => {
    const m = new ProducerStateManager();
    m.replay(h(2, 0), 0, 0);
    expect(m.check(h(1, 1))).toMatchObject({ kind: 'error', error: 'INVALID_PRODUCER_EPOCH' });
  });

  it('requires sequence 0 for a new epoch', () => {
    const m = new ProducerStateManager();
    m.replay(h(0, 0, 5), 0, 0);
    expect(m.check(h(1, 5))).toMatchObject({ kind: 'error', error: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    expect(m.check(h(1, 0))).toEqual({ kind: 'append' });
    m.replay(h(1, 0), 5, 1);
    expect(m.entry(7)?.producerEpoch).toBe(1);
    expect(m.entry(7)?.batches).toHaveLength(1);
  });

  it('wraps sequences at INT32_MAX', () => {
    expect(incrementSequence(INT32_MAX, 1)).toBe(0);
    expect(incrementSequence(INT32_MAX - 1, 3)).toBe(1);
    const m = new ProducerStateManager();
    m.replay(h(0, INT32_MAX - 1, 2), 0, 0); // seqs MAX-1, MAX
    expect(m.entry(7)?.batches[0]?.lastSeq).toBe(INT32_MAX);
    expect(m.check(h(0, 0))).toEqual({ kind: 'append' });
    m.replay(h(0, INT32_MAX, 3), 10, 0); // MAX, 0, 1
    expect(m.entry(7)?.batches[1]?.lastSeq).toBe(1);
  });

  it('ignores non-idempotent batches and refuses an idempotent one without a sequence', () => {
    const m = new ProducerStateManager();
    expect(m.check(h(-1, -1, 1, -1))).toEqual({ kind: 'append' });
    m.replay(h(-1, -1, 1, -1), 0, 0);
    expect(m.size).toBe(0);
    expect(m.check(h(0, -1))).toMatchObject({ kind: 'error', error: 'INVALID_RECORD' });
  });

  it('rebuilds the same state by replaying batch headers, and survives snapshot/restore', () => {
    const log = [
      { header: h(0, 0, 2, 1), offset: 0 },
      { header: h(0, 0, 1, 2), offset: 2 },
      { header: h(0, 2, 3, 1), offset: 3 },
      { header: h(1, 0, 1, 2), offset: 6 },
    ];
    const a = new ProducerStateManager();
    const b = new ProducerStateManager();
    for (const { header, offset } of log) {
      expect(a.check(header).kind).toBe('append');
      a.replay(header, offset, offset);
    }
    for (const { header, offset } of log) b.replay(header, offset, offset);
    expect(b.snapshot()).toEqual(a.snapshot());
    const c = ProducerStateManager.restore(JSON.parse(JSON.stringify(a.snapshot())));
    expect(c.snapshot()).toEqual(a.snapshot());
    expect(c.check(h(0, 2, 3, 1))).toEqual({ kind: 'duplicate', firstOffset: 3, lastOffset: 5 });
  });

  it('forgets truncated batches, and producers left with none', () => {
    const m = new ProducerStateManager();
    m.replay(h(0, 0, 1, 1), 0, 0);
    m.replay(h(0, 1, 1, 1), 1, 0);
    m.replay(h(0, 0, 1, 2), 2, 0);
    m.truncateTo(1);
    expect(m.entry(1)?.batches).toHaveLength(1);
    expect(m.entry(2)).toBeUndefined();
    expect(m.check(h(0, 1, 1, 1))).toEqual({ kind: 'append' });
  });

  it('is bounded: evicts the least recently written producer, and expires idle ones', () => {
    const m = new ProducerStateManager({ maxProducerIds: 2 });
    m.replay(h(0, 0, 1, 1), 0, 0);
    m.replay(h(0, 0, 1, 2), 1, 10);
    m.replay(h(0, 1, 1, 1), 2, 20);
    m.replay(h(0, 0, 1, 3), 3, 30);
    expect(m.entry(2)).toBeUndefined();
    expect(m.size).toBe(2);
    expect(m.expire(100, 75)).toBe(1); // producer 1, last written at 20
    expect(m.entry(3)).toBeDefined();
  });
});
