// The broker's metadata state machine: what the Raft observer hands over
// (committed entries, a snapshot to install) goes into a MetadataLoader, and
// every new image is published to the broker's listeners together with this
// broker's share of the delta (`localChanges`: partitions to lead, to follow,
// to delete). Only committed entries ever reach it, so a broker never acts on
// a record the quorum could still lose.
//
// It implements the controller package's `StateMachine`, so the same Raft
// driver that runs controllers runs a broker's observer. Its snapshots are
// the image's bytes, the same format controllers write, so a broker can
// restart from its own snapshot and replay the log after it.
import { assert } from '@raftka/common';
import {
  decodeRecord,
  type LocalReplicaChanges,
  localChanges,
  type MetadataDelta,
  type MetadataImage,
  MetadataLoader,
  type MetadataRecord,
} from '@raftka/metadata';
import type { LogEntry, Snapshot } from '@raftka/raft';

/** One published metadata update, as the data path needs it. */
export interface MetadataUpdate {
  readonly delta: MetadataDelta;
  readonly image: MetadataImage;
  /** This broker's share of the delta. */
  readonly changes: LocalReplicaChanges;
  /** True when the image came from a snapshot rather than replayed records. */
  readonly fromSnapshot: boolean;
}

/**
 * Gets every new image in log order, synchronously, from the driver's apply
 * step. The data path (replica manager) is one; the logging listener another.
 * A listener must not throw: an exception here is a bug and stops the node.
 */
export interface BrokerMetadataListener {
  onMetadataUpdate(update: MetadataUpdate): void;
}

export class BrokerMetadataStateMachine {
  readonly brokerId: number;
  readonly loader = new MetadataLoader();
  readonly #listeners: BrokerMetadataListener[] = [];
  /** Next offset to apply (the StateMachine contract). */
  #appliedOffset = 0;
  /** appendTimeMs of the last applied entry, for the lag in ms; -1 before any. */
  #lastAppliedAppendTimeMs = -1;
  #fromSnapshot = false;

  constructor(brokerId: number) {
    this.brokerId = brokerId;
    this.loader.addPublisher((delta, image) => {
      const update: MetadataUpdate = {
        delta,
        image,
        changes: localChanges(delta, image, this.brokerId),
        fromSnapshot: this.#fromSnapshot,
      };
      for (const listener of this.#listeners) listener.onMetadataUpdate(update);
    });
  }

  addListener(listener: BrokerMetadataListener): void {
    this.#listeners.push(listener);
  }

  get image(): MetadataImage {
    return this.loader.image;
  }

  get appliedOffset(): number {
    return this.#appliedOffset;
  }

  /** Offset of the last applied committed entry (data or control), or -1: what heartbeats report. */
  get lastAppliedOffset(): number {
    return this.#appliedOffset - 1;
  }

  get lastAppliedAppendTimeMs(): number {
    return this.#lastAppliedAppendTimeMs;
  }

  apply(entries: readonly LogEntry[]): void {
    let batch: MetadataRecord[] = [];
    let baseOffset = -1;
    const flush = () => {
      if (batch.length > 0) this.loader.handleCommit(batch, baseOffset);
      batch = [];
    };
    for (const entry of entries) {
      assert(
        entry.offset === this.#appliedOffset,
        () => `applying offset ${entry.offset} but the next to apply is ${this.#appliedOffset}`,
      );
      if (entry.kind === 'data') {
        // Records between two control entries are one delta, so the data
        // path sees a fenced broker's ISR removals and leader moves at once.
        if (batch.length === 0) baseOffset = entry.offset;
        batch.push(decodeRecord(entry.data));
      } else {
        flush();
      }
      this.#appliedOffset = entry.offset + 1;
      this.#lastAppliedAppendTimeMs = entry.appendTimeMs;
    }
    this.#fromSnapshot = false;
    flush();
  }

  snapshot(): Uint8Array {
    return this.loader.image.toBytes();
  }

  restore(snapshot: Snapshot): void {
    this.#fromSnapshot = true;
    try {
      this.loader.loadSnapshot(snapshot.data);
    } finally {
      this.#fromSnapshot = false;
    }
    this.#appliedOffset = snapshot.id.endOffset;
  }
}

const LOGGED_PARTITIONS_MAX = 50;

/** Logs this broker's local changes: what the data path will act on. */
export function loggingListener(log: {
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}): BrokerMetadataListener {
  return {
    onMetadataUpdate({ changes, image, fromSnapshot }) {
      const name = (p: { topicName: string; partition: number }) => `${p.topicName}-${p.partition}`;
      // Bounded: a fenced broker can move thousands of partitions in one delta.
      const first = <T>(list: readonly T[], f: (t: T) => string) => list.slice(0, LOGGED_PARTITIONS_MAX).map(f);
      if (changes.leaders.length + changes.followers.length + changes.deletes.length === 0) {
        return;
      }
      log.info(
        {
          metadataOffset: image.offset,
          fromSnapshot,
          lead: first(changes.leaders, (p) => `${name(p)}@${p.leaderEpoch}`),
          follow: first(changes.followers, (p) => `${name(p)}@${p.leaderEpoch}->${p.leader}`),
          delete: first(changes.deletes, name),
        },
        `local replica changes: lead ${changes.leaders.length}, follow ${changes.followers.length}, delete ${changes.deletes.length}`,
      );
    },
  };
}
