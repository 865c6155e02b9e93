// The replicated state machine the simulated controllers apply committed
// entries to: a small key-value map fed by `data` entries of the form
// `key=value`. It also keeps a running hash of every entry it applied, so two
// state machines at the same offset can be compared in O(1), and it can be
// written to and loaded from a snapshot, which is what makes the simulator
// exercise the core's snapshot path (FetchSnapshot, restart from snapshot).

import { assert } from '@raftka/common';
import type { LogEntry, Snapshot } from '@raftka/raft';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const KIND_CODE = { data: 1, 'leader-change': 2, voters: 3 } as const;

/** FNV-1a over a few numbers and bytes; cheap, deterministic, good enough to tell histories apart. */
export function hashEntry(previous: number, entry: LogEntry): number {
  let h = (previous ^ 0x811c9dc5) >>> 0;
  const mix = (byte: number): void => {
    h = Math.imul(h ^ (byte & 0xff), 0x01000193) >>> 0;
  };
  for (const n of [entry.offset, entry.epoch, KIND_CODE[entry.kind]]) {
    mix(n);
    mix(n >>> 8);
    mix(n >>> 16);
    mix(n >>> 24);
  }
  for (const byte of entry.data) mix(byte);
  return h;
}

export function encodeRecord(key: string, value: string): Uint8Array {
  return encoder.encode(`${key}=${value}`);
}

export function decodeRecord(data: Uint8Array): { key: string; value: string } {
  const text = decoder.decode(data);
  const eq = text.indexOf('=');
  assert(eq > 0, () => `malformed record ${JSON.stringify(text)}`);
  return { key: text.slice(0, eq), value: text.slice(eq + 1) };
}

interface SnapshotBody {
  nextOffset: number;
  lastEpoch: number;
  historyHash: number;
  appliedRecords: number;
  kv: [string, string][];
}

export class KvStateMachine {
  readonly kv = new Map<string, string>();
  /** The offset of the next entry to apply: everything below it is applied. */
  nextOffset = 0;
  /** Epoch of the last applied entry (a snapshot id needs it). */
  lastEpoch = 0;
  historyHash = 0;
  appliedRecords = 0;

  apply(entry: LogEntry): void {
    assert(entry.offset === this.nextOffset, () => `apply at ${entry.offset}, expected ${this.nextOffset}`);
    if (entry.kind === 'data') {
      const { key, value } = decodeRecord(entry.data);
      this.kv.set(key, value);
      this.appliedRecords++;
    }
    this.historyHash = hashEntry(this.historyHash, entry);
    this.lastEpoch = entry.epoch;
    this.nextOffset = entry.offset + 1;
  }

  takeSnapshot(): Snapshot {
    const body: SnapshotBody = {
      nextOffset: this.nextOffset,
      lastEpoch: this.lastEpoch,
      historyHash: this.historyHash,
      appliedRecords: this.appliedRecords,
      kv: [...this.kv].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    };
    return { id: { endOffset: this.nextOffset, epoch: this.lastEpoch }, data: encoder.encode(JSON.stringify(body)) };
  }

  static fromSnapshot(snapshot: Snapshot): KvStateMachine {
    const body = JSON.parse(decoder.decode(snapshot.data)) as SnapshotBody;
    assert(
      body.nextOffset === snapshot.id.endOffset,
      () => `snapshot ${snapshot.id.endOffset} holds state up to ${body.nextOffset}`,
    );
    const machine = new KvStateMachine();
    for (const [key, value] of body.kv) machine.kv.set(key, value);
    machine.nextOffset = body.nextOffset;
    machine.lastEpoch = body.lastEpoch;
    machine.historyHash = body.historyHash;
    machine.appliedRecords = body.appliedRecords;
    return machine;
  }
}
