// The chaos history: every client operation as an `invoke` followed by its
// completion, `ok`, `fail` (definitely did not happen) or `info` (unknown:
// it may or may not have taken effect, e.g. a timeout). This is Jepsen's
// model; the checker reasons only over this record, never over what the
// workload believed at the time. Written as JSON lines so a run can be
// re-checked offline (`raftka chaos check <file>`) and read by people.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

/** One read record: [partition, offset, value]. */
export type ReadRecord = [partition: number, offset: number, value: string];

export interface HistoryOp {
  /** Position in the history (0, 1, 2, ...). */
  index: number;
  /** Milliseconds since the start of the run. */
  time: number;
  /** The client that issued it: a producer or consumer instance. A restarted consumer is a new process. */
  process: number;
  type: OpType;
  /**
   * `send` (produce one value), `poll` (consumer poll), `drain` (a poll of
   * the final drain), or `nemesis` (a fault started or healed; process -1).
   */
  f: 'send' | 'poll' | 'drain' | 'nemesis';
  /** send: the partition written. */
  partition?: number;
  /** send: the unique value (`<producer>-<counter>`). */
  value?: string;
  /** send ok: the offset the broker assigned. */
  offset?: number;
  /** poll/drain ok: what was read, in the order the consumer returned it. */
  reads?: ReadRecord[];
  /** fail/info: the error (Kafka error name when there is one). */
  error?: string;
  /** nemesis: what was done, e.g. `kill broker 102`. */
  fault?: string;
}

/** Collects the history in memory and, when given a file, appends every op to it as one JSON line. */
export class History {
  readonly ops: HistoryOp[] = [];
  readonly #fd: number | null;
  readonly #startMs: number;
  #pending: string[] = [];

  constructor(file: string | null, startMs = performance.now()) {
    this.#fd = file === null ? null : openSync(file, 'w');
    this.#startMs = startMs;
  }

  /** Milliseconds since the start of the run (an op's `time`). */
  now(): number {
    return Math.round((performance.now() - this.#startMs) * 10) / 10;
  }

  /** Records an op; returns it (with its index and time). */
  add(op: Omit<HistoryOp, 'index' | 'time'> & { time?: number }): HistoryOp {
    const full: HistoryOp = {
      ...op,
      index: this.ops.length,
      time: op.time ?? this.now(),
    };
    this.ops.push(full);
    if (this.#fd !== null) {
      this.#pending.push(JSON.stringify(full));
      // A small write buffer: one syscall per 256 ops keeps the file cheap,
      // and flush() runs at the end and on every fault.
      if (this.#pending.length >= 256) this.flush();
    }
    return full;
  }

  invoke(process: number, f: HistoryOp['f'], fields: Partial<HistoryOp> = {}): HistoryOp {
    return this.add({ ...fields, process, f, type: 'invoke' });
  }

  complete(invoke: HistoryOp, type: Exclude<OpType, 'invoke'>, fields: Partial<HistoryOp> = {}): HistoryOp {
    return this.add({
      process: invoke.process,
      f: invoke.f,
      partition: invoke.partition,
      value: invoke.value,
      ...fields,
      type,
    });
  }

  flush(): void {
    if (this.#fd === null || this.#pending.length === 0) return;
    writeSync(this.#fd, `${this.#pending.join('\n')}\n`);
    this.#pending = [];
  }

  close(): void {
    this.flush();
    if (this.#fd !== null) closeSync(this.#fd);
  }
}

/** Reads a history file written by History. */
export function readHistory(file: string): HistoryOp[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const op = JSON.parse(l) as HistoryOp;
      if (typeof op.process !== 'number' || typeof op.type !== 'string') {
        throw new Error(`${file}:${i + 1}: not a history op`);
      }
      return op;
    });
}
