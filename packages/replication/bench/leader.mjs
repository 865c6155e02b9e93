// Cost of the replication core on the produce path: per acks=all batch the
// leader checks the request and the idempotent producer state, records the
// append, parks the request, and takes one fetch from each of two followers
// that completes it. Prints batches per second and microseconds per batch;
// the IO of the real data path is not included.
//
//   npx tsc -b packages/replication && node packages/replication/bench/leader.mjs [batches]
import { performance } from 'node:perf_hooks';
import { LeaderPartitionState, ProducerStateManager } from '../dist/index.js';

const batches = Number(process.argv[2] ?? 500_000);
const recordsPerBatch = 10;
const all = () => true;

function once() {
  const leader = new LeaderPartitionState({
    localBrokerId: 1,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    leaderEpoch: 1,
    partitionEpoch: 1,
    minInsyncReplicas: 2,
    leaderEpochStartOffset: 0,
    highWatermark: 0,
    nowMs: 0,
  });
  const producers = new ProducerStateManager();
  let completed = 0;
  const start = performance.now();
  for (let i = 0; i < batches; i++) {
    const nowMs = i;
    const header = {
      producerId: i % 8,
      producerEpoch: 0,
      baseSequence: Math.floor(i / 8) * recordsPerBatch,
      lastOffsetDelta: recordsPerBatch - 1,
    };
    if (leader.checkProduce({ acks: -1 }) !== 'NONE') throw new Error('refused');
    if (producers.check(header).kind !== 'append') throw new Error('sequence');
    const base = leader.logEndOffset;
    producers.replay(header, base, nowMs);
    leader.onLocalAppend(base + recordsPerBatch);
    leader.addDelayedProduce({ id: i, requiredOffset: base + recordsPerBatch, deadlineMs: nowMs + 30_000 });
    completed += leader.onFollowerFetch({ replicaId: 2, fetchOffset: base + recordsPerBatch, nowMs }, all)
      .completedProduces.length;
    completed += leader.onFollowerFetch({ replicaId: 3, fetchOffset: base + recordsPerBatch, nowMs }, all)
      .completedProduces.length;
  }
  const ms = performance.now() - start;
  if (completed !== batches) throw new Error(`completed ${completed} of ${batches}`);
  return ms;
}

once(); // warm up
for (let trial = 1; trial <= 3; trial++) {
  const ms = once();
  console.log(
    `trial ${trial}: ${batches} acks=all batches in ${ms.toFixed(0)} ms: ${Math.round((batches / ms) * 1000)} batches/s, ${((ms * 1000) / batches).toFixed(2)} us/batch`,
  );
}
