// A Raft node's simulated disk: the quorum-state record, one snapshot and the
// log since that snapshot. Writes land in the page cache first: the driver
// applies them to the *written* image at once (what the process reads back),
// and queues them as unsynced operations. `sync()` makes every queued
// operation durable; `crash()` throws an unsynced suffix away. By default that
// is every unsynced write, so a restart sees only what was fsynced; a crash
// may instead keep a prefix of the unsynced batches (the OS wrote some pages
// back on its own), since storage writes each Ready as one atomic batch and
// batches reach the disk in order. A snapshot that
// the state machine writes is durable at once (written to a temp file,
// fsynced and renamed), and `wipe()` models losing the whole disk.

import { assert } from '@raftka/common';
import type { LogEntry, PersistedState, QuorumStateRecord, Snapshot } from '@raftka/raft';

export interface DiskImage {
  quorumState: QuorumStateRecord;
  snapshot: Snapshot | undefined;
  /** Dense log entries, from the snapshot's end offset (or 0) or later. */
  entries: LogEntry[];
}

type DiskOp =
  | { kind: 'quorumState'; quorumState: QuorumStateRecord }
  | { kind: 'truncate'; fromOffset: number }
  | { kind: 'snapshot'; snapshot: Snapshot }
  | { kind: 'deleteBefore'; offset: number }
  | { kind: 'append'; entries: LogEntry[] };

const EMPTY_QUORUM_STATE: QuorumStateRecord = { epoch: 0, votedId: -1, leaderId: -1 };

/** Offset after the last entry of an image (its log end offset). */
export function imageEndOffset(image: DiskImage): number {
  const last = image.entries[image.entries.length - 1];
  if (last !== undefined) return last.offset + 1;
  return image.snapshot?.id.endOffset ?? 0;
}

export function imageStartOffset(image: DiskImage): number {
  return image.entries[0]?.offset ?? image.snapshot?.id.endOffset ?? 0;
}

/** The entry at `offset` in an image, if the image still holds it. */
export function imageEntryAt(image: DiskImage, offset: number): LogEntry | undefined {
  const first = image.entries[0];
  if (first === undefined) return undefined;
  return image.entries[offset - first.offset];
}

function emptyImage(): DiskImage {
  return { quorumState: { ...EMPTY_QUORUM_STATE }, snapshot: undefined, entries: [] };
}

function cloneImage(image: DiskImage): DiskImage {
  return { quorumState: { ...image.quorumState }, snapshot: image.snapshot, entries: image.entries.slice() };
}

/**
 * Applies one operation to an image. Returns a description of a contract
 * breach (entries that do not continue the log) so the caller can report it
 * as a bug in whoever produced the Ready, or undefined.
 */
function applyOp(image: DiskImage, op: DiskOp): string | undefined {
  switch (op.kind) {
    case 'quorumState':
      image.quorumState = { ...op.quorumState };
      return undefined;
    case 'truncate': {
      const first = image.entries[0]?.offset ?? imageEndOffset(image);
      if (op.fromOffset < first) return `truncateFrom ${op.fromOffset} is below the log start ${first}`;
      image.entries.length = Math.min(image.entries.length, op.fromOffset - first);
      return undefined;
    }
    case 'snapshot':
      image.snapshot = op.snapshot;
      image.entries = [];
      return undefined;
    case 'deleteBefore': {
      const first = image.entries[0]?.offset;
      if (first !== undefined && op.offset > first) image.entries.splice(0, op.offset - first);
      return undefined;
    }
    case 'append': {
      let next = imageEndOffset(image);
      for (const entry of op.entries) {
        if (entry.offset !== next) return `appended entry offset ${entry.offset} does not continue the log at ${next}`;
        image.entries.push(entry);
        next++;
      }
      return undefined;
    }
  }
}

export class SimDisk {
  #durable: DiskImage = emptyImage();
  #written: DiskImage = emptyImage();
  #unsynced: DiskOp[] = [];
  /** Index into #unsynced where each unsynced batch (one Ready) starts. */
  #batchStarts: number[] = [];
  syncs = 0;
  /** Unsynced operations a crash threw away, over the whole run. */
  lostOps = 0;

  /** What the running process sees (durable plus the page cache). */
  get written(): Readonly<DiskImage> {
    return this.#written;
  }

  /** What survives a crash. */
  get durable(): Readonly<DiskImage> {
    return this.#durable;
  }

  get unsyncedOps(): number {
    return this.#unsynced.length;
  }

  /** Starts a new atomic batch: a crash keeps all of a batch's operations or none. */
  beginBatch(): void {
    this.#batchStarts.push(this.#unsynced.length);
  }

  write(op: DiskOp): string | undefined {
    const problem = applyOp(this.#written, op);
    if (problem === undefined) this.#unsynced.push(op);
    return problem;
  }

  writeQuorumState(quorumState: QuorumStateRecord): void {
    this.write({ kind: 'quorumState', quorumState });
  }

  sync(): void {
    for (const op of this.#unsynced) {
      const problem = applyOp(this.#durable, op);
      assert(
        problem === undefined,
        () => `an operation valid on the written image failed on the durable one: ${problem}`,
      );
    }
    this.#unsynced = [];
    this.#batchStarts = [];
    this.syncs++;
  }

  /**
   * The state machine's own snapshot file: durable at once. The log before it
   * is deleted later, when the core says so (Ready.deleteBefore).
   */
  saveSnapshot(snapshot: Snapshot): void {
    for (const image of [this.#durable, this.#written]) {
      const current = image.snapshot?.id.endOffset ?? -1;
      if (snapshot.id.endOffset > current) image.snapshot = snapshot;
    }
  }

  /**
   * Power cut. Everything not synced is gone, except the first
   * `keptBatches` unsynced batches, which the OS happened to write back.
   */
  crash(keptBatches = 0): void {
    const keptOps = keptBatches <= 0 ? 0 : (this.#batchStarts[keptBatches] ?? this.#unsynced.length);
    for (const op of this.#unsynced.slice(0, keptOps)) applyOp(this.#durable, op);
    this.lostOps += this.#unsynced.length - keptOps;
    this.#unsynced = [];
    this.#batchStarts = [];
    this.#written = cloneImage(this.#durable);
  }

  get unsyncedBatches(): number {
    return this.#batchStarts.length;
  }

  /** The whole disk is lost (a replaced machine). */
  wipe(): void {
    this.#unsynced = [];
    this.#batchStarts = [];
    this.#durable = emptyImage();
    this.#written = emptyImage();
  }

  /**
   * What a restarting node recovers. Entries the snapshot already covers are
   * skipped; a gap between the snapshot and the log is a storage bug.
   */
  load(): PersistedState {
    assert(this.#unsynced.length === 0, 'load() is only called on a restarted (crashed) disk');
    const image = this.#durable;
    const snapshotEnd = image.snapshot?.id.endOffset ?? 0;
    const entries = image.entries.filter((e) => e.offset >= snapshotEnd);
    const first = entries[0];
    assert(
      first === undefined || first.offset === snapshotEnd,
      () => `gap on disk: snapshot ends at ${snapshotEnd}, log resumes at ${first?.offset}`,
    );
    const persisted: PersistedState = { quorumState: { ...image.quorumState }, entries };
    if (image.snapshot !== undefined) persisted.snapshot = image.snapshot;
    return persisted;
  }
}
