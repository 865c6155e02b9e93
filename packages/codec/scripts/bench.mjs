// Throughput of the codec's hot paths, printed as figures (no assertions; the
// machine is shared). Run after a build:
//   npx tsc -b packages/codec && node packages/codec/scripts/bench.mjs
import { performance } from 'node:perf_hooks';
import {
  batches,
  CompressionCodec,
  decodeBatch,
  encodeBatch,
  readBatchHeader,
  validateProducedBatch,
  verifyBatchCrc,
} from '../dist/index.js';

const T0 = 1_700_000_000_000;
const RECORDS = 100;
const VALUE_BYTES = 100;

function makeInput(compression) {
  const records = [];
  for (let i = 0; i < RECORDS; i++) {
    const value = Buffer.from(
      `{"order":${i},"sku":"item-${i % 17}","note":"${'lorem ipsum '.repeat(8)}"}`.slice(0, VALUE_BYTES),
    );
    records.push({
      key: Buffer.from(`key-${i}`),
      value,
      timestamp: T0 + i,
      headers: [{ key: 'trace', value: Buffer.from('abc') }],
    });
  }
  return { records, compression, producerId: 1000, producerEpoch: 0, baseSequence: 0 };
}

function bench(name, bytesPerOp, fn) {
  for (let i = 0; i < 2000; i++) fn(); // warm-up
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < 500) {
    for (let i = 0; i < 50; i++) fn();
    ops += 50;
    elapsed = performance.now() - start;
  }
  const perSec = (ops / elapsed) * 1000;
  console.log(
    `${name.padEnd(46)} ${perSec.toFixed(0).padStart(9)} ops/s  ${((perSec * bytesPerOp) / 1e6).toFixed(1).padStart(8)} MB/s`,
  );
}

console.log(
  `node ${process.version}; batches of ${RECORDS} records, ~${VALUE_BYTES} B values; MB/s of uncompressed batch bytes`,
);
const uncompressedBytes = encodeBatch(makeInput(CompressionCodec.none)).length;
for (const [name, codec] of Object.entries(CompressionCodec)) {
  if (codec === CompressionCodec.zstd) continue;
  const input = makeInput(codec);
  const batch = encodeBatch(input);
  bench(`encodeBatch ${name} (${batch.length} B)`, uncompressedBytes, () => encodeBatch(input));
  bench(`decodeBatch ${name}`, uncompressedBytes, () => decodeBatch(batch));
  bench(`validateProducedBatch ${name} (records walked)`, uncompressedBytes, () =>
    validateProducedBatch(batch, { maxMessageBytes: 1 << 20 }),
  );
}
const plain = encodeBatch(makeInput(CompressionCodec.none));
bench('validateProducedBatch none (header+CRC only)', plain.length, () =>
  validateProducedBatch(plain, { maxMessageBytes: 1 << 20, validateRecords: false }),
);
bench('verifyBatchCrc', plain.length, () => verifyBatchCrc(plain));
bench('readBatchHeader', plain.length, () => readBatchHeader(plain));
const segment = Buffer.concat(Array.from({ length: 1000 }, () => plain));
bench('batches() over 1000 batches (header only)', segment.length, () => {
  let n = 0;
  for (const _ of batches(segment)) n++;
  return n;
});
