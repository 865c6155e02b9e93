// Conversions between the Raft core's messages (packages/raft/src/types.ts)
// and the proto-loader objects of raftka.raft.v1 (snake_case, see proto.ts).
// Requests gain `cluster_id` on the way out; responses are matched to the
// inbound call that asked for them by the server (server.ts).
import { assert, RaftkaError } from '@raftka/common';
import type {
  BeginQuorumEpochRequest,
  BeginQuorumEpochResponse,
  EndQuorumEpochRequest,
  EndQuorumEpochResponse,
  EntryKind,
  FetchRequest,
  FetchResponse,
  FetchSnapshotRequest,
  FetchSnapshotResponse,
  LogEntry,
  RaftMessage,
  SnapshotId,
  VoteRequest,
  VoteResponse,
} from '@raftka/raft';

export type RaftRequest =
  | VoteRequest
  | BeginQuorumEpochRequest
  | EndQuorumEpochRequest
  | FetchRequest
  | FetchSnapshotRequest;
export type RaftResponse =
  | VoteResponse
  | BeginQuorumEpochResponse
  | EndQuorumEpochResponse
  | FetchResponse
  | FetchSnapshotResponse;

export type RaftMethod = 'Vote' | 'BeginQuorumEpoch' | 'EndQuorumEpoch' | 'Fetch' | 'FetchSnapshot';

export const METHOD_OF_REQUEST: Record<RaftRequest['type'], RaftMethod> = {
  VoteRequest: 'Vote',
  BeginQuorumEpochRequest: 'BeginQuorumEpoch',
  EndQuorumEpochRequest: 'EndQuorumEpoch',
  FetchRequest: 'Fetch',
  FetchSnapshotRequest: 'FetchSnapshot',
};

export const METHOD_OF_RESPONSE: Record<RaftResponse['type'], RaftMethod> = {
  VoteResponse: 'Vote',
  BeginQuorumEpochResponse: 'BeginQuorumEpoch',
  EndQuorumEpochResponse: 'EndQuorumEpoch',
  FetchResponse: 'Fetch',
  FetchSnapshotResponse: 'FetchSnapshot',
};

export function isRequest(message: RaftMessage): message is RaftRequest {
  return message.type.endsWith('Request');
}

/** A decoded wire object: field name to value, as proto-loader produces it. */
export type Wire = Record<string, unknown>;

const KIND_TO_WIRE: Record<EntryKind, string> = {
  data: 'ENTRY_KIND_DATA',
  'leader-change': 'ENTRY_KIND_LEADER_CHANGE',
  voters: 'ENTRY_KIND_VOTERS',
};
const KIND_FROM_WIRE: Record<string, EntryKind> = {
  ENTRY_KIND_DATA: 'data',
  ENTRY_KIND_LEADER_CHANGE: 'leader-change',
  ENTRY_KIND_VOTERS: 'voters',
};

function offset(value: number, what: string): number {
  assert(Number.isSafeInteger(value), () => `${what} ${value} is not a safe integer`);
  return value;
}

export function entryToWire(entry: LogEntry): Wire {
  return {
    offset: offset(entry.offset, 'entry offset'),
    epoch: entry.epoch,
    kind: KIND_TO_WIRE[entry.kind],
    data: Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength),
    append_time_ms: entry.appendTimeMs,
  };
}

export function entryFromWire(wire: Wire): LogEntry {
  const kind = KIND_FROM_WIRE[wire.kind as string];
  if (kind === undefined) throw new RaftkaError('INVALID_REQUEST', `unknown entry kind ${String(wire.kind)}`);
  return {
    offset: num(wire.offset),
    epoch: num(wire.epoch),
    kind,
    data: bytes(wire.data),
    appendTimeMs: num(wire.append_time_ms),
  };
}

function snapshotIdToWire(id: SnapshotId): Wire {
  return { end_offset: offset(id.endOffset, 'snapshot end offset'), epoch: id.epoch };
}

function snapshotIdFromWire(wire: unknown): SnapshotId | undefined {
  if (wire === null || wire === undefined) return undefined;
  const w = wire as Wire;
  return { endOffset: num(w.end_offset), epoch: num(w.epoch) };
}

/** A request of the core as the wire object of its RPC. */
export function requestToWire(message: RaftRequest, clusterId: string): Wire {
  const head = { cluster_id: clusterId, from: message.from, to: message.to };
  switch (message.type) {
    case 'VoteRequest':
      return {
        ...head,
        candidate_epoch: message.candidateEpoch,
        last_offset_epoch: message.lastOffsetEpoch,
        last_offset: offset(message.lastOffset, 'last offset'),
        pre_vote: message.preVote,
      };
    case 'BeginQuorumEpochRequest':
      return { ...head, leader_epoch: message.leaderEpoch };
    case 'EndQuorumEpochRequest':
      return { ...head, leader_epoch: message.leaderEpoch, preferred_successors: message.preferredSuccessors };
    case 'FetchRequest':
      return {
        ...head,
        current_leader_epoch: message.currentLeaderEpoch,
        fetch_offset: offset(message.fetchOffset, 'fetch offset'),
        last_fetched_epoch: message.lastFetchedEpoch,
        max_bytes: message.maxBytes,
        max_wait_ms: message.maxWaitMs,
      };
    case 'FetchSnapshotRequest':
      return {
        ...head,
        current_leader_epoch: message.currentLeaderEpoch,
        snapshot_id: snapshotIdToWire(message.snapshotId),
        position: offset(message.position, 'snapshot position'),
        max_bytes: message.maxBytes,
      };
  }
}

