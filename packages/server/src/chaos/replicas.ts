// The replicas' logs, read straight from the brokers' partition directories
// after the cluster has stopped: per partition and broker, the sequence of
// batches (offsets, stored CRC-32C, leader epoch). The checker compares them
// below the high watermark, which is how Kafka's own replication tests
// decide that replicas agree (the same batch-CRC sequence on every replica).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { batches } from '@raftka/codec';
import type { ReplicaBatch } from './checker.js';

/** The batches of one partition directory, in offset order (a torn tail is ignored). */
export function readReplicaBatches(partitionDir: string): ReplicaBatch[] {
  const out: ReplicaBatch[] = [];
  const segments = readdirSync(partitionDir)
    .filter((f) => /^\d{20}\.log$/.test(f))
    .sort();
  for (const file of segments) {
    const buf = readFileSync(join(partitionDir, file));
    for (const { header } of batches(buf, { allowPartialTail: true })) {
      out.push({
        baseOffset: header.baseOffset,
        lastOffset: header.baseOffset + header.lastOffsetDelta,
        crc: header.crc,
        leaderEpoch: header.partitionLeaderEpoch,
      });
    }
  }
  return out;
}

/**
 * Per partition, per broker: the replica's batches. `logDirs` maps a broker
 * id to its log.dirs; brokers without a directory for a partition hold no
 * replica of it and are left out.
 */
export function collectReplicaLogs(
  logDirs: ReadonlyMap<number, string>,
  topic: string,
  partitions: number,
): Map<number, Map<number, ReplicaBatch[]>> {
  const out = new Map<number, Map<number, ReplicaBatch[]>>();
  for (let p = 0; p < partitions; p++) {
    const byBroker = new Map<number, ReplicaBatch[]>();
    for (const [brokerId, dir] of logDirs) {
      const partitionDir = join(dir, `${topic}-${p}`);
      if (existsSync(partitionDir)) byBroker.set(brokerId, readReplicaBatches(partitionDir));
    }
    out.set(p, byBroker);
  }
  return out;
}
