// Producer configuration: Kafka 4.0's defaults, Kafka's key names and value
// spellings, and INVALID_CONFIG errors that name the key.
import { CompressionCodec } from '@raftka/codec';
import { isRaftkaError } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { type ProducerConfig, validateProducerConfig } from '../src/index.js';

function configError(config: ProducerConfig): Error {
  try {
    validateProducerConfig(config);
  } catch (error) {
    expect(isRaftkaError(error) && error.errorName).toBe('INVALID_CONFIG');
    return error as Error;
  }
  throw new Error(`expected INVALID_CONFIG for ${JSON.stringify(config)}`);
}

describe('validateProducerConfig', () => {
  it("has Kafka 4.0's defaults", () => {
    expect(validateProducerConfig()).toEqual({
      bootstrapServers: [],
      clientId: '',
      acks: -1,
      enableIdempotence: true,
      compression: CompressionCodec.none,
      lingerMs: 5,
      batchSizeBytes: 16_384,
      bufferMemoryBytes: 33_554_432,
      maxBlockMs: 60_000,
      maxRequestSizeBytes: 1_048_576,
      maxInFlightRequestsPerConnection: 5,
      deliveryTimeoutMs: 120_000,
      requestTimeoutMs: 30_000,
      retries: 2_147_483_647,
      retryBackoffMs: 100,
      partitionerIgnoreKeys: false,
      metadataMaxAgeMs: 300_000,
    });
  });

  it('reads acks as all/-1/0/1, numbers from strings and bootstrap.servers as a list', () => {
    expect(validateProducerConfig({ acks: 'all' }).acks).toBe(-1);
    expect(validateProducerConfig({ acks: -1 }).acks).toBe(-1);
    expect(validateProducerConfig({ acks: '1', 'enable.idempotence': false }).acks).toBe(1);
    expect(validateProducerConfig({ acks: 0, 'enable.idempotence': false }).acks).toBe(0);
    const s = validateProducerConfig({ 'linger.ms': '20', 'bootstrap.servers': 'a:9092, b:9092', 'client.id': 'app' });
    expect(s.lingerMs).toBe(20);
    expect(s.bootstrapServers).toEqual(['a:9092', 'b:9092']);
    expect(s.clientId).toBe('app');
  });

  it.each([
    ['gzip', CompressionCodec.gzip],
    ['snappy', CompressionCodec.snappy],
    ['lz4', CompressionCodec.lz4],
    ['none', CompressionCodec.none],
  ])('accepts compression.type=%s', (name, codec) => {
    expect(validateProducerConfig({ 'compression.type': name }).compression).toBe(codec);
  });

  it('names the key in errors', () => {
    expect(configError({ acks: '2' }).message).toContain('acks');
    expect(configError({ 'linger.ms': -1 }).message).toContain('linger.ms');
    expect(configError({ 'batch.size': 'big' }).message).toContain('batch.size');
    expect(configError({ 'buffer.memory': 1.5 }).message).toContain('buffer.memory');
    expect(configError({ 'compression.type': 'brotli' }).message).toContain('compression.type');
    expect(configError({ 'compression.type': 'zstd' }).message).toMatch(/compression\.type.*zstd/);
    expect(configError({ 'enable.idempotence': 'yes' }).message).toContain('enable.idempotence');
    expect(configError({ 'max.in.flight.requests.per.connection': 0 }).message).toContain(
      'max.in.flight.requests.per.connection',
    );
    expect(configError({ 'linger.ms ': 5 }).message).toContain('Unknown producer configuration linger.ms ');
  });

  it('rejects explicit idempotence with acks other than all, more than 5 in flight, or retries=0', () => {
    expect(configError({ 'enable.idempotence': true, acks: 1 }).message).toContain('acks');
    expect(configError({ 'enable.idempotence': 'true', 'max.in.flight.requests.per.connection': 6 }).message).toContain(
      'max.in.flight.requests.per.connection',
    );
    expect(configError({ 'enable.idempotence': true, retries: 0 }).message).toContain('retries');
  });

  it('turns default idempotence off when conflicting keys are set, as Java >= 3.2 does', () => {
    expect(validateProducerConfig({ acks: 1 }).enableIdempotence).toBe(false);
    expect(validateProducerConfig({ 'max.in.flight.requests.per.connection': 10 }).enableIdempotence).toBe(false);
    expect(validateProducerConfig({ retries: 0 }).enableIdempotence).toBe(false);
    expect(validateProducerConfig({ acks: 'all' }).enableIdempotence).toBe(true);
  });

  it('requires delivery.timeout.ms >= linger.ms + request.timeout.ms when set, and raises the default otherwise', () => {
    expect(configError({ 'delivery.timeout.ms': 1000 }).message).toContain('delivery.timeout.ms');
    expect(validateProducerConfig({ 'request.timeout.ms': 200_000 }).deliveryTimeoutMs).toBe(200_005);
    expect(validateProducerConfig({ 'delivery.timeout.ms': 30_005 }).deliveryTimeoutMs).toBe(30_005);
  });
});