/** The wire object of an inbound call as the core's request message. */
export function requestFromWire(method: RaftMethod, w: Wire): RaftRequest {
  const from = num(w.from);
  const to = num(w.to);
  switch (method) {
    case 'Vote':
      return {
        type: 'VoteRequest',
        from,
        to,
        candidateEpoch: num(w.candidate_epoch),
        lastOffsetEpoch: num(w.last_offset_epoch),
        lastOffset: num(w.last_offset),
        preVote: Boolean(w.pre_vote),
      };
    case 'BeginQuorumEpoch':
      return { type: 'BeginQuorumEpochRequest', from, to, leaderEpoch: num(w.leader_epoch) };
    case 'EndQuorumEpoch':
      return {
        type: 'EndQuorumEpochRequest',
        from,
        to,
        leaderEpoch: num(w.leader_epoch),
        preferredSuccessors: ((w.preferred_successors as unknown[]) ?? []).map(num),
      };
    case 'Fetch':
      return {
        type: 'FetchRequest',
        from,
        to,
        currentLeaderEpoch: num(w.current_leader_epoch),
        fetchOffset: num(w.fetch_offset),
        lastFetchedEpoch: num(w.last_fetched_epoch),
        maxBytes: num(w.max_bytes),
        maxWaitMs: num(w.max_wait_ms),
      };
    case 'FetchSnapshot': {
      const snapshotId = snapshotIdFromWire(w.snapshot_id);
      if (!snapshotId) throw new RaftkaError('INVALID_REQUEST', 'FetchSnapshot without snapshot_id');
      return {
        type: 'FetchSnapshotRequest',
        from,
        to,
        currentLeaderEpoch: num(w.current_leader_epoch),
        snapshotId,
        position: num(w.position),
        maxBytes: num(w.max_bytes),
      };
    }
  }
}

/** A response of the core as the wire object that completes an inbound call. */
export function responseToWire(message: RaftResponse): Wire {
  const head = { from: message.from, to: message.to };
  switch (message.type) {
    case 'VoteResponse':
      return {
        ...head,
        epoch: message.epoch,
        candidate_epoch: message.candidateEpoch,
        vote_granted: message.voteGranted,
        pre_vote: message.preVote,
        leader_id: message.leaderId,
      };
    case 'BeginQuorumEpochResponse':
    case 'EndQuorumEpochResponse':
      return { ...head, epoch: message.epoch, leader_id: message.leaderId };
    case 'FetchResponse':
      return {
        ...head,
        error_code: message.errorCode,
        epoch: message.epoch,
        leader_id: message.leaderId,
        fetch_offset: offset(message.fetchOffset, 'fetch offset'),
        last_fetched_epoch: message.lastFetchedEpoch,
        high_watermark: offset(message.highWatermark, 'high watermark'),
        log_start_offset: offset(message.logStartOffset, 'log start offset'),
        entries: message.entries.map(entryToWire),
        diverging_epoch: message.divergingEpoch
          ? { epoch: message.divergingEpoch.epoch, end_offset: message.divergingEpoch.endOffset }
          : null,
        snapshot_id: message.snapshotId ? snapshotIdToWire(message.snapshotId) : null,
      };
    case 'FetchSnapshotResponse':
      return {
        ...head,
        error_code: message.errorCode,
        epoch: message.epoch,
        leader_id: message.leaderId,
        snapshot_id: snapshotIdToWire(message.snapshotId),
        position: offset(message.position, 'snapshot position'),
        size: offset(message.size, 'snapshot size'),
        chunk: Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength),
      };
  }
}

