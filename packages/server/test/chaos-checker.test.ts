// The chaos checker on synthetic histories: a clean history passes every
// check, and each anomaly, planted alone, is caught by its check and only
// by it (so a verdict names the right problem).
import { describe, expect, it } from 'vitest';
import { type CheckInput, type CheckName, checkHistory, checkReplicas, formatVerdicts } from '../src/chaos/checker.js';
import { History, type ReadRecord } from '../src/chaos/history.js';

const PRODUCER = 1;
const CONSUMER = 100;
const DRAINER = 1000;

/** A history builder: sends per partition with dense offsets, polls, and a final drain. */
class Scenario {
  readonly h = new History(null, 0);
  /** partition -> log as [offset, value] */
  readonly logs = new Map<number, Array<[number, string]>>();
  #counter = 0;

  send(partition: number, outcome: 'ok' | 'fail' | 'info' = 'ok', opts: { offset?: number; append?: boolean } = {}) {
    const value = `${PRODUCER}-${this.#counter++}`;
    const inv = this.h.invoke(PRODUCER, 'send', { partition, value });
    const log = this.logs.get(partition) ?? [];
    this.logs.set(partition, log);
    const offset = opts.offset ?? log.length;
    if (outcome === 'ok' || opts.append) log.push([offset, value]);
    this.h.complete(inv, outcome, outcome === 'ok' ? { offset } : { error: 'REQUEST_TIMED_OUT' });
    return value;
  }

  poll(process: number, reads: ReadRecord[], f: 'poll' | 'drain' = 'poll') {
    const inv = this.h.invoke(process, f);
    this.h.complete(inv, 'ok', { reads });
  }

  /** One consumer reads each partition's log in two polls, then a drain reads it all. */
  readAll(transform: (p: number, log: Array<[number, string]>) => Array<[number, string]> = (_, l) => l) {
    for (const [p, log] of this.logs) {
      const reads = transform(p, log).map(([o, v]): ReadRecord => [p, o, v]);
      const half = Math.floor(reads.length / 2);
      this.poll(CONSUMER + p, reads.slice(0, half));
      this.poll(CONSUMER + p, reads.slice(half));
    }
  }

  drain(transform: (p: number, log: Array<[number, string]>) => Array<[number, string]> = (_, l) => l) {
    for (const [p, log] of this.logs) {
      this.poll(
        DRAINER,
        transform(p, log).map(([o, v]): ReadRecord => [p, o, v]),
        'drain',
      );
    }
  }

  endOffsets(): Map<number, number> {
    return new Map([...this.logs].map(([p, log]) => [p, log.length]));
  }

  check(extra: Partial<CheckInput> = {}) {
    return checkHistory({ ops: this.h.ops, endOffsets: this.endOffsets(), ...extra });
  }
}

function baseline(): Scenario {
  const s = new Scenario();
  for (let i = 0; i < 20; i++) s.send(i % 3);
  return s;
}

function failing(result: ReturnType<typeof checkHistory>): CheckName[] {
  return result.verdicts.filter((v) => !v.ok).map((v) => v.name);
}

