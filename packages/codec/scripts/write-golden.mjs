// Writes the golden RecordBatch fixtures under testdata/ from KafkaJS 2.2.4's
// own encoders (and, for lz4 and zstd, which KafkaJS does not ship, from the
// lz4 and zstd command-line tools compressing KafkaJS's encoded records).
// Run once: `node packages/codec/scripts/write-golden.mjs`. The tests then
// check our decoder (and, where deterministic, our encoder) byte for byte
// against these files; rerunning this script must be a deliberate act.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0');
const Record = require('kafkajs/src/protocol/recordBatch/record/v0');
const Encoder = require('kafkajs/src/protocol/encoder');
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C');
const { Codecs, Types } = require('kafkajs/src/protocol/message/compression');
Codecs[Types.Snappy] = require('kafkajs-snappy');

const testdata = fileURLToPath(new URL('../testdata/', import.meta.url));
const T0 = 1700000000000;

// The records every fixture carries: a null key, a null value, an empty
// value, repeated and non-ASCII header keys, a timestamp before the base.
const messages = [
  { key: Buffer.from('key-0'), value: Buffer.from('value-0'), timestamp: T0, headers: {} },
  {
    key: null,
    value: Buffer.from('value-1 with a null key'),
    timestamp: T0 + 7,
    headers: { trace: Buffer.from('t1') },
  },
  {
    key: Buffer.from('key-2'),
    value: null,
    timestamp: T0 + 3,
    headers: { dup: [Buffer.from('a'), Buffer.from('b')], ключ: Buffer.from('значение') },
  },
  { key: Buffer.from('key-3'), value: Buffer.alloc(0), timestamp: T0 + 300000, headers: {} },
  { key: Buffer.from('key-4'), value: Buffer.from('x'.repeat(200)), timestamp: T0 + 1, headers: {} },
];

function records() {
  return messages.map((m, i) => Record({ ...m, offsetDelta: i, timestampDelta: m.timestamp - T0 }));
}

async function kafkajsBatch(options) {
  const batch = await RecordBatch({
    records: records(),
    firstTimestamp: T0,
    maxTimestamp: T0 + 300000,
    lastOffsetDelta: messages.length - 1,
    ...options,
  });
  return batch.buffer;
}

/** KafkaJS's encoding of the records alone, the blob a codec compresses. */
function recordsBlob() {
  return new Encoder().writeEncoderArray(records()).buffer;
}

function write(name, buf) {
  writeFileSync(
    `${testdata}${name}.hex`,
    `${buf
      .toString('hex')
      .replace(/(.{64})/g, '$1\n')
      .trim()}\n`,
  );
  console.log(`${name}: ${buf.length} bytes`);
}

write('kafkajs-none', await kafkajsBatch({ compression: Types.None }));
write('kafkajs-gzip', await kafkajsBatch({ compression: Types.GZIP }));
write('kafkajs-snappy-raw', await kafkajsBatch({ compression: Types.Snappy }));
write(
  'kafkajs-idempotent-transactional',
  await kafkajsBatch({
    compression: Types.None,
    producerId: require('kafkajs/src/utils/long').fromNumber(123456789012),
    producerEpoch: 7,
    firstSequence: 2147483600,
    transactional: true,
    partitionLeaderEpoch: 5,
    firstOffset: require('kafkajs/src/utils/long').fromNumber(9000000000),
  }),
);

// lz4 and zstd: the CLIs compress KafkaJS's records blob; KafkaJS's batch
// encoder with the None codec lays out the header, then we splice the blob in.
for (const [name, codec, args] of [
  ['cli-lz4-frame-checksums', 3, ['-c', '-9', '--content-size', '-BX']],
  ['cli-zstd', 4, ['-c', '-q', '-19']],
]) {
  const tool = name.includes('lz4') ? 'lz4' : 'zstd';
  const blob = execFileSync(tool, args, { input: recordsBlob() });
  const plain = await kafkajsBatch({ compression: Types.None });
  const batch = Buffer.alloc(61 + blob.length);
  plain.copy(batch, 0, 0, 61);
  blob.copy(batch, 61);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt16BE(codec, 21);
  batch.writeUInt32BE(crc32C(batch.subarray(21)) >>> 0, 17);
  write(name, batch);
}
