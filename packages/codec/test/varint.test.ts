import { crc32c, isRaftkaError } from '@raftka/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cursor, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from '../src/varint.js';
import { seedFor } from './helpers.js';

function varintHex(value: number): string {
  const buf = Buffer.alloc(5);
  const end = writeVarint(buf, value, 0);
  expect(end).toBe(sizeOfVarint(value));
  return buf.subarray(0, end).toString('hex');
}

function varlongHex(value: number): string {
  const buf = Buffer.alloc(10);
  const end = writeVarlong(buf, value, 0);
  expect(end).toBe(sizeOfVarlong(value));
  return buf.subarray(0, end).toString('hex');
}

describe('zig-zag varints', () => {
  it('match the check values from Kafka (0, -1, 1, -64, 64, 300)', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [-1, '01'],
      [1, '02'],
      [-64, '7f'],
      [64, '8001'],
      [300, 'd804'],
    ];
    for (const [value, hex] of cases) {
      expect(varintHex(value), `varint ${value}`).toBe(hex);
      expect(varlongHex(value), `varlong ${value}`).toBe(hex);
      const c = new Cursor(Buffer.from(hex, 'hex'), 0, hex.length / 2);
      expect(c.readVarint()).toBe(value);
      expect(c.remaining).toBe(0);
    }
  });

  it('encode the int32 extremes in 5 bytes and varlong extremes beyond', () => {
    expect(varintHex(2147483647)).toBe('feffffff0f');
    expect(varintHex(-2147483648)).toBe('ffffffff0f');
    // 2^40 zig-zags to 2^41: 42 bits, 6 groups of 7.
    expect(varlongHex(2 ** 40)).toBe('808080808040');
    const c = new Cursor(Buffer.from('808080808040', 'hex'), 0, 6);
    expect(c.readVarlong()).toBe(2 ** 40);
  });

  it('round-trip any int32 as varint and any safe integer as varlong', () => {
    const seed = seedFor('varint');
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (value) => {
        const buf = Buffer.alloc(5);
        const end = writeVarint(buf, value, 0);
        const c = new Cursor(buf, 0, end);
        return c.readVarint() === value && c.pos === end;
      }),
      { seed },
    );
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 51), max: 2 ** 51 }), (value) => {
        const buf = Buffer.alloc(10);
        const end = writeVarlong(buf, value, 0);
        const c = new Cursor(buf, 0, end);
        return end === sizeOfVarlong(value) && c.readVarlong() === value && c.pos === end;
      }),
      { seed },
    );
  });

  it('refuse truncated and over-long varints with CORRUPT_MESSAGE', () => {
    for (const hex of ['80', 'ffffffffff01', 'ffffffff1f']) {
      const c = new Cursor(Buffer.from(hex, 'hex'), 0, hex.length / 2);
      try {
        c.readVarint();
        expect.fail(`read ${hex}`);
      } catch (err) {
        expect(isRaftkaError(err) && err.errorName).toBe('CORRUPT_MESSAGE');
      }
    }
    const long = new Cursor(Buffer.from('ffffffffffffffffff7f', 'hex'), 0, 10);
    expect(() => long.readVarlong()).toThrow(/safe integer/);
  });
});

describe('crc32c', () => {
  it('has the Castagnoli check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });
});
