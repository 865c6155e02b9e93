// The accumulator's rules, driven by an injected clock and timer: batching by
// batch.size and by linger.ms, buffer.memory blocking then failing after
// max.block.ms, idempotent sequences across batches and on retry, the
// in-flight bound, and delivery.timeout.ms expiry.
import { CompressionCodec, decodeBatch } from '@raftka/codec';
import { isRaftkaError, RaftkaError } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import {
  BufferExhaustedError,
  DeliveryTimeoutError,
  incrementSequence,
  type ProducerRecordData,
  type ProducerSettings,
  RECORD_BATCH_OVERHEAD_BYTES,
  RecordAccumulator,
  recordSizeBytes,
  recordSizeUpperBoundBytes,
  type Timer,
  validateProducerConfig,
} from '../src/index.js';

const T0 = 1_700_000_000_000;
const tp = { topic: 'orders', partition: 0 };

/** A manual clock and timer: time moves only when the test says so. */
class FakeTime implements Timer {
  now = T0;
  #timers: { at: number; cb: () => void; id: number }[] = [];
  #nextId = 0;
  nowMs(): number {
    return this.now;
  }
  setTimeout(cb: () => void, delayMs: number): unknown {
    const id = this.#nextId++;
    this.#timers.push({ at: this.now + delayMs, cb, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }
  get pending(): number {
    return this.#timers.length;
  }
  advance(ms: number): void {
    this.now += ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= this.now).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) return;
      this.#timers = this.#timers.filter((t) => t !== due);
      due.cb();
    }
  }
}

function settings(overrides: Record<string, string | number | boolean> = {}): ProducerSettings {
  return validateProducerConfig(overrides);
}

function rec(value: string, timestamp = T0, key: string | null = null): ProducerRecordData {
  return { key: key === null ? null : Buffer.from(key), value: Buffer.from(value), timestamp };
}

const identity = { producerId: 4000, producerEpoch: 2 };

