// Key layout of one node's metadata-log database. One byte of prefix per kind
// so each kind is a contiguous key range; log entries use an 8-byte big-endian
// offset so LevelDB's bytewise order is offset order and a range iterator
// reads the log in sequence.
import { assert } from '@raftka/common';

const PREFIX_META = 0x6d; // 'm' node identity (Kafka's meta.properties)
const PREFIX_QUORUM_STATE = 0x71; // 'q' epoch, vote, leader (Kafka's quorum-state file)
const PREFIX_LOG_START = 0x73; // 's' log start offset
const PREFIX_SNAPSHOT = 0x70; // 'p' snapshot descriptor ('p' + 0xff) and chunks ('p' + u32 index)
const PREFIX_ENTRY = 0x65; // 'e' log entries

export const META_KEY = Buffer.from([PREFIX_META]);
export const QUORUM_STATE_KEY = Buffer.from([PREFIX_QUORUM_STATE]);
export const LOG_START_KEY = Buffer.from([PREFIX_LOG_START]);
export const SNAPSHOT_META_KEY = Buffer.from([PREFIX_SNAPSHOT, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function entryKey(offset: number): Buffer {
  assert(
    Number.isSafeInteger(offset) && offset >= 0,
    () => `entry offset ${offset} is not a safe non-negative integer`,
  );
  const key = Buffer.allocUnsafe(9);
  key.writeUInt8(PREFIX_ENTRY, 0);
  key.writeUInt32BE(Math.floor(offset / 0x1_0000_0000), 1);
  key.writeUInt32BE(offset >>> 0, 5);
  return key;
}

/** Exclusive upper bound of the entry key range. */
export const ENTRY_KEY_END = Buffer.from([PREFIX_ENTRY + 1]);

export function entryOffsetOf(key: Uint8Array): number {
  const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  assert(buf.byteLength === 9 && buf[0] === PREFIX_ENTRY, 'not an entry key');
  return buf.readUInt32BE(1) * 0x1_0000_0000 + buf.readUInt32BE(5);
}

export function snapshotChunkKey(index: number): Buffer {
  assert(Number.isInteger(index) && index >= 0 && index < 0xffffffff, () => `bad snapshot chunk index ${index}`);
  const key = Buffer.allocUnsafe(5);
  key.writeUInt8(PREFIX_SNAPSHOT, 0);
  key.writeUInt32BE(index, 1);
  return key;
}

/** Readable key names for error messages. */
export const KeyNames = {
  meta: 'meta',
  quorumState: 'quorum-state',
  logStart: 'log-start-offset',
  snapshotMeta: 'snapshot/descriptor',
  snapshotChunk: (index: number) => `snapshot/chunk/${index}`,
  entry: (offset: number) => `entry/${offset}`,
} as const;
