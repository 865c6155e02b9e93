import { isRaftkaError } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LOG_CONFIG, FLUSH_NEVER, parseLogConfig } from '../src/index.js';

function invalidConfig(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isRaftkaError(err) && err.errorName === 'INVALID_CONFIG') return err.message;
    throw err;
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('parseLogConfig', () => {
  it("has Kafka's defaults", () => {
    expect(DEFAULT_LOG_CONFIG).toEqual({
      segmentBytes: 1073741824,
      segmentMs: 604800000,
      segmentIndexBytes: 10485760,
      indexIntervalBytes: 4096,
      retentionMs: 604800000,
      retentionBytes: -1,
      flushMessages: FLUSH_NEVER,
      flushMs: FLUSH_NEVER,
      cleanupPolicy: 'delete',
      deleteRetentionMs: 86400000,
      minCleanableDirtyRatio: 0.5,
    });
  });

  it('parses Kafka-named string and number properties', () => {
    const c = parseLogConfig({
      'segment.bytes': '1048576',
      'retention.ms': -1,
      'cleanup.policy': 'delete,compact',
      'min.cleanable.dirty.ratio': '0.1',
      'flush.messages': '9223372036854775807',
    });
    expect(c.segmentBytes).toBe(1048576);
    expect(c.retentionMs).toBe(-1);
    expect(c.cleanupPolicy).toBe('compact,delete');
    expect(c.minCleanableDirtyRatio).toBe(0.1);
    expect(c.flushMessages).toBe(FLUSH_NEVER);
  });

  it('refuses bad values and unknown keys with INVALID_CONFIG naming the key', () => {
    expect(invalidConfig(() => parseLogConfig({ 'segment.bytes': 10 }))).toMatch(/segment.bytes/);
    expect(invalidConfig(() => parseLogConfig({ 'segment.bytes': 'abc' }))).toMatch(/integer/);
    expect(invalidConfig(() => parseLogConfig({ 'retention.ms': -2 }))).toMatch(/retention.ms/);
    expect(invalidConfig(() => parseLogConfig({ 'cleanup.policy': 'forever' }))).toMatch(/cleanup.policy/);
    expect(invalidConfig(() => parseLogConfig({ 'min.cleanable.dirty.ratio': 1.5 }))).toMatch(/\[0, 1\]/);
    expect(invalidConfig(() => parseLogConfig({ 'flush.messages': 0 }))).toMatch(/flush.messages/);
    expect(invalidConfig(() => parseLogConfig({ 'segment.byte': 100 }))).toMatch(/unknown/);
  });
});