describe('chaos checker', () => {
  it('passes a clean history and counts what it saw', () => {
    const s = baseline();
    s.readAll();
    s.drain();
    const r = s.check();
    expect(failing(r)).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.stats).toMatchObject({ sendsOk: 20, sendsFailed: 0, sendsUnknown: 0, drainedValues: 20, valuesRead: 40 });
    expect(formatVerdicts(r)).toContain('VALID');
  });

  it('catches a lost acknowledged write (absent from the final drain)', () => {
    const s = baseline();
    s.readAll();
    // Offset 3 of partition 1 vanished from the log, and the later records moved down:
    // the drain sees the tail at new offsets, which also shows as inconsistent offsets.
    // Plant the purest form instead: the drain stops short of a value that was never read.
    s.drain((p, log) => (p === 1 ? log.filter(([o]) => o !== log.length - 1) : log));
    const r = s.check({ endOffsets: new Map([...s.endOffsets()].map(([p, e]) => [p, p === 1 ? e - 1 : e])) });
    expect(failing(r)).toEqual(['lost']);
    expect(r.verdicts.find((v) => v.name === 'lost')?.count).toBe(1);
    expect(formatVerdicts(r)).toContain('INVALID');
  });

  it('catches a write that a consumer read but the final log lost (truncated after being read)', () => {
    const s = baseline();
    s.readAll();
    s.drain((p, log) => (p === 2 ? log.slice(0, -2) : log));
    const r = s.check({ endOffsets: new Map([...s.endOffsets()].map(([p, e]) => [p, p === 2 ? e - 2 : e])) });
    expect(failing(r)).toEqual(['lost']);
    expect(r.verdicts.find((v) => v.name === 'lost')?.count).toBe(2);
  });

  it('catches a duplicate: one value at two offsets', () => {
    const s = baseline();
    const log = s.logs.get(0) as Array<[number, string]>;
    // A retried batch appended twice: the broker kept both copies.
    log.push([log.length, (log[2] as [number, string])[1]]);
    s.readAll();
    s.drain();
    const r = s.check();
    expect(failing(r)).toEqual(['duplicate']);
    expect(r.verdicts.find((v) => v.name === 'duplicate')?.examples[0]).toMatch(/^p0 1-\d+ at offsets/);
  });

  it('catches an offset holding two values (two reads disagree)', () => {
    const s = baseline();
    s.readAll();
    // The drain sees a different value at offset 1 of partition 0 than the consumer did
    // (a divergent leader served that read), and the consumer's value is missing.
    const other = s.send(0, 'info');
    s.drain((p, log) => (p === 0 ? log.map(([o, v]): [number, string] => (o === 1 ? [o, other] : [o, v])) : log));
    const r = s.check();
    expect(failing(r)).toContain('inconsistent-offsets');
    expect(failing(r)).toContain('lost');
    expect(r.verdicts.find((v) => v.name === 'inconsistent-offsets')?.count).toBe(1);
  });

  it('catches a consumer that skipped offsets', () => {
    const s = baseline();
    s.readAll((p, log) => (p === 1 ? log.filter(([o]) => o !== 3) : log));
    s.drain();
    const r = s.check();
    expect(failing(r)).toEqual(['poll-skip']);
    expect(r.verdicts.find((v) => v.name === 'poll-skip')?.examples[0]).toContain('2 -> 4');
  });

  it('catches a consumer that went backwards', () => {
    const s = baseline();
    // Re-reads offsets 1 and 2 after having read 3: a rewound position.
    s.readAll((p, log) => (p === 2 ? [...log.slice(0, 4), ...log.slice(1)] : log));
    s.drain();
    const r = s.check();
    expect(failing(r)).toEqual(['nonmonotonic-poll']);
    expect(r.verdicts.find((v) => v.name === 'nonmonotonic-poll')?.count).toBe(1);
  });

  it('catches a value that was never sent (or read in the wrong partition)', () => {
    const s = baseline();
    s.readAll((p, log) => (p === 0 ? [...log, [log.length, '99-1']] : log));
    s.drain();
    const r = s.check();
    expect(failing(r)).toEqual(['unexpected']);
    const s2 = baseline();
    const value1 = (s2.logs.get(1) as Array<[number, string]>)[0]?.[1] as string;
    const p0 = s2.logs.get(0) as Array<[number, string]>;
    p0.push([p0.length, value1]);
    s2.readAll();
    s2.drain();
    expect(failing(s2.check())).toContain('unexpected');
  });

  it("catches a producer's acknowledged sends landing out of order", () => {
    const s = new Scenario();
    s.send(0, 'ok', { offset: 1 });
    s.send(0, 'ok', { offset: 0 });
    (s.logs.get(0) as Array<[number, string]>).sort((a, b) => a[0] - b[0]);
    s.readAll();
    s.drain();
    expect(failing(s.check())).toEqual(['nonmonotonic-send']);
  });

  it('reports failed or unknown writes that appear as recovered, not as an anomaly', () => {
    const s = baseline();
    s.send(0, 'info', { append: true });
    s.send(1, 'fail', { append: true });
    s.send(2, 'info'); // really not written
    s.readAll();
    s.drain();
    const r = s.check();
    expect(r.valid).toBe(true);
    const recovered = r.verdicts.find((v) => v.name === 'recovered');
    expect(recovered).toMatchObject({ ok: true, count: 2, informational: true });
    expect(r.stats).toMatchObject({ sendsUnknown: 2, sendsFailed: 1 });
  });

  it('flags a drain that stopped before the high watermark', () => {
    const s = baseline();
    s.readAll();
    s.drain();
    const r = s.check({ endOffsets: new Map([[0, 100]]) });
    expect(failing(r)).toEqual(['drain-incomplete']);
  });

  it('without a drain, counts acked writes that no read saw as lost', () => {
    const s = baseline();
    s.readAll((p, log) => (p === 0 ? log.slice(0, -1) : log));
    const r = checkHistory({ ops: s.h.ops });
    expect(failing(r)).toEqual(['lost']);
  });

  it('measures the longest stretch without an acknowledged write to a partition', () => {
    const h = new History(null, 0);
    const ack = (partition: number, value: string, time: number, offset: number) => {
      h.add({ process: 1, f: 'send', type: 'invoke', partition, value, time: time - 1 });
      h.add({ process: 1, f: 'send', type: 'ok', partition, value, offset, time });
    };
    ack(0, '1-0', 100, 0);
    ack(1, '1-1', 150, 0);
    ack(0, '1-2', 200, 1);
    ack(1, '1-3', 4150, 1); // partition 1 was unavailable for 4 s
    ack(0, '1-4', 4200, 2);
    expect(checkHistory({ ops: h.ops }).stats.longestAckGapMs).toBe(4000);
  });

  it('ignores nemesis events', () => {
    const s = baseline();
    s.h.add({ process: -1, f: 'nemesis', type: 'info', fault: 'kill broker 101' });
    s.readAll();
    s.drain();
    expect(s.check().valid).toBe(true);
  });
});

