import { describe, expect, it } from 'vitest';
import { crc32c, ErrorCodes, errorNameOf, isRaftkaError, RaftkaError, SeededRandom } from '../src/index.js';

describe('crc32c', () => {
  it('matches the Castagnoli check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });
  it('accepts a Uint8Array view', () => {
    const bytes = new TextEncoder().encode('xx123456789').subarray(2);
    expect(crc32c(bytes)).toBe(0xe3069283);
  });
});

describe('SeededRandom', () => {
  it('replays the same stream from the same seed', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const xs = Array.from({ length: 100 }, () => a.int(0, 1000));
    expect(Array.from({ length: 100 }, () => b.int(0, 1000))).toEqual(xs);
    expect(new Set(xs).size).toBeGreaterThan(50);
  });
  it('stays within bounds', () => {
    const r = new SeededRandom(7);
    for (let i = 0; i < 10_000; i++) {
      const v = r.int(3, 9);
      expect(v >= 3 && v < 9).toBe(true);
    }
  });
});

describe('errors', () => {
  it("carry Kafka's codes and retriable flags", () => {
    const e = new RaftkaError('NOT_ENOUGH_REPLICAS', 'isr 1 < min.insync.replicas 2');
    expect(e.code).toBe(19);
    expect(e.retriable).toBe(true);
    expect(isRaftkaError(e)).toBe(true);
    expect(isRaftkaError(new Error('x'))).toBe(false);
    expect(errorNameOf(20)).toBe('NOT_ENOUGH_REPLICAS_AFTER_APPEND');
    expect(ErrorCodes.FENCED_LEADER_EPOCH.code).toBe(74);
  });
  it('have unique codes', () => {
    const codes = Object.values(ErrorCodes).map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
  });
});
