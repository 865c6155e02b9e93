// Fetch answers encoded by hand with each entry's bytes cached (wire.ts):
// they must be exactly what proto-loader decodes to the same message.
import type { FetchResponse, LogEntry } from '@raftka/raft';
import { describe, expect, it } from 'vitest';
import { loadServices } from '../src/proto.js';
import {
  encodeFetchResponse,
  entryToWire,
  fetchEntryChunk,
  responseFromWire,
  responseToWire,
  type Wire,
} from '../src/wire.js';

const fetch = loadServices().Raft.service.Fetch!;
const serialize = fetch.responseSerialize as (wire: Wire) => Buffer;
const deserialize = fetch.responseDeserialize as (bytes: Buffer) => Wire;

function response(entries: LogEntry[]): FetchResponse {
  return {
    type: 'FetchResponse',
    from: 1,
    to: 101,
    errorCode: 0,
    epoch: 7,
    leaderId: 1,
    fetchOffset: entries[0]?.offset ?? 0,
    lastFetchedEpoch: 6,
    highWatermark: 2 ** 40,
    logStartOffset: 3,
    entries,
    divergingEpoch: { epoch: 5, endOffset: 9 },
  };
}

const ENTRIES: LogEntry[] = [
  { offset: 0, epoch: 0, kind: 'data', data: new Uint8Array(0), appendTimeMs: 0 },
  { offset: 1, epoch: 1, kind: 'leader-change', data: new Uint8Array(0), appendTimeMs: 1.5 },
  { offset: 127, epoch: 128, kind: 'voters', data: new Uint8Array([1, 2, 3]), appendTimeMs: 1_763_800_000_123.25 },
  {
    offset: 2 ** 53 - 1,
    epoch: 2 ** 31 - 1,
    kind: 'data',
    data: new Uint8Array(300).fill(7),
    appendTimeMs: -1,
  },
];

describe('pre-encoded fetch answers', () => {
  it('encode each entry as proto-loader does', () => {
    for (const entry of ENTRIES) {
      const expected = serialize({ entries: [entryToWire(entry)] });
      expect(Buffer.from(fetchEntryChunk(entry)).toString('hex')).toBe(expected.toString('hex'));
    }
  });

  it('decode to the same message as a proto-loader answer, entries in order', () => {
    for (const entries of [[], ENTRIES, [...ENTRIES].reverse()]) {
      const message = response(entries);
      const bytes = encodeFetchResponse(message, serialize);
      const decoded = responseFromWire('Fetch', deserialize(bytes));
      const viaProtoLoader = responseFromWire('Fetch', deserialize(serialize(responseToWire(message))));
      expect(decoded).toEqual(viaProtoLoader);
      expect((decoded as FetchResponse).entries.map((e) => e.offset)).toEqual(entries.map((e) => e.offset));
      expect((decoded as FetchResponse).highWatermark).toBe(2 ** 40);
    }
  });

  it('reuse the bytes of an entry for every answer', () => {
    const entry = ENTRIES[2]!;
    expect(fetchEntryChunk(entry)).toBe(fetchEntryChunk(entry));
  });
});