/** Lets the promise callbacks of resolved waits run. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('batching', () => {
  it('closes a batch when the next record would pass batch.size, and every closed batch is as full as it can be', async () => {
    const time = new FakeTime();
    const acc = new RecordAccumulator(settings({ 'batch.size': 1024, 'enable.idempotence': false }), {
      clock: time,
      timer: time,
    });
    const value = 'x'.repeat(100);
    for (let i = 0; i < 40; i++) await acc.append(tp, rec(value), time.now);
    // Nothing lingered yet, but the closed batches are sendable; the open last one is not.
    const drained = [];
    for (let round = 0; round < 10; round++) {
      const out = acc.ready(time.now);
      if (out.length === 0) break;
      drained.push(...out);
      for (const d of out) acc.complete(d.batch, { baseOffset: 0 });
    }
    const oneRecord = recordSizeBytes(rec(value), 9, T0);
    expect(drained.length).toBeGreaterThan(1);
    let records = 0;
    for (const d of drained) {
      expect(d.encoded.length).toBeLessThanOrEqual(1024);
      expect(d.encoded.length + oneRecord).toBeGreaterThan(1024);
      const decoded = decodeBatch(d.encoded);
      expect(decoded.records.length).toBe(d.recordCount);
      records += d.recordCount;
    }
    expect(acc.batchCount).toBe(1);
    time.advance(5);
    const last = acc.ready(time.now);
    expect(last).toHaveLength(1);
    expect(records + last[0]!.recordCount).toBe(40);
  });

  it('sends a partly filled batch only once linger.ms has passed since it was created', async () => {
    const time = new FakeTime();
    const acc = new RecordAccumulator(settings({ 'linger.ms': 20, 'enable.idempotence': false }), { clock: time });
    await acc.append(tp, rec('a'), time.now);
    time.advance(10);
    await acc.append(tp, rec('b', time.now), time.now);
    expect(acc.ready(time.now)).toEqual([]);
    expect(acc.nextReadyMs()).toBe(T0 + 20);
    time.advance(9);
    expect(acc.ready(time.now)).toEqual([]);
    time.advance(1);
    const [d] = acc.ready(time.now);
    expect(d!.recordCount).toBe(2);
    expect(decodeBatch(d!.encoded).records.map((r) => r.value!.toString())).toEqual(['a', 'b']);
  });

  it('uses Kafka 4.0 default linger.ms = 5', async () => {
    const acc = new RecordAccumulator(settings({ 'enable.idempotence': false }));
    await acc.append(tp, rec('a'), T0);
    expect(acc.ready(T0 + 4)).toEqual([]);
    expect(acc.ready(T0 + 5)).toHaveLength(1);
  });

  it('flush() makes partly filled batches sendable at once', async () => {
    const acc = new RecordAccumulator(settings({ 'linger.ms': 1000, 'enable.idempotence': false }));
    await acc.append(tp, rec('a'), T0);
    await acc.append({ topic: 'orders', partition: 1 }, rec('b'), T0);
    acc.flush();
    expect(acc.ready(T0)).toHaveLength(2);
  });

  it('resolves each record with base offset + index and the batch compressed with compression.type', async () => {
    const acc = new RecordAccumulator(settings({ 'compression.type': 'gzip', 'enable.idempotence': false }));
    const results = [];
    for (const v of ['a', 'b', 'c']) results.push(await acc.append(tp, rec(v), T0));
    const [d] = acc.ready(T0 + 5);
    const decoded = decodeBatch(d!.encoded);
    expect(decoded.compression).toBe(CompressionCodec.gzip);
    expect(decoded.header.producerId).toBe(-1);
    expect(decoded.header.baseSequence).toBe(-1);
    acc.complete(d!.batch, { baseOffset: 100 });
    const metas = await Promise.all(results.map((r) => r.delivery));
    expect(metas.map((m) => m.offset)).toEqual([100, 101, 102]);
    expect(metas[0]).toEqual({ topic: 'orders', partition: 0, offset: 100, timestamp: T0 });
    expect(acc.usedBytes).toBe(0);
  });

  it('calls onBatchClosed when a batch fills up or is drained, so the sticky partitioner moves', async () => {
    const closed: string[] = [];
    const acc = new RecordAccumulator(settings({ 'batch.size': 300, 'enable.idempotence': false }), {
      onBatchClosed: (topic, partition) => closed.push(`${topic}-${partition}`),
    });
    await acc.append(tp, rec('x'.repeat(150)), T0);
    expect(closed).toEqual([]);
    await acc.append(tp, rec('x'.repeat(150)), T0);
    expect(closed).toEqual(['orders-0']);
    // One batch per partition per ready(): the closed one, then the open one, which draining closes.
    expect(acc.ready(T0 + 5)).toHaveLength(1);
    expect(closed).toEqual(['orders-0']);
    expect(acc.ready(T0 + 5)).toHaveLength(1);
    expect(closed).toEqual(['orders-0', 'orders-0']);
    // A record bigger than batch.size gets a batch of its own, full at once.
    await acc.append(tp, rec('x'.repeat(400)), T0);
    expect(closed).toHaveLength(3);
  });

  it('rejects a record larger than max.request.size with MESSAGE_TOO_LARGE', async () => {
    const acc = new RecordAccumulator(settings({ 'max.request.size': 1000 }));
    await expect(acc.append(tp, rec('x'.repeat(1000)), T0)).rejects.toMatchObject({ errorName: 'MESSAGE_TOO_LARGE' });
    expect(acc.usedBytes).toBe(0);
  });
});

describe('buffer.memory', () => {
  it('blocks an append until memory is released, then appends', async () => {
    const time = new FakeTime();
    const one = recordSizeUpperBoundBytes(rec('x'.repeat(100)));
    const acc = new RecordAccumulator(
      settings({ 'buffer.memory': one * 2, 'max.block.ms': 1000, 'enable.idempotence': false }),
      { clock: time, timer: time },
    );
    await acc.append(tp, rec('x'.repeat(100)), time.now);
    await acc.append(tp, rec('x'.repeat(100)), time.now);
    expect(acc.usedBytes).toBe(one * 2);
    let appended = false;
    const third = acc.append(tp, rec('x'.repeat(100)), time.now).then((r) => {
      appended = true;
      return r;
    });
    await tick();
    expect(appended).toBe(false);
    expect(acc.waitingAppends).toBe(1);
    time.advance(500);
    // A waiting append makes the queued batches sendable, as Java's exhausted flag does.
    const [d] = acc.ready(time.now);
    acc.complete(d!.batch, { baseOffset: 0 });
    await third;
    expect(appended).toBe(true);
    expect(acc.waitingAppends).toBe(0);
    expect(time.pending).toBe(0);
    // The blocked record's batch was created when it got its memory.
    time.advance(4);
    expect(acc.ready(time.now)).toEqual([]);
    time.advance(1);
    expect(acc.ready(time.now)).toHaveLength(1);
  });

  it('fails with BufferExhaustedError after max.block.ms and holds no memory for it', async () => {
    const time = new FakeTime();
    const one = recordSizeUpperBoundBytes(rec('x'.repeat(100)));
    const acc = new RecordAccumulator(
      settings({ 'buffer.memory': one, 'max.block.ms': 60_000, 'enable.idempotence': false }),
      { clock: time, timer: time },
    );
    await acc.append(tp, rec('x'.repeat(100)), time.now);
    const blocked = acc.append(tp, rec('x'.repeat(100)), time.now);
    time.advance(59_999);
    await tick();
    expect(acc.waitingAppends).toBe(1);
    time.advance(1);
    const error = await blocked.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BufferExhaustedError);
    expect(isRaftkaError(error) && error.errorName).toBe('REQUEST_TIMED_OUT');
    expect((error as Error).message).toContain('max blocking time 60000 ms');
    expect(acc.waitingAppends).toBe(0);
    expect(acc.usedBytes).toBe(one);
  });

  it('fails at once with max.block.ms = 0', async () => {
    const one = recordSizeUpperBoundBytes(rec('y'));
    const acc = new RecordAccumulator(settings({ 'buffer.memory': one, 'max.block.ms': 0 }));
    await acc.append(tp, rec('y'), T0);
    await expect(acc.append(tp, rec('y'), T0)).rejects.toBeInstanceOf(BufferExhaustedError);
  });
});

describe('idempotence', () => {
  async function fill(acc: RecordAccumulator, n: number, partition = 0) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await acc.append({ topic: 'orders', partition }, rec(`v${i}`), T0));
    return out;
  }

  it('holds batches until the producer id is known, then numbers them per partition across batches', async () => {
    const acc = new RecordAccumulator(settings({ 'batch.size': 100 }));
    await fill(acc, 10);
    await fill(acc, 3, 1);
    expect(acc.ready(T0 + 5)).toEqual([]);
    acc.setProducerIdentity(identity);
    const sequences: Record<number, number[]> = { 0: [], 1: [] };
    for (let round = 0; round < 20; round++) {
      const out = acc.ready(T0 + 5);
      for (const d of out) {
        const h = decodeBatch(d.encoded).header;
        expect(h.producerId).toBe(4000);
        expect(h.producerEpoch).toBe(2);
        expect(h.baseSequence).toBe(d.baseSequence);
        sequences[d.partition]!.push(d.baseSequence, d.baseSequence + d.recordCount - 1);
        acc.complete(d.batch, { baseOffset: 0 });
      }
    }
    // Contiguous per partition: each batch starts right after the previous one's last sequence.
    const p0 = sequences[0]!;
    expect(p0[0]).toBe(0);
    for (let i = 2; i < p0.length; i += 2) expect(p0[i]).toBe(p0[i - 1]! + 1);
    expect(p0.at(-1)).toBe(9);
    expect(sequences[1]).toEqual([0, 2]);
  });

  it('retries a failed batch ahead of newer ones with the same sequence and the same bytes', async () => {
    const acc = new RecordAccumulator(settings({ 'batch.size': 100, 'retry.backoff.ms': 100 }), {
      producerIdentity: identity,
    });
    const appended = await fill(acc, 12);
    const [first] = acc.ready(T0 + 5);
    const [second] = acc.ready(T0 + 5);
    expect(second!.baseSequence).toBe(first!.recordCount);
    expect(acc.fail(first!.batch, new RaftkaError('NOT_LEADER_OR_FOLLOWER', 'moved'), T0 + 10)).toBe(true);
    // Backing off: nothing from this partition, not even newer batches, goes ahead of the retry.
    expect(acc.ready(T0 + 50)).toEqual([]);
    const [retry] = acc.ready(T0 + 110);
    expect(retry!.batch).toBe(first!.batch);
    expect(retry!.attempt).toBe(2);
    expect(retry!.baseSequence).toBe(0);
    expect(retry!.encoded.equals(first!.encoded)).toBe(true);
    acc.complete(retry!.batch, { baseOffset: 0 });
    acc.complete(second!.batch, { baseOffset: first!.recordCount });
    const [third] = acc.ready(T0 + 110);
    expect(third!.baseSequence).toBe(first!.recordCount + second!.recordCount);
    acc.complete(third!.batch, { baseOffset: third!.baseSequence });
    for (let round = 0; round < 10; round++)
      for (const d of acc.ready(T0 + 200)) acc.complete(d.batch, { baseOffset: d.baseSequence });
    const offsets = (await Promise.all(appended.map((a) => a.delivery))).map((m) => m.offset);
    expect(offsets).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('holds a retry back while a batch drained before it is still in flight', async () => {
    const acc = new RecordAccumulator(settings({ 'batch.size': 70, 'retry.backoff.ms': 0 }), {
      producerIdentity: identity,
    });
    await fill(acc, 3);
    const [b0] = acc.ready(T0 + 5);
    const [b1] = acc.ready(T0 + 5);
    expect(b1!.baseSequence).toBeGreaterThan(b0!.baseSequence);
    acc.fail(b1!.batch, new RaftkaError('NOT_LEADER_OR_FOLLOWER', 'moved'), T0 + 6);
    expect(acc.ready(T0 + 7)).toEqual([]);
    acc.fail(b0!.batch, new RaftkaError('NOT_LEADER_OR_FOLLOWER', 'moved'), T0 + 8);
    // Both go back in sequence order: b0 first, and b1 only after b0 is answered.
    const [r0] = acc.ready(T0 + 9);
    expect(r0!.batch).toBe(b0!.batch);
    expect(acc.ready(T0 + 9)).toEqual([]);
    acc.complete(r0!.batch, { baseOffset: 0 });
    const [r1] = acc.ready(T0 + 9);
    expect(r1!.batch).toBe(b1!.batch);
    expect(r1!.baseSequence).toBe(b1!.baseSequence);
  });

  it('fails records for good on a non-retriable error', async () => {
    const acc = new RecordAccumulator(settings(), { producerIdentity: identity });
    const [a] = await fill(acc, 1);
    const [d] = acc.ready(T0 + 5);
    expect(acc.fail(d!.batch, new RaftkaError('INVALID_PRODUCER_EPOCH', 'fenced'), T0 + 6)).toBe(false);
    await expect(a!.delivery).rejects.toMatchObject({ errorName: 'INVALID_PRODUCER_EPOCH' });
    expect(acc.usedBytes).toBe(0);
  });

  it('keeps at most max.in.flight.requests.per.connection batches of a partition in flight', async () => {
    const acc = new RecordAccumulator(settings({ 'batch.size': 70, 'max.in.flight.requests.per.connection': 2 }), {
      producerIdentity: identity,
    });
    await fill(acc, 5);
    const a = acc.ready(T0 + 5);
    const b = acc.ready(T0 + 5);
    expect(acc.ready(T0 + 5)).toEqual([]);
    expect(acc.inFlightCount(tp)).toBe(2);
    acc.complete(a[0]!.batch, { baseOffset: 0 });
    expect(acc.ready(T0 + 5)).toHaveLength(1);
    expect(b).toHaveLength(1);
  });

  it('counts the in-flight bound from the oldest unacknowledged batch, so its retry stays in the broker window', async () => {
    const acc = new RecordAccumulator(settings({ 'batch.size': 70 }), { producerIdentity: identity });
    await fill(acc, 7);
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(...acc.ready(T0 + 5));
    expect(sent).toHaveLength(5);
    // Answers out of order: the 2nd to 5th come back, the 1st does not.
    for (const d of sent.slice(1)) acc.complete(d.batch, { baseOffset: d.baseSequence });
    expect(acc.inFlightCount(tp)).toBe(1);
    expect(acc.ready(T0 + 5)).toEqual([]);
    acc.complete(sent[0]!.batch, { baseOffset: 0 });
    expect(acc.ready(T0 + 5)).toHaveLength(1);
  });

  it('without idempotence bounds only the batches in flight', async () => {
    const acc = new RecordAccumulator(settings({ 'batch.size': 70, 'enable.idempotence': false }));
    await fill(acc, 7);
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(...acc.ready(T0 + 5));
    expect(acc.ready(T0 + 5)).toEqual([]);
    acc.complete(sent[1]!.batch, { baseOffset: 1 });
    expect(acc.ready(T0 + 5)).toHaveLength(1);
  });

  it('wraps sequences from INT32_MAX to 0', () => {
    expect(incrementSequence(0, 5)).toBe(5);
    expect(incrementSequence(0x7fffffff, 1)).toBe(0);
    expect(incrementSequence(0x7fffffff - 2, 5)).toBe(2);
  });

  it('resets sequences to 0 for a new producer epoch', async () => {
    const acc = new RecordAccumulator(settings(), { producerIdentity: identity });
    await fill(acc, 3);
    const [d] = acc.ready(T0 + 5);
    acc.complete(d!.batch, { baseOffset: 0 });
    acc.setProducerIdentity({ producerId: 4000, producerEpoch: 3 });
    await fill(acc, 1);
    const [e] = acc.ready(T0 + 10);
    expect(e!.baseSequence).toBe(0);
    expect(e!.producerEpoch).toBe(3);
  });
});

describe('delivery.timeout.ms', () => {
  it('expires a queued batch delivery.timeout.ms after its creation, without using up sequences', async () => {
    const acc = new RecordAccumulator(settings({ 'delivery.timeout.ms': 40_000, 'linger.ms': 5 }));
    const a = await acc.append(tp, rec('a'), T0);
    // No producer id yet, so the batch stays queued.
    expect(acc.ready(T0 + 39_999)).toEqual([]);
    expect(acc.ready(T0 + 40_000)).toEqual([]);
    const error = await a.delivery.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryTimeoutError);
    expect((error as Error).message).toContain(
      'Expiring 1 record(s) for orders-0: 40000 ms has passed since batch creation',
    );
    expect(acc.usedBytes).toBe(0);
    acc.setProducerIdentity(identity);
    await acc.append(tp, rec('b'), T0 + 40_000);
    expect(acc.ready(T0 + 40_005)[0]!.baseSequence).toBe(0);
  });

  it('does not retry past delivery.timeout.ms: the retriable error becomes a delivery timeout', async () => {
    const acc = new RecordAccumulator(settings(), { producerIdentity: identity });
    const a = await acc.append(tp, rec('a'), T0);
    const [d] = acc.ready(T0 + 5);
    expect(acc.fail(d!.batch, new RaftkaError('REQUEST_TIMED_OUT', 'slow'), T0 + 120_000)).toBe(false);
    const error = await a.delivery.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryTimeoutError);
    expect((error as Error).message).toContain('last error: slow');
  });

  it('does not retry more than retries times', async () => {
    const acc = new RecordAccumulator(settings({ retries: 1, 'enable.idempotence': false, 'retry.backoff.ms': 0 }));
    const a = await acc.append(tp, rec('a'), T0);
    const [d] = acc.ready(T0 + 5);
    expect(acc.fail(d!.batch, new RaftkaError('NETWORK_EXCEPTION', 'reset'), T0 + 6)).toBe(true);
    const [d2] = acc.ready(T0 + 6);
    expect(acc.fail(d2!.batch, new RaftkaError('NETWORK_EXCEPTION', 'reset'), T0 + 7)).toBe(false);
    await expect(a.delivery).rejects.toMatchObject({ errorName: 'NETWORK_EXCEPTION' });
  });
});

it('counts the batch header in batch.size', () => {
  expect(RECORD_BATCH_OVERHEAD_BYTES).toBe(61);
});
