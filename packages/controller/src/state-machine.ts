// The replicated state machine a controller applies committed entries to. For
// now a key-value map used by tests, the benchmark and the CLI; the metadata
// image replaces it in the control-plane work.
//
// Records are UTF-8 `key=value` bytes: `set a=1` from the CLI is readable in
// any dump of the log. A record without '=' (a benchmark payload) is counted
// but sets nothing. Snapshots are versioned JSON of the whole map.
import { assert, RaftkaError } from '@raftka/common';
import type { LogEntry, Snapshot } from '@raftka/raft';

export interface StateMachine {
  /** Committed entries in order; non-data entries advance the applied offset only. */
  apply(entries: readonly LogEntry[]): void;
  /** Everything applied so far. */
  snapshot(): Uint8Array;
  restore(snapshot: Snapshot): void;
  /** Next offset to apply. */
  readonly appliedOffset: number;
}

const SNAPSHOT_FORMAT_VERSION = 1;

interface KeyValueSnapshot {
  version: number;
  appliedOffset: number;
  appliedRecords: number;
  entries: [string, string][];
}

export class KeyValueStateMachine implements StateMachine {
  readonly #map = new Map<string, string>();
  #appliedOffset = 0;
  #appliedRecords = 0;
  readonly #decoder = new TextDecoder('utf-8', { fatal: false });

  get appliedOffset(): number {
    return this.#appliedOffset;
  }

  /** Data records applied since the beginning of the log (snapshots carry the count). */
  get appliedRecords(): number {
    return this.#appliedRecords;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): string | undefined {
    return this.#map.get(key);
  }

  entries(): IterableIterator<[string, string]> {
    return this.#map.entries();
  }

  apply(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      assert(
        entry.offset === this.#appliedOffset,
        () => `applying offset ${entry.offset} but the next to apply is ${this.#appliedOffset}`,
      );
      this.#appliedOffset = entry.offset + 1;
      if (entry.kind !== 'data') continue;
      this.#appliedRecords++;
      const text = this.#decoder.decode(entry.data);
      const eq = text.indexOf('=');
      if (eq > 0) this.#map.set(text.slice(0, eq), text.slice(eq + 1));
    }
  }

  snapshot(): Uint8Array {
    const body: KeyValueSnapshot = {
      version: SNAPSHOT_FORMAT_VERSION,
      appliedOffset: this.#appliedOffset,
      appliedRecords: this.#appliedRecords,
      entries: [...this.#map.entries()],
    };
    return new TextEncoder().encode(JSON.stringify(body));
  }

  restore(snapshot: Snapshot): void {
    let body: KeyValueSnapshot;
    try {
      body = JSON.parse(new TextDecoder().decode(snapshot.data)) as KeyValueSnapshot;
    } catch (cause) {
      throw new RaftkaError('CORRUPT_STATE', `snapshot ${snapshot.id.endOffset}-${snapshot.id.epoch} is not JSON`, {
        cause,
      });
    }
    if (body.version !== SNAPSHOT_FORMAT_VERSION) {
      throw new RaftkaError('CORRUPT_STATE', `snapshot format version ${body.version} is unknown`);
    }
    if (body.appliedOffset !== snapshot.id.endOffset) {
      throw new RaftkaError(
        'CORRUPT_STATE',
        `snapshot ${snapshot.id.endOffset}-${snapshot.id.epoch} holds state up to ${body.appliedOffset}`,
      );
    }
    this.#map.clear();
    for (const [k, v] of body.entries) this.#map.set(k, v);
    this.#appliedOffset = snapshot.id.endOffset;
    this.#appliedRecords = body.appliedRecords;
  }
}
