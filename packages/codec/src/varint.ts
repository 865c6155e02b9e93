// Zig-zag varints, the integer encoding inside every Kafka v2 record
// (DefaultRecord: length, offsetDelta, key/value/header lengths are VARINT,
// timestampDelta is VARLONG). Zig-zag maps small negative numbers to small
// unsigned ones (0→0, -1→1, 1→2, -2→3) so that -1 ("null") costs one byte;
// the result is then written 7 bits at a time, low group first, with the top
// bit of each byte saying "more follows".
//
// VARLONG values are JavaScript numbers: Kafka's varlongs here are timestamp
// deltas in milliseconds, far inside 2^53. Decoding refuses anything outside
// the safe-integer range instead of rounding it silently.
import { RaftkaError } from '@raftka/common';

const MAX_VARLONG_BYTES = 10;

/** Bytes the zig-zag VARINT encoding of the int32 `value` takes. */
export function sizeOfVarint(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let bytes = 1;
  while (v >= 0x80) {
    v >>>= 7;
    bytes++;
  }
  return bytes;
}

/** Bytes the zig-zag VARLONG encoding of the safe integer `value` takes. */
export function sizeOfVarlong(value: number): number {
  let v = zigZagLong(value);
  let bytes = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    bytes++;
  }
  return bytes;
}

/** Writes `value` (an int32) as a zig-zag VARINT at `pos`; returns the next position. */
export function writeVarint(buf: Buffer, value: number, pos: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** Writes `value` (a safe integer) as a zig-zag VARLONG at `pos`; returns the next position. */
export function writeVarlong(buf: Buffer, value: number, pos: number): number {
  if (value >= -0x40000000 && value < 0x40000000) return writeVarint(buf, value, pos);
  let v = zigZagLong(value);
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

// Zig-zag of a 64-bit value in float arithmetic: 2v for v >= 0, -2v - 1 below.
// Exact while |v| < 2^52; callers keep timestamps (ms) far below that.
function zigZagLong(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

/**
 * A read position over a buffer. The record decoder reads many small fields in
 * a row; one cursor object keeps that free of tuple allocations.
 */
export class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  readVarint(): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= this.end) throw truncated('varint', pos, this.end);
    // Most varints in a record (lengths, deltas, -1 for null) fit one byte.
    let b = buf[pos++]!;
    if (b < 0x80) {
      this.pos = pos;
      return (b >>> 1) ^ -(b & 1);
    }
    let result = b & 0x7f;
    for (let shift = 7; shift < 28; shift += 7) {
      if (pos >= this.end) throw truncated('varint', pos, this.end);
      b = buf[pos++]!;
      result |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return (result >>> 1) ^ -(result & 1);
      }
    }
    // Fifth byte: only its low 4 bits fit in 32.
    if (pos >= this.end) throw truncated('varint', pos, this.end);
    b = buf[pos++]!;
    if (b > 0x0f) {
      throw new RaftkaError(
        'CORRUPT_MESSAGE',
        `varint at ${this.pos} exceeds 32 bits (fifth byte 0x${b.toString(16)})`,
      );
    }
    result |= b << 28;
    this.pos = pos;
    return (result >>> 1) ^ -(result & 1);
  }

  readVarlong(): number {
    const buf = this.buf;
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < MAX_VARLONG_BYTES; i++) {
      if (this.pos >= this.end) throw truncated('varlong', this.pos, this.end);
      const b = buf[this.pos++]!;
      result += (b & 0x7f) * multiplier;
      if ((b & 0x80) === 0) {
        if (result > Number.MAX_SAFE_INTEGER) {
          throw new RaftkaError(
            'CORRUPT_MESSAGE',
            `varlong at ${this.pos - i - 1} is outside the safe integer range (zig-zag value ${result})`,
          );
        }
        return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
      }
      multiplier *= 128;
    }
    throw new RaftkaError('CORRUPT_MESSAGE', `varlong at ${this.pos - MAX_VARLONG_BYTES} is longer than 10 bytes`);
  }

  readInt8(): number {
    if (this.pos >= this.end) throw truncated('int8', this.pos, this.end);
    return this.buf.readInt8(this.pos++);
  }

  /** A view (no copy) of the next `length` bytes. */
  readBytes(length: number): Buffer {
    if (length > this.end - this.pos) {
      throw new RaftkaError(
        'CORRUPT_MESSAGE',
        `field of ${length} bytes at ${this.pos} runs past the end at ${this.end} (${this.end - this.pos} bytes left)`,
      );
    }
    const view = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  skip(length: number): void {
    if (length > this.end - this.pos) {
      throw new RaftkaError(
        'CORRUPT_MESSAGE',
        `field of ${length} bytes at ${this.pos} runs past the end at ${this.end} (${this.end - this.pos} bytes left)`,
      );
    }
    this.pos += length;
  }
}

function truncated(what: string, pos: number, end: number): RaftkaError {
  return new RaftkaError('CORRUPT_MESSAGE', `${what} at ${pos} is cut off by the end of the data at ${end}`);
}