/** The wire object of a call's answer as the core's response message. */
export function responseFromWire(method: RaftMethod, w: Wire): RaftResponse {
  const from = num(w.from);
  const to = num(w.to);
  switch (method) {
    case 'Vote':
      return {
        type: 'VoteResponse',
        from,
        to,
        epoch: num(w.epoch),
        candidateEpoch: num(w.candidate_epoch),
        voteGranted: Boolean(w.vote_granted),
        preVote: Boolean(w.pre_vote),
        leaderId: num(w.leader_id),
      };
    case 'BeginQuorumEpoch':
      return { type: 'BeginQuorumEpochResponse', from, to, epoch: num(w.epoch), leaderId: num(w.leader_id) };
    case 'EndQuorumEpoch':
      return { type: 'EndQuorumEpochResponse', from, to, epoch: num(w.epoch), leaderId: num(w.leader_id) };
    case 'Fetch': {
      const response: FetchResponse = {
        type: 'FetchResponse',
        from,
        to,
        errorCode: num(w.error_code),
        epoch: num(w.epoch),
        leaderId: num(w.leader_id),
        fetchOffset: num(w.fetch_offset),
        lastFetchedEpoch: num(w.last_fetched_epoch),
        highWatermark: num(w.high_watermark),
        logStartOffset: num(w.log_start_offset),
        entries: ((w.entries as Wire[]) ?? []).map(entryFromWire),
      };
      const diverging = w.diverging_epoch as Wire | null;
      if (diverging) response.divergingEpoch = { epoch: num(diverging.epoch), endOffset: num(diverging.end_offset) };
      const snapshotId = snapshotIdFromWire(w.snapshot_id);
      if (snapshotId) response.snapshotId = snapshotId;
      return response;
    }
    case 'FetchSnapshot':
      return {
        type: 'FetchSnapshotResponse',
        from,
        to,
        errorCode: num(w.error_code),
        epoch: num(w.epoch),
        leaderId: num(w.leader_id),
        snapshotId: snapshotIdFromWire(w.snapshot_id) ?? { endOffset: 0, epoch: 0 },
        position: num(w.position),
        size: num(w.size),
        chunk: bytes(w.chunk),
      };
  }
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value ?? 0);
}

function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return new Uint8Array(0);
}

// --- Fetch answers: each entry encoded once --------------------------------------------
//
// A leader answers the same entries to every fetcher (the other voters and
// every broker), and after a broker failure that is ten thousand entries at
// once. proto-loader would rebuild and re-encode each entry for each answer;
// instead each entry's bytes, as field 9 (`entries`) of FetchResponse, are
// made once and kept with the entry object (the Raft log hands out the same
// objects to every read), and an answer is its other fields, encoded as
// usual, followed by those bytes. Protobuf readers accept fields in any order
// and concatenate repeated fields, so the bytes are the same message.

/** FetchResponse field 9 (repeated LogEntry), length-delimited. */
const FETCH_RESPONSE_ENTRIES_TAG = (9 << 3) | 2;
const LOG_ENTRY_KIND_NUMBER: Record<EntryKind, number> = { data: 0, 'leader-change': 1, voters: 2 };
const fetchEntryChunks = new WeakMap<LogEntry, Uint8Array>();

function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

function putVarint(buf: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[pos++] = value;
  return pos;
}

/**
 * The bytes of one entry inside a FetchResponse (tag, length, LogEntry
 * message), made on first use and cached per entry object. Every field is
 * written, in field order, as protobufjs writes proto-loader's objects, so
 * the bytes are the same as before.
 */
export function fetchEntryChunk(entry: LogEntry): Uint8Array {
  const cached = fetchEntryChunks.get(entry);
  if (cached !== undefined) return cached;
  const entryOffset = offset(entry.offset, 'entry offset');
  assert(entryOffset >= 0 && Number.isInteger(entry.epoch) && entry.epoch >= 0, 'entries have no negative offsets');
  const kind = LOG_ENTRY_KIND_NUMBER[entry.kind];
  assert(kind !== undefined, () => `unknown entry kind ${entry.kind}`);
  const data = entry.data;
  const size =
    1 +
    varintBytes(entryOffset) +
    1 +
    varintBytes(entry.epoch) +
    2 +
    1 +
    varintBytes(data.byteLength) +
    data.byteLength +
    9;
  const chunk = new Uint8Array(1 + varintBytes(size) + size);
  let pos = 0;
  chunk[pos++] = FETCH_RESPONSE_ENTRIES_TAG;
  pos = putVarint(chunk, pos, size);
  chunk[pos++] = (1 << 3) | 0;
  pos = putVarint(chunk, pos, entryOffset);
  chunk[pos++] = (2 << 3) | 0;
  pos = putVarint(chunk, pos, entry.epoch);
  chunk[pos++] = (3 << 3) | 0;
  chunk[pos++] = kind;
  chunk[pos++] = (4 << 3) | 2;
  pos = putVarint(chunk, pos, data.byteLength);
  chunk.set(data, pos);
  pos += data.byteLength;
  chunk[pos++] = (5 << 3) | 1;
  new DataView(chunk.buffer, chunk.byteOffset + pos, 8).setFloat64(0, entry.appendTimeMs, true);
  pos += 8;
  assert(pos === chunk.length, 'a fetch entry fills its chunk exactly');
  fetchEntryChunks.set(entry, chunk);
  return chunk;
}

/**
 * A FetchResponse as the bytes of the Fetch RPC's answer: `serialize` (the
 * RPC's own serializer) encodes every field but the entries, then come the
 * entries' cached chunks.
 */
export function encodeFetchResponse(message: FetchResponse, serialize: (wire: Wire) => Buffer): Buffer {
  const head = serialize(responseToWire({ ...message, entries: [] }));
  if (message.entries.length === 0) return head;
  const parts: Uint8Array[] = [head];
  let total = head.length;
  for (const entry of message.entries) {
    const chunk = fetchEntryChunk(entry);
    parts.push(chunk);
    total += chunk.length;
  }
  return Buffer.concat(parts, total);
}
