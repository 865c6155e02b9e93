// Binary payload of one log entry (inside the frame of framing.ts):
//
//   offset u64 | epoch u32 | kind u8 | appendTimeMs f64 | data bytes...
//
// The offset is repeated from the key so a value moved to the wrong key is
// caught on read.
import { assert } from '@raftka/common';
import type { EntryKind, LogEntry } from '@raftka/raft';
import { CorruptStateError } from './framing.js';

const ENTRY_HEADER_BYTES = 8 + 4 + 1 + 8;
const KIND_CODES: Record<EntryKind, number> = { data: 0, 'leader-change': 1, voters: 2 };
const KINDS: readonly EntryKind[] = ['data', 'leader-change', 'voters'];

export function encodeEntry(entry: LogEntry): Buffer {
  assert(Number.isSafeInteger(entry.offset) && entry.offset >= 0, 'entry offset');
  assert(Number.isInteger(entry.epoch) && entry.epoch >= 0 && entry.epoch <= 0xffffffff, 'entry epoch');
  const out = Buffer.allocUnsafe(ENTRY_HEADER_BYTES + entry.data.byteLength);
  out.writeUInt32BE(Math.floor(entry.offset / 0x1_0000_0000), 0);
  out.writeUInt32BE(entry.offset >>> 0, 4);
  out.writeUInt32BE(entry.epoch, 8);
  out.writeUInt8(KIND_CODES[entry.kind], 12);
  out.writeDoubleBE(entry.appendTimeMs, 13);
  out.set(entry.data, ENTRY_HEADER_BYTES);
  return out;
}

export function decodeEntry(keyName: string, expectedOffset: number, payload: Buffer): LogEntry {
  if (payload.byteLength < ENTRY_HEADER_BYTES) {
    throw new CorruptStateError(keyName, `holds a ${payload.byteLength}-byte entry, shorter than its header`);
  }
  const offset = payload.readUInt32BE(0) * 0x1_0000_0000 + payload.readUInt32BE(4);
  if (offset !== expectedOffset) {
    throw new CorruptStateError(keyName, `holds the entry for offset ${offset}`);
  }
  const kind = KINDS[payload.readUInt8(12)];
  if (kind === undefined) throw new CorruptStateError(keyName, `has unknown entry kind ${payload.readUInt8(12)}`);
  return {
    offset,
    epoch: payload.readUInt32BE(8),
    kind,
    appendTimeMs: payload.readDoubleBE(13),
    // A copy: the entry outlives LevelDB's buffer and goes to the core's memory.
    data: new Uint8Array(payload.subarray(ENTRY_HEADER_BYTES)),
  };
}
