// Producer-side cost without the network: partition (murmur2) + append +
// drain (encodeBatch, compression) + complete, for 100-byte records with
// 10-byte keys over 12 partitions, at Kafka's default batch.size. Time is
// driven by hand (linger never waits), so the figure is CPU per record.
// Prints one line per compression codec.
//
//   npx tsc -b packages/client && node packages/client/bench/accumulator.mjs [records]
import { performance } from 'node:perf_hooks';
import { partitionForKey, RecordAccumulator, validateProducerConfig } from '../dist/index.js';

const total = Number(process.argv[2] ?? 200_000);
const partitions = 12;
const value = Buffer.alloc(100, 'v');
const keys = Array.from({ length: 1000 }, (_, i) => Buffer.from(`key-${String(i).padStart(6, '0')}`));

for (const codec of ['none', 'lz4', 'snappy', 'gzip']) {
  const settings = validateProducerConfig({ 'compression.type': codec });
  const acc = new RecordAccumulator(settings, { producerIdentity: { producerId: 1, producerEpoch: 0 } });
  const now = 1_700_000_000_000;
  let batches = 0;
  let bytes = 0;
  const drain = (at) => {
    for (const d of acc.ready(at)) {
      batches++;
      bytes += d.encoded.length;
      acc.complete(d.batch, { baseOffset: 0 });
    }
  };
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const key = keys[i % keys.length];
    await acc.append({ topic: 't', partition: partitionForKey(key, partitions) }, { key, value, timestamp: now }, now);
    if (i % 1000 === 999) drain(now);
  }
  acc.flush();
  while (acc.batchCount > 0) drain(now + 5);
  const ms = performance.now() - start;
  console.log(
    `compression=${codec} records=${total} batches=${batches} ` +
      `records/s=${Math.round((total / ms) * 1000)} wire MB=${(bytes / 1e6).toFixed(1)} ms=${ms.toFixed(0)}`,
  );
}
