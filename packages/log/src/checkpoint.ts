// Small state files (log offsets, leader-epoch cache) written so that a crash
// leaves either the old or the new content, never a torn mix: write a temp
// file, fsync it, rename it over the old one, fsync the directory. Each file is
// readable text like Kafka's checkpoints, plus a version line and a CRC-32C
// line (our STYLE rule), so a torn or bit-flipped file is detected instead of
// parsed:
//
//   <kind> <version>
//   <body lines...>
//   crc32c <8 hex digits, CRC-32C of every byte before this line>
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { crc32c, RaftkaError } from '@raftka/common';

/** fsync a directory so a rename or unlink inside it is durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `content` to `path` atomically and durably (tmp, fsync, rename, fsync
 * dir). `durable: false` skips both fsyncs: the rename is still atomic, but a
 * crash may leave the old file, or (on some file systems) an empty one, which
 * the reader then rejects by its CRC.
 */
export function writeFileAtomic(path: string, content: Buffer | string, options: { durable?: boolean } = {}): void {
  const durable = options.durable ?? true;
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    let written = 0;
    while (written < buf.length) written += writeSync(fd, buf, written, buf.length - written);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  if (durable) fsyncDir(dirname(path));
}

export function encodeCheckpoint(kind: string, version: number, lines: string[]): string {
  const body = `${kind} ${version}\n${lines.map((l) => `${l}\n`).join('')}`;
  const crc = crc32c(Buffer.from(body, 'utf8')).toString(16).padStart(8, '0');
  return `${body}crc32c ${crc}\n`;
}

function corrupt(path: string, why: string): RaftkaError {
  return new RaftkaError('CORRUPT_STATE', `checkpoint ${basename(path)} is corrupt: ${why}`);
}

/**
 * Reads a checkpoint written by encodeCheckpoint. Returns undefined when the
 * file does not exist; throws CORRUPT_STATE when the kind, version or CRC does
 * not match. Returns the body lines.
 */
export function readCheckpoint(path: string, kind: string, version: number): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const crcAt = text.lastIndexOf('crc32c ');
  if (crcAt < 0 || !text.endsWith('\n')) throw corrupt(path, 'no crc32c line');
  const body = text.slice(0, crcAt);
  const stored = text.slice(crcAt + 'crc32c '.length, -1);
  if (!/^[0-9a-f]{8}$/.test(stored)) throw corrupt(path, 'malformed crc32c line');
  const actual = crc32c(Buffer.from(body, 'utf8')).toString(16).padStart(8, '0');
  if (stored !== actual) throw corrupt(path, `crc32c ${stored} != computed ${actual}`);
  const lines = body.split('\n');
  lines.pop(); // body ends with '\n'
  const header = lines.shift();
  if (header !== `${kind} ${version}`) throw corrupt(path, `expected header "${kind} ${version}", got "${header}"`);
  return lines;
}

/** Parses "name value" lines into integers; CORRUPT_STATE on anything else. */
export function parseIntegerFields(path: string, lines: string[], names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of lines) {
    const [name, value, extra] = line.split(' ');
    if (name === undefined || value === undefined || extra !== undefined || !/^-?\d+$/.test(value)) {
      throw corrupt(path, `malformed line "${line}"`);
    }
    out[name] = Number(value);
  }
  for (const name of names) if (!(name in out)) throw corrupt(path, `missing ${name}`);
  return out;
}
