// The simulator's clock: a discrete-event queue. Simulated time only moves when
// the next event is popped, so a run does no waiting and its order depends on
// nothing but the seed. Events are kept in a binary heap keyed by
// (timeMs, seq): `seq` is the insertion counter, so two events due at the same
// millisecond always run in the order they were scheduled, which is what makes
// a run replayable from its seed.

import { assert } from '@raftka/common';

interface Slot<T> {
  timeMs: number;
  seq: number;
  event: T;
}

export class EventQueue<T> {
  readonly #heap: Slot<T>[] = [];
  #nextSeq = 0;
  #nowMs = 0;
  readonly #sizeMax: number;

  constructor(sizeMax = 1_000_000) {
    this.#sizeMax = sizeMax;
  }

  /** Simulated time: the due time of the last popped event. */
  get nowMs(): number {
    return this.#nowMs;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** The due time of the next event, or Infinity when none is queued. */
  peekTimeMs(): number {
    return this.#heap[0]?.timeMs ?? Number.POSITIVE_INFINITY;
  }

  schedule(timeMs: number, event: T): void {
    assert(Number.isFinite(timeMs), () => `event time must be finite, got ${timeMs}`);
    assert(timeMs >= this.#nowMs, () => `event scheduled in the past: ${timeMs} < ${this.#nowMs}`);
    assert(this.#heap.length < this.#sizeMax, 'event queue is full: something schedules without bound');
    const slot: Slot<T> = { timeMs, seq: this.#nextSeq++, event };
    this.#heap.push(slot);
    this.#siftUp(this.#heap.length - 1);
  }

  /** Removes the earliest event and moves the clock to its due time. */
  pop(): T | undefined {
    const heap = this.#heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop() as Slot<T>;
    if (heap.length > 0) {
      heap[0] = last;
      this.#siftDown(0);
    }
    assert(top.timeMs >= this.#nowMs, 'the clock never runs backwards');
    this.#nowMs = top.timeMs;
    return top.event;
  }

  /** Moves the clock forward with no event (the end of a quiet stretch). */
  advanceTo(timeMs: number): void {
    assert(timeMs >= this.#nowMs, 'the clock never runs backwards');
    assert(timeMs <= this.peekTimeMs(), 'advancing past a queued event would skip it');
    this.#nowMs = timeMs;
  }

  #less(a: Slot<T>, b: Slot<T>): boolean {
    return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.seq < b.seq);
  }

  #siftUp(index: number): void {
    const heap = this.#heap;
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const a = heap[i] as Slot<T>;
      const b = heap[parent] as Slot<T>;
      if (!this.#less(a, b)) break;
      heap[i] = b;
      heap[parent] = a;
      i = parent;
    }
  }

  #siftDown(index: number): void {
    const heap = this.#heap;
    const n = heap.length;
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && this.#less(heap[left] as Slot<T>, heap[smallest] as Slot<T>)) smallest = left;
      if (right < n && this.#less(heap[right] as Slot<T>, heap[smallest] as Slot<T>)) smallest = right;
      if (smallest === i) return;
      const tmp = heap[i] as Slot<T>;
      heap[i] = heap[smallest] as Slot<T>;
      heap[smallest] = tmp;
      i = smallest;
    }
  }
}
