// Shared pieces of the multi-process data-plane tests: 3 controllers and 3
// brokers as real processes with short test timings, a @raftka/client Admin,
// producers that record what was acknowledged, and a drain that reads a
// partition back from the beginning.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Consumer, Producer, type ProducerConfig } from '@raftka/client';
import { isRaftkaError } from '@raftka/common';
import { LocalCluster, readReplicaBatches, waitFor } from '@raftka/server';

export const BROKERS = [101, 102, 103];

export const DATA_PLANE_OVERRIDES = [
  'controller.quorum.election.timeout.ms=500',
  'controller.quorum.fetch.timeout.ms=1000',
  'controller.quorum.fetch.max.wait.ms=250',
  'controller.quorum.request.timeout.ms=1000',
  'controller.quorum.election.backoff.max.ms=300',
  'broker.heartbeat.interval.ms=500',
  'broker.session.timeout.ms=3000',
  'replica.lag.time.max.ms=10000',
  // Short follower long polls: the acks=1 test pauses followers and needs their pending fetches answered first.
  'replica.fetch.wait.max.ms=100',
];

export interface DataPlaneTestCluster {
  cluster: LocalCluster;
  bootstrap: string[];
  admin: Admin;
  close(): Promise<void>;
}

export function startDataPlaneCluster(basePort: number): DataPlaneTestCluster {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftka-data-plane-test-'));
  const cluster = new LocalCluster({
    dataDir,
    basePort,
    brokers: 3,
    baseMetricsPort: basePort + 100,
    overrides: DATA_PLANE_OVERRIDES,
    logLevel: 'info',
  });
  cluster.start();
  const bootstrap = cluster.brokerEndpoints;
  const admin = new Admin({ bootstrap });
  return {
    cluster,
    bootstrap,
    admin,
    close: async () => {
      await admin.close();
      await cluster.stop();
    },
  };
}

export async function waitForRunning(t: DataPlaneTestCluster, ids = BROKERS): Promise<void> {
  await waitFor(
    `brokers ${ids.join(',')} running and unfenced`,
    async () => {
      const all = await Promise.all(ids.map((id) => t.cluster.brokerStatus(id)));
      return all.every((s) => s?.state === 'RUNNING' && !s.fenced);
    },
    { timeoutMs: 30_000 },
  );
}

export async function describePartitions(t: DataPlaneTestCluster, topic: string) {
  const [d] = await t.admin.describeTopics([topic]);
  if (d === undefined || d.error) throw new Error(`describe ${topic}: ${d?.error?.message ?? 'no answer'}`);
  return d.partitions;
}

export async function waitForFullIsr(t: DataPlaneTestCluster, topic: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `full ISR on ${topic}`,
    async () => (await describePartitions(t, topic)).every((p) => p.leader >= 0 && p.isr.length === p.replicas.length),
    { timeoutMs },
  );
}

export async function leaderOf(t: DataPlaneTestCluster, topic: string, partition: number): Promise<number> {
  const p = (await describePartitions(t, topic))[partition];
  if (p === undefined) throw new Error(`no partition ${topic}-${partition}`);
  return p.leader;
}

export interface Acked {
  value: string;
  partition: number;
  offset: number;
}

/**
 * A producer writing `v<n>` to partitions round robin until stopped, with at
 * most `inFlight` sends outstanding. Records every acknowledgement and every
 * failure (by error name).
 */
export class SteadyProducer {
  readonly acked: Acked[] = [];
  readonly failed = new Map<string, number>();
  readonly producer: Producer;
  #n = 0;
  #running = true;
  #loop: Promise<void>;

  constructor(bootstrap: string[], topic: string, partitions: number, config: ProducerConfig, inFlight = 32) {
    this.producer = new Producer({ bootstrap, config });
    const sendOne = async () => {
      const n = this.#n++;
      const partition = n % partitions;
      const value = `v${n}`;
      try {
        const md = await this.producer.send({ topic, partition, value, key: null });
        this.acked.push({ value, partition, offset: md.offset });
      } catch (err) {
        const name = isRaftkaError(err) ? err.errorName : String(err);
        this.failed.set(name, (this.failed.get(name) ?? 0) + 1);
      }
    };
    this.#loop = (async () => {
      const outstanding = new Set<Promise<void>>();
      while (this.#running) {
        const p = sendOne().finally(() => outstanding.delete(p));
        outstanding.add(p);
        if (outstanding.size >= inFlight) await Promise.race(outstanding);
      }
      await Promise.all(outstanding);
    })();
  }

  get sent(): number {
    return this.#n;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    await this.producer.close();
  }
}

/** Every record of a partition from offset 0 to its high watermark, as value per offset. */
export async function drain(bootstrap: string[], topic: string, partition: number): Promise<Map<number, string>> {
  const consumer = new Consumer({ bootstrap });
  const tp = { topic, partition };
  try {
    consumer.assign([tp]);
    await consumer.seek(tp, 'earliest');
    const end = (await consumer.endOffsets([tp])).values().next().value ?? 0;
    const out = new Map<number, string>();
    const deadline = Date.now() + 30_000;
    while (consumer.position(tp) < end) {
      if (Date.now() > deadline)
        throw new Error(`drain of ${topic}-${partition} stuck at ${consumer.position(tp)}/${end}`);
      for (const r of await consumer.poll(500)) {
        if (out.has(r.offset)) throw new Error(`offset ${r.offset} read twice`);
        out.set(r.offset, r.value?.toString() ?? '');
      }
    }
    return out;
  } finally {
    await consumer.close();
  }
}

/** The batch CRC sequence of a broker's replica, read from its segment files. */
export function replicaCrcs(t: DataPlaneTestCluster, broker: number, topic: string, partition: number): string[] {
  const node = t.cluster.nodes.get(broker);
  if (node === undefined) throw new Error(`no broker ${broker}`);
  return readReplicaBatches(join(node.dataDir, 'metadata', 'partitions', `${topic}-${partition}`)).map(
    (b) => `${b.baseOffset}-${b.lastOffset}:${b.crc}`,
  );
}
