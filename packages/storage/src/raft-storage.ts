// Durable state of one Raft node (voter or observer) in LevelDB: the metadata
// log entries, the quorum state (epoch, vote, leader), the latest snapshot and
// the log start offset. The driver calls `persist(ready)` with each Ready of
// the Raft core *before* it sends that Ready's messages: a vote or a fetch
// offset is a promise about this disk.
//
// Each Ready is written as one atomic LevelDB batch, so a crash leaves either
// all of it or none of it, in the order the core specifies: quorum state,
// truncation, installed snapshot, deletion below the log start, new entries.
// `sync: ready.mustSync` makes LevelDB fsync its write-ahead log before the
// batch resolves. (On this project's VMs fsync is cached by the host, so it is
// not media durability; see docs/architecture.md.)
import { mkdir } from 'node:fs/promises';
import { assert, crc32c, RaftkaError } from '@raftka/common';
import type { LogEntry, NodeId, PersistedState, QuorumStateRecord, Ready, Snapshot } from '@raftka/raft';
import { Level } from 'level';
import { decodeEntry, encodeEntry } from './entry-codec.js';
import { CorruptStateError, frame, frameJson, unframe, unframeJson } from './framing.js';
import {
  ENTRY_KEY_END,
  entryKey,
  entryOffsetOf,
  KeyNames,
  LOG_START_KEY,
  META_KEY,
  QUORUM_STATE_KEY,
  SNAPSHOT_META_KEY,
  snapshotChunkKey,
} from './keys.js';

/** Snapshots are stored in chunks so no single LevelDB value grows past a few MiB. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/** The parts of a Ready this layer persists. */
export type PersistableReady = Pick<
  Ready,
  'quorumState' | 'truncateFrom' | 'snapshot' | 'deleteBefore' | 'entries' | 'mustSync'
>;

export interface StorageIdentity {
  clusterId: string;
  nodeId: NodeId;
}

interface SnapshotDescriptor {
  endOffset: number;
  epoch: number;
  size: number;
  chunkCount: number;
  crc: number;
}

interface IdentityRecord {
  clusterId: string;
  nodeId: number;
}

type Db = Level<Buffer, Buffer>;
type Batch = ReturnType<Db['batch']>;

export const INITIAL_QUORUM_STATE: QuorumStateRecord = Object.freeze({ epoch: 0, votedId: -1, leaderId: -1 });

export class RaftStorage {
  readonly #db: Db;
  readonly location: string;
  /** Lowest entry key that may exist (all below were deleted, or are being cleared). */
  #firstOffset = 0;
  /** The log start: entries below it are folded into the snapshot and never read. */
  #logStart = 0;
  /**
   * Background range deletion of entries below the log start. The log start
   * itself moves in the atomic batch; the keys below it are garbage from then
   * on (load() and readEntries() never look below it), so they are removed
   * after the batch, without holding up the Ready loop for a large range.
   */
  #clearing: Promise<void> = Promise.resolve();
  /** One past the highest stored entry. */
  #endOffset = 0;
  #snapshotChunkCount = 0;
  #loaded = false;
  #closed = false;
  /** persist() calls must not overlap: their in-memory bookkeeping is sequential. */
  #writing = false;

  private constructor(db: Db, location: string) {
    this.#db = db;
    this.location = location;
  }

