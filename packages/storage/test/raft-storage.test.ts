import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRaftkaError } from '@raftka/common';
import type { LogEntry, Ready } from '@raftka/raft';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptStateError, RaftStorage, SNAPSHOT_CHUNK_BYTES } from '../src/index.js';

function entry(offset: number, epoch: number, text = `record-${offset}`): LogEntry {
  return { offset, epoch, kind: 'data', data: new TextEncoder().encode(text), appendTimeMs: 1000 + offset };
}

function ready(parts: Partial<Ready>): Ready {
  return { entries: [], mustSync: true, messages: [], committed: [], ...parts };
}

function range(from: number, to: number, epoch: number): LogEntry[] {
  return Array.from({ length: to - from }, (_, i) => entry(from + i, epoch));
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raftka-storage-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function reopen(): Promise<RaftStorage> {
  return RaftStorage.open(dir, { clusterId: 'c1', nodeId: 1 });
}

describe('RaftStorage', () => {
  it('starts empty with the initial quorum state', async () => {
    const storage = await reopen();
    expect(await storage.load()).toEqual({ quorumState: { epoch: 0, votedId: -1, leaderId: -1 }, entries: [] });
    await storage.close();
  });

  it('round-trips quorum state and entries across a reopen', async () => {
    const storage = await reopen();
    await storage.load();
    await storage.persist(ready({ quorumState: { epoch: 3, votedId: 2, leaderId: -1 }, entries: range(0, 5, 3) }));
    await storage.persist(ready({ quorumState: { epoch: 3, votedId: 2, leaderId: 2 }, entries: range(5, 7, 3) }));
    await storage.close();

    const again = await reopen();
    const state = await again.load();
    expect(state.quorumState).toEqual({ epoch: 3, votedId: 2, leaderId: 2 });
    expect(state.entries).toEqual(range(0, 7, 3));
    expect(state.entries[6]?.kind).toBe('data');
    expect((await again.readEntries(2, 5, 10)).map((e) => e.offset)).toEqual([2, 3, 4]);
    expect((await again.readEntries(5, 100, 1)).map((e) => e.offset)).toEqual([5]);
    expect(await again.readEntries(7, 100, 10)).toEqual([]);
    await again.close();
  });

  it('holds the LevelDB lock while open, and a reopen finds every persisted entry', async () => {
    const storage = await reopen();
    await storage.load();
    await storage.persist(ready({ quorumState: { epoch: 1, votedId: 1, leaderId: 1 }, entries: range(0, 100, 1) }));
    // A second node pointed at the same directory must not share it.
    const raw = new Level(dir);
    await expect(raw.open()).rejects.toThrow();
    await storage.close();
    const again = await reopen();
    expect((await again.load()).entries).toHaveLength(100);
    await again.close();
  });

  it('truncates a diverged suffix and continues the log from there', async () => {
    const storage = await reopen();
    await storage.load();
    await storage.persist(ready({ entries: range(0, 10, 1) }));
    await storage.persist(
      ready({ quorumState: { epoch: 2, votedId: -1, leaderId: 3 }, truncateFrom: 6, entries: range(6, 8, 2) }),
    );
    expect(storage.offsets).toEqual({ firstOffset: 0, endOffset: 8 });
    await storage.close();

    const again = await reopen();
    const state = await again.load();
    expect(state.entries.map((e) => [e.offset, e.epoch])).toEqual([
      ...range(0, 6, 1).map((e) => [e.offset, 1]),
      [6, 2],
      [7, 2],
    ]);
    await again.close();
  });

  it('replaces the log by an installed snapshot, chunked, and replaces that snapshot later', async () => {
    const storage = await reopen();
    await storage.load();
    await storage.persist(ready({ entries: range(0, 20, 1) }));
    const big = new Uint8Array(SNAPSHOT_CHUNK_BYTES * 2 + 17).map((_, i) => i % 251);
    await storage.persist(
      ready({ snapshot: { id: { endOffset: 50, epoch: 4 }, data: big }, entries: range(50, 53, 4) }),
    );
    expect(storage.offsets).toEqual({ firstOffset: 50, endOffset: 53 });
    await storage.close();

    let again = await reopen();
    let state = await again.load();
    expect(state.snapshot?.id).toEqual({ endOffset: 50, epoch: 4 });
    expect(Buffer.from(state.snapshot?.data ?? []).equals(Buffer.from(big))).toBe(true);
    expect(state.entries.map((e) => e.offset)).toEqual([50, 51, 52]);

    // A smaller local snapshot replaces it (surplus chunks go), then the log
    // start moves up to it.
    await again.persist(ready({ entries: range(53, 60, 4) }));
    const small = new TextEncoder().encode('small snapshot');
    await again.saveSnapshot({ id: { endOffset: 57, epoch: 4 }, data: small });
    await again.persist(ready({ deleteBefore: 57, entries: [] }));
    await again.close();

    again = await reopen();
    state = await again.load();
    expect(state.snapshot).toEqual({ id: { endOffset: 57, epoch: 4 }, data: small });
    expect(state.entries.map((e) => e.offset)).toEqual([57, 58, 59]);
    expect(again.offsets).toEqual({ firstOffset: 57, endOffset: 60 });
    await again.close();
  });

  it('moves the log start atomically and clears the entries below it afterwards', async () => {
    const storage = await reopen();
    await storage.load();
    await storage.persist(ready({ entries: range(0, 500, 1) }));
    await storage.saveSnapshot({ id: { endOffset: 400, epoch: 1 }, data: new Uint8Array([4]) });
    await storage.persist(ready({ deleteBefore: 400, entries: range(500, 502, 1) }));
    expect(storage.offsets).toEqual({ firstOffset: 400, endOffset: 502 });
    // Reads never reach below the log start, cleared yet or not.
    expect((await storage.readEntries(0, 1000, 3)).map((e) => e.offset)).toEqual([400, 401, 402]);
    await storage.close(); // waits for the background clear

    const raw = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.open();
    const below: Buffer[] = [];
    for await (const key of raw.keys({
      gte: Buffer.from([0x65]),
      lt: Buffer.from([0x65, 0, 0, 0, 0, 0, 0, 1, 0x90]),
    })) {
      below.push(key);
    }
    await raw.close();
    expect(below).toEqual([]);

    const again = await reopen();
    const state = await again.load();
    expect(state.entries.map((e) => e.offset)).toEqual(range(400, 502, 1).map((e) => e.offset));
    await again.close();
  });

  it('loads only entries at or above the snapshot when deletion trails it', async () => {
    const storage = await reopen();
    await storage.load();
    await storage.persist(ready({ entries: range(0, 10, 1) }));
    await storage.saveSnapshot({ id: { endOffset: 6, epoch: 1 }, data: new Uint8Array([1, 2, 3]) });
    await storage.close();
    const again = await reopen();
    const state = await again.load();
    expect(state.entries.map((e) => e.offset)).toEqual([6, 7, 8, 9]);
    expect(again.offsets).toEqual({ firstOffset: 0, endOffset: 10 });
    await again.close();
  });

  it('raises CORRUPT_STATE naming the key when a value fails its CRC', async () => {
    const storage = await reopen();
    await storage.load();
    await storage.persist(ready({ quorumState: { epoch: 1, votedId: 1, leaderId: 1 }, entries: range(0, 3, 1) }));
    await storage.close();

    // Flip one payload byte of entry 1 behind the storage's back.
    const raw = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.open();
    const key = Buffer.from([0x65, 0, 0, 0, 0, 0, 0, 0, 1]);
    const value = await raw.get(key);
    expect(value).toBeDefined();
    const damaged = Buffer.from(value as Buffer);
    damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 0xff;
    await raw.put(key, damaged);
    await raw.close();

    const again = await reopen();
    const error = await again.load().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(CorruptStateError);
    expect(isRaftkaError(error) && error.errorName).toBe('CORRUPT_STATE');
    expect((error as CorruptStateError).key).toBe('entry/1');
    expect(String((error as Error).message)).toContain('CRC-32C');
    await again.close();
  });

  it('raises CORRUPT_STATE for an unknown format version and for a gap in the log', async () => {
    const storage = await reopen();
    await storage.load();
    await storage.persist(ready({ quorumState: { epoch: 1, votedId: -1, leaderId: -1 }, entries: range(0, 4, 1) }));
    await storage.close();

    const raw = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.open();
    const quorumKey = Buffer.from([0x71]);
    const value = Buffer.from((await raw.get(quorumKey)) as Buffer);
    value[0] = 9;
    await raw.put(quorumKey, value);
    await raw.close();
    let again = await reopen();
    await expect(again.load()).rejects.toMatchObject({ errorName: 'CORRUPT_STATE', key: 'quorum-state' });
    await again.close();

    const raw2 = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw2.open();
    await raw2.del(quorumKey);
    await raw2.del(Buffer.from([0x65, 0, 0, 0, 0, 0, 0, 0, 2]));
    await raw2.close();
    again = await reopen();
    await expect(again.load()).rejects.toMatchObject({ errorName: 'CORRUPT_STATE', key: 'entry/3' });
    await again.close();
  });

  it('refuses a directory of another cluster or node', async () => {
    const storage = await reopen();
    await storage.close();
    await expect(RaftStorage.open(dir, { clusterId: 'other', nodeId: 1 })).rejects.toMatchObject({
      errorName: 'INVALID_CLUSTER_ID',
    });
    await expect(RaftStorage.open(dir, { clusterId: 'c1', nodeId: 2 })).rejects.toMatchObject({
      errorName: 'INVALID_CONFIG',
    });
  });

  it('keeps an unsynced Ready too (the sync flag only changes durability)', async () => {
    const storage = await reopen();
    await storage.load();
    await storage.persist(ready({ entries: range(0, 3, 1), mustSync: false }));
    await storage.close();
    const again = await reopen();
    expect((await again.load()).entries).toHaveLength(3);
    await again.close();
  });
});
