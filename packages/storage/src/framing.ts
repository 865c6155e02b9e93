// Value framing for everything Raftka keeps in LevelDB:
//
//   [formatVersion u8][crc32c u32 big-endian, over payload][payload]
//
// LevelDB checksums its own blocks, but that covers neither a bug that writes
// the wrong bytes nor a value copied between databases by hand; Kafka puts a
// magic byte and a CRC on every batch for the same reason. A value that fails
// the check raises CORRUPT_STATE naming its key, and the node refuses to start
// rather than vote or serve from a log it cannot trust.
import { crc32c, RaftkaError } from '@raftka/common';

export const FORMAT_VERSION = 1;
export const FRAME_HEADER_BYTES = 5;

/** CORRUPT_STATE with the key that failed, so an operator knows what to look at. */
export class CorruptStateError extends RaftkaError {
  readonly key: string;

  constructor(key: string, reason: string) {
    super('CORRUPT_STATE', `metadata log storage: value at key '${key}' ${reason}`);
    this.key = key;
  }
}

export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  out.writeUInt8(FORMAT_VERSION, 0);
  out.writeUInt32BE(crc32c(payload), 1);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** The payload of a framed value (a view, not a copy), or CorruptStateError. */
export function unframe(keyName: string, value: Uint8Array): Buffer {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (buf.byteLength < FRAME_HEADER_BYTES) {
    throw new CorruptStateError(
      keyName,
      `is ${buf.byteLength} bytes, shorter than the ${FRAME_HEADER_BYTES}-byte header`,
    );
  }
  const version = buf.readUInt8(0);
  if (version !== FORMAT_VERSION) {
    throw new CorruptStateError(keyName, `has unknown format version ${version} (this build reads ${FORMAT_VERSION})`);
  }
  const payload = buf.subarray(FRAME_HEADER_BYTES);
  const expected = buf.readUInt32BE(1);
  const actual = crc32c(payload);
  if (expected !== actual) {
    throw new CorruptStateError(
      keyName,
      `failed its CRC-32C check (stored 0x${expected.toString(16)}, computed 0x${actual.toString(16)})`,
    );
  }
  return payload;
}

export function frameJson(value: unknown): Buffer {
  return frame(Buffer.from(JSON.stringify(value), 'utf8'));
}

export function unframeJson(keyName: string, value: Uint8Array): unknown {
  const payload = unframe(keyName, value);
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch (cause) {
    throw new CorruptStateError(keyName, `holds a CRC-valid payload that is not JSON (${String(cause)})`);
  }
}
