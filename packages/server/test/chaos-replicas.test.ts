// Replica logs read back from segment files: the batches a broker wrote,
// with the offsets and CRCs the checker compares, across segments, with a
// torn tail ignored (a crash mid-append leaves one).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBatch, readBatchHeader } from '@raftka/codec';
import { describe, expect, it } from 'vitest';
import { checkReplicas } from '../src/chaos/checker.js';
import { collectReplicaLogs, readReplicaBatches } from '../src/chaos/replicas.js';

function batch(baseOffset: number, values: string[], leaderEpoch = 0): Buffer {
  return encodeBatch({
    baseOffset,
    partitionLeaderEpoch: leaderEpoch,
    records: values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: 1_700_000_000_000 })),
  });
}

const stem = (o: number) => o.toString().padStart(20, '0');

describe('replica logs from segment files', () => {
  it('reads batches across segments, ignores a torn tail, and feeds the replica check', () => {
    const root = mkdtempSync(join(tmpdir(), 'raftka-chaos-replicas-'));
    const b0 = batch(0, ['a', 'b', 'c']);
    const b1 = batch(3, ['d'], 1);
    const b2 = batch(4, ['e', 'f'], 1);
    for (const broker of [101, 102]) {
      const dir = join(root, String(broker), 'chaos-0');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${stem(0)}.log`), Buffer.concat([b0, b1]));
      // 102 crashed half-way through appending its last batch.
      const tail = broker === 102 ? Buffer.concat([b2, b2.subarray(0, 30)]) : b2;
      writeFileSync(join(dir, `${stem(4)}.log`), tail);
      writeFileSync(join(dir, `${stem(0)}.index`), Buffer.alloc(8));
    }
    const batches = readReplicaBatches(join(root, '101', 'chaos-0'));
    expect(batches.map((b) => [b.baseOffset, b.lastOffset, b.leaderEpoch])).toEqual([
      [0, 2, 0],
      [3, 3, 1],
      [4, 5, 1],
    ]);
    expect(batches[0]?.crc).toBe(readBatchHeader(b0, 0)?.crc);

    const logs = collectReplicaLogs(
      new Map([
        [101, join(root, '101')],
        [102, join(root, '102')],
        [103, join(root, '103')],
      ]),
      'chaos',
      2,
    );
    expect([...(logs.get(0)?.keys() ?? [])]).toEqual([101, 102]);
    expect(logs.get(1)?.size).toBe(0);
    expect(checkReplicas(logs, new Map([[0, 6]])).ok).toBe(true);

    // A different record at offset 3 on 102 changes that batch's CRC.
    writeFileSync(join(root, '102', 'chaos-0', `${stem(0)}.log`), Buffer.concat([b0, batch(3, ['X'], 1)]));
    const diverged = checkReplicas(
      collectReplicaLogs(
        new Map([
          [101, join(root, '101')],
          [102, join(root, '102')],
        ]),
        'chaos',
        1,
      ),
      new Map([[0, 6]]),
    );
    expect(diverged.ok).toBe(false);
    expect(diverged.examples[0]).toContain('batch 1');
  });
});
