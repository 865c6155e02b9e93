// Replica placement for new topics and partitions, after Kafka's
// AdminUtils.assignReplicasToBrokers. Leaders (first replicas) go round-robin
// over the brokers from a random start, so partition leadership spreads
// evenly; followers are shifted by an amount that changes every full round,
// so a broker's followers do not all sit on the same other broker.
//
// With racks, the broker list is first arranged to alternate racks
// (r1b1, r2b1, r3b1, r1b2, ...), and a follower is placed only on a rack
// that has no replica of the partition yet, until every rack has one. A broker
// without a rack counts as the rack '' (KRaft's placer does the same rather
// than refusing the topic). Only active brokers (unfenced, not shutting down)
// receive replicas; randomness is injected so tests and the simulator replay.
import { assert, type Random } from '@raftka/common';

export interface PlacementBroker {
  readonly brokerId: number;
  readonly rack: string | null;
}

export interface PlacementRequest {
  readonly brokers: readonly PlacementBroker[];
  readonly partitionCount: number;
  readonly replicationFactor: number;
  /** First partition id to place (the existing count for CreatePartitions). */
  readonly startPartitionId: number;
  /** Broker that leads partition 0, to continue an existing topic's rotation; else random. */
  readonly partitionZeroLeader?: number;
  readonly random: Random;
}

export function placeReplicas(request: PlacementRequest): number[][] {
  const { partitionCount, replicationFactor: rf } = request;
  const arranged = rackAlternated(request.brokers);
  const n = arranged.length;
  assert(rf >= 1 && rf <= n, `replication factor ${rf} with ${n} brokers`);
  assert(partitionCount >= 0 && request.startPartitionId >= 0, 'partition range');
  const rackOf = new Map(request.brokers.map((b) => [b.brokerId, b.rack ?? '']));
  const rackCount = new Set(rackOf.values()).size;
  const fixed = request.partitionZeroLeader === undefined ? -1 : arranged.indexOf(request.partitionZeroLeader);
  const startIndex = fixed >= 0 ? fixed : request.random.int(0, n);
  let shift = fixed >= 0 ? fixed : request.random.int(0, n);

  const result: number[][] = [];
  for (let p = request.startPartitionId; p < request.startPartitionId + partitionCount; p++) {
    if (p > 0 && p % n === 0) shift++;
    const first = (p + startIndex) % n;
    const replicas = [arranged[first]!];
    const racks = new Set([rackOf.get(arranged[first]!)]);
    let k = 0;
    while (replicas.length < rf) {
      assert(k < n * n, 'placement must find a broker within n^2 probes');
      const broker = arranged[followerIndex(first, shift * Math.max(rackCount, 1), k, n)]!;
      const rack = rackOf.get(broker);
      k++;
      if (replicas.includes(broker)) continue;
      if (rackCount > 1 && racks.has(rack) && racks.size < rackCount) continue;
      replicas.push(broker);
      racks.add(rack);
    }
    result.push(replicas);
  }
  return result;
}

function followerIndex(first: number, shift: number, k: number, n: number): number {
  if (n === 1) return first;
  return (first + 1 + ((shift + k) % (n - 1))) % n;
}

/** Brokers by id within each rack, taking one from each rack in turn (racks sorted by name). */
function rackAlternated(brokers: readonly PlacementBroker[]): number[] {
  const byRack = new Map<string, number[]>();
  for (const b of [...brokers].sort((x, y) => x.brokerId - y.brokerId)) {
    const rack = b.rack ?? '';
    const list = byRack.get(rack) ?? [];
    list.push(b.brokerId);
    byRack.set(rack, list);
  }
  const racks = [...byRack.keys()].sort();
  const out: number[] = [];
  for (let i = 0; out.length < brokers.length; i++) {
    for (const rack of racks) {
      const id = byRack.get(rack)![i];
      if (id !== undefined) out.push(id);
    }
  }
  return out;
}