  /**
   * Opens (creating if missing) the database in `dir`. With `identity`, the
   * first open records the cluster id and node id and later opens refuse a
   * directory that belongs to another cluster or node, as Kafka's
   * meta.properties does.
   */
  static async open(dir: string, identity?: StorageIdentity): Promise<RaftStorage> {
    await mkdir(dir, { recursive: true });
    const db: Db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open();
    } catch (cause) {
      throw new RaftkaError('KAFKA_STORAGE_ERROR', `cannot open metadata log database at ${dir}`, { cause });
    }
    const storage = new RaftStorage(db, dir);
    if (identity) {
      try {
        await storage.#checkIdentity(identity);
      } catch (err) {
        await db.close();
        throw err;
      }
    }
    return storage;
  }

  async #checkIdentity(identity: StorageIdentity): Promise<void> {
    const raw = await this.#db.get(META_KEY);
    if (raw === undefined) {
      await this.#db.put(META_KEY, frameJson(identity satisfies IdentityRecord), syncWrite(true));
      return;
    }
    const stored = unframeJson(KeyNames.meta, raw) as IdentityRecord;
    if (stored.clusterId !== identity.clusterId) {
      throw new RaftkaError(
        'INVALID_CLUSTER_ID',
        `metadata log at ${this.location} belongs to cluster '${stored.clusterId}', not '${identity.clusterId}'`,
      );
    }
    if (stored.nodeId !== identity.nodeId) {
      throw new RaftkaError(
        'INVALID_CONFIG',
        `metadata log at ${this.location} belongs to node ${stored.nodeId}, not node ${identity.nodeId}`,
      );
    }
  }

  /** Reads everything back; called once, before the first persist(). */
  async load(): Promise<PersistedState> {
    assert(!this.#closed, 'load() after close()');
    const quorumRaw = await this.#db.get(QUORUM_STATE_KEY);
    const quorumState = quorumRaw === undefined ? { ...INITIAL_QUORUM_STATE } : decodeQuorumState(quorumRaw);

    const snapshot = await this.#loadSnapshot();
    const logStartRaw = await this.#db.get(LOG_START_KEY);
    const storedLogStart = logStartRaw === undefined ? 0 : decodeOffset(KeyNames.logStart, logStartRaw);
    const logStart = Math.max(storedLogStart, snapshot?.id.endOffset ?? 0);

    // Keys below the log start may survive (deleteBefore may trail the
    // snapshot); remember the lowest so later deletions cover them.
    let lowestKey: number | undefined;
    for await (const key of this.#db.keys({ gte: entryKey(0), lt: ENTRY_KEY_END, limit: 1 })) {
      lowestKey = entryOffsetOf(key);
    }

    const entries: LogEntry[] = [];
    let expected = logStart;
    for await (const [key, value] of this.#db.iterator({ gte: entryKey(logStart), lt: ENTRY_KEY_END })) {
      const offset = entryOffsetOf(key);
      const keyName = KeyNames.entry(offset);
      if (offset !== expected) {
        throw new CorruptStateError(
          keyName,
          `follows a gap: expected offset ${expected} after the log start ${logStart}`,
        );
      }
      entries.push(decodeEntry(keyName, offset, unframe(keyName, value)));
      expected = offset + 1;
    }

    this.#firstOffset = Math.min(lowestKey ?? logStart, logStart);
    this.#logStart = logStart;
    this.#endOffset = expected;
    this.#loaded = true;
    return snapshot ? { quorumState, snapshot, entries } : { quorumState, entries };
  }

  async #loadSnapshot(): Promise<Snapshot | undefined> {
    const raw = await this.#db.get(SNAPSHOT_META_KEY);
    if (raw === undefined) return undefined;
    const descriptor = unframeJson(KeyNames.snapshotMeta, raw) as SnapshotDescriptor;
    const data = new Uint8Array(descriptor.size);
    let position = 0;
    for (let i = 0; i < descriptor.chunkCount; i++) {
      const chunkRaw = await this.#db.get(snapshotChunkKey(i));
      if (chunkRaw === undefined) throw new CorruptStateError(KeyNames.snapshotChunk(i), 'is missing');
      const chunk = unframe(KeyNames.snapshotChunk(i), chunkRaw);
      if (position + chunk.byteLength > descriptor.size) {
        throw new CorruptStateError(KeyNames.snapshotChunk(i), `overruns the snapshot size ${descriptor.size}`);
      }
      data.set(chunk, position);
      position += chunk.byteLength;
    }
    if (position !== descriptor.size) {
      throw new CorruptStateError(KeyNames.snapshotMeta, `says ${descriptor.size} bytes but chunks hold ${position}`);
    }
    if (crc32c(data) !== descriptor.crc) {
      throw new CorruptStateError(KeyNames.snapshotMeta, 'does not match the CRC-32C of the reassembled snapshot');
    }
    this.#snapshotChunkCount = descriptor.chunkCount;
    return { id: { endOffset: descriptor.endOffset, epoch: descriptor.epoch }, data };
  }

  /**
   * Makes the persist part of a Ready durable, in the core's order, as one
   * atomic batch. Resolves once LevelDB has the batch (fsynced if mustSync).
   */
  async persist(ready: PersistableReady): Promise<void> {
    assert(this.#loaded, 'persist() before load()');
    assert(!this.#closed, 'persist() after close()');
    assert(!this.#writing, 'overlapping persist() calls: the driver must serialize Readys');
    const batch = this.#db.batch();
    let first = this.#firstOffset;
    let end = this.#endOffset;
    let logStart = this.#logStart;
    let snapshotChunkCount = this.#snapshotChunkCount;
    let ops = 0;
    let clearBelow: { from: number; to: number } | undefined;

    if (ready.quorumState) {
      batch.put(QUORUM_STATE_KEY, frameJson(ready.quorumState));
      ops++;
    }
    if (ready.truncateFrom !== undefined) {
      const from = Math.max(ready.truncateFrom, first);
      for (let offset = from; offset < end; offset++, ops++) batch.del(entryKey(offset));
      end = Math.min(end, from);
    }
    if (ready.snapshot) {
      // A snapshot from the leader replaces the whole log.
      for (let offset = first; offset < end; offset++, ops++) batch.del(entryKey(offset));
      snapshotChunkCount = putSnapshot(batch, ready.snapshot, snapshotChunkCount);
      first = end = logStart = ready.snapshot.id.endOffset;
      batch.put(LOG_START_KEY, encodeOffset(first));
      ops++;
    }
    if (ready.deleteBefore !== undefined && ready.deleteBefore > first) {
      const upTo = Math.min(ready.deleteBefore, end);
      if (upTo > first) clearBelow = { from: first, to: upTo };
      first = logStart = ready.deleteBefore;
      end = Math.max(end, first);
      batch.put(LOG_START_KEY, encodeOffset(first));
      ops++;
    }
    for (const entry of ready.entries) {
      assert(entry.offset === end, () => `entry offset ${entry.offset} does not continue the log ending at ${end}`);
      batch.put(entryKey(entry.offset), frame(encodeEntry(entry)));
      end = entry.offset + 1;
      ops++;
    }

    if (ops === 0) {
      await batch.close();
      return;
    }
    this.#writing = true;
    try {
      await batch.write(syncWrite(ready.mustSync));
    } catch (cause) {
      throw new RaftkaError('KAFKA_STORAGE_ERROR', `metadata log write failed at ${this.location}`, { cause });
    } finally {
      this.#writing = false;
    }
    this.#firstOffset = first;
    this.#endOffset = end;
    this.#logStart = logStart;
    this.#snapshotChunkCount = snapshotChunkCount;
    if (clearBelow) {
      const range = { gte: entryKey(clearBelow.from), lt: entryKey(clearBelow.to) };
      // A failed clear leaves garbage below the log start, which nothing
      // reads; a failing disk shows up in the next persist() anyway.
      this.#clearing = this.#clearing.then(() => this.#db.clear(range)).catch(() => {});
    }
  }

  /**
   * Stores a snapshot this node's state machine took (the log is untouched;
   * the core deletes below it in a later Ready), synced: the core is told
   * about it only after this resolves.
   */
  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    assert(this.#loaded && !this.#closed, 'saveSnapshot() needs an open, loaded storage');
    assert(!this.#writing, 'saveSnapshot() overlaps persist()');
    const batch = this.#db.batch();
    const chunkCount = putSnapshot(batch, snapshot, this.#snapshotChunkCount);
    this.#writing = true;
    try {
      await batch.write(syncWrite(true));
    } catch (cause) {
      throw new RaftkaError('KAFKA_STORAGE_ERROR', `snapshot write failed at ${this.location}`, { cause });
    } finally {
      this.#writing = false;
    }
    this.#snapshotChunkCount = chunkCount;
  }

  /**
   * Reads stored entries in [fromOffset, endOffset), at most `maxEntries`,
   * for serving reads of the committed log (the core keeps its own copy in
   * memory for replication). Entries below the log start are gone; the read
   * starts at the first one present.
   */
  async readEntries(fromOffset: number, endOffset: number, maxEntries: number): Promise<LogEntry[]> {
    assert(this.#loaded && !this.#closed, 'readEntries() needs an open, loaded storage');
    assert(maxEntries > 0, 'maxEntries must be positive');
    const from = Math.max(fromOffset, this.#logStart);
    const end = Math.min(endOffset, this.#endOffset);
    const entries: LogEntry[] = [];
    if (from >= end) return entries;
    for await (const [key, value] of this.#db.iterator({ gte: entryKey(from), lt: entryKey(end), limit: maxEntries })) {
      const offset = entryOffsetOf(key);
      const keyName = KeyNames.entry(offset);
      entries.push(decodeEntry(keyName, offset, unframe(keyName, value)));
    }
    return entries;
  }

  /** Offsets of the stored log: [firstOffset, endOffset). */
  get offsets(): { firstOffset: number; endOffset: number } {
    return { firstOffset: this.#firstOffset, endOffset: this.#endOffset };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#clearing;
    await this.#db.close();
  }
}

/** Adds the puts (and deletes of surplus old chunks) of `snapshot` to `batch`; returns the new chunk count. */
function putSnapshot(batch: Batch, snapshot: Snapshot, previousChunkCount: number): number {
  const chunkCount = Math.ceil(snapshot.data.byteLength / SNAPSHOT_CHUNK_BYTES);
  for (let i = 0; i < chunkCount; i++) {
    const chunk = snapshot.data.subarray(i * SNAPSHOT_CHUNK_BYTES, (i + 1) * SNAPSHOT_CHUNK_BYTES);
    batch.put(snapshotChunkKey(i), frame(chunk));
  }
  for (let i = chunkCount; i < previousChunkCount; i++) batch.del(snapshotChunkKey(i));
  const descriptor: SnapshotDescriptor = {
    endOffset: snapshot.id.endOffset,
    epoch: snapshot.id.epoch,
    size: snapshot.data.byteLength,
    chunkCount,
    crc: crc32c(snapshot.data),
  };
  batch.put(SNAPSHOT_META_KEY, frameJson(descriptor));
  return chunkCount;
}

function decodeQuorumState(raw: Uint8Array): QuorumStateRecord {
  const value = unframeJson(KeyNames.quorumState, raw) as Partial<QuorumStateRecord>;
  if (!Number.isInteger(value.epoch) || !Number.isInteger(value.votedId) || !Number.isInteger(value.leaderId)) {
    throw new CorruptStateError(KeyNames.quorumState, `is not a quorum state: ${JSON.stringify(value)}`);
  }
  return { epoch: value.epoch as number, votedId: value.votedId as number, leaderId: value.leaderId as number };
}

function encodeOffset(offset: number): Buffer {
  return frameJson({ offset });
}

function decodeOffset(keyName: string, raw: Uint8Array): number {
  const value = unframeJson(keyName, raw) as { offset?: unknown };
  if (!Number.isSafeInteger(value.offset)) throw new CorruptStateError(keyName, 'is not an offset');
  return value.offset as number;
}

/**
 * `level` resolves to classic-level on Node, whose put/del/batch take `sync`;
 * abstract-level's types do not declare it, hence the widening here.
 */
function syncWrite(sync: boolean): object {
  return { sync };
}