describe('replica comparison', () => {
  const batch = (base: number, last: number, crc: number) => ({ baseOffset: base, lastOffset: last, crc });
  const same = [batch(0, 4, 0xa), batch(5, 9, 0xb), batch(10, 12, 0xc)];

  it('passes identical logs, and ignores what lies above the high watermark', () => {
    const replicas = new Map([
      [
        0,
        new Map([
          [101, same],
          [102, same],
          [103, [...same, batch(13, 20, 0xd)]],
        ]),
      ],
    ]);
    expect(checkReplicas(replicas, new Map([[0, 13]])).ok).toBe(true);
    expect(checkReplicas(replicas, new Map()).ok).toBe(true);
  });

  it('catches a CRC mismatch, a different batch boundary and a short replica', () => {
    const crc = checkReplicas(
      new Map([
        [
          0,
          new Map([
            [101, same],
            [102, [batch(0, 4, 0xa), batch(5, 9, 0xbad), batch(10, 12, 0xc)]],
          ]),
        ],
      ]),
      new Map([[0, 13]]),
    );
    expect(crc).toMatchObject({ ok: false, count: 1 });
    expect(crc.examples[0]).toContain('batch 1');
    const boundary = checkReplicas(
      new Map([
        [
          3,
          new Map([
            [101, same],
            [103, [batch(0, 4, 0xa), batch(5, 7, 0xb), batch(8, 12, 0xc)]],
          ]),
        ],
      ]),
      new Map([[3, 13]]),
    );
    expect(boundary).toMatchObject({ ok: false, count: 1 });
    const short = checkReplicas(
      new Map([
        [
          0,
          new Map([
            [101, same],
            [102, same.slice(0, 2)],
          ]),
        ],
      ]),
      new Map([[0, 13]]),
    );
    expect(short.ok).toBe(false);
    expect(short.examples[0]).toContain('below the high watermark 13');
  });

  it('feeds the overall verdict', () => {
    const s = baseline();
    s.readAll();
    s.drain();
    const replicas = new Map([
      [
        0,
        new Map([
          [101, [batch(0, 6, 1)]],
          [102, [batch(0, 6, 2)]],
        ]),
      ],
    ]);
    const r = s.check({ replicas });
    expect(failing(r)).toEqual(['replica-divergence']);
  });
});
