// Three (or more) ReplicaManagers in one process, each behind its own gRPC
// Broker service on a free port, with real partition logs in a temp
// directory, driven by a model controller: the test writes metadata records
// (topics, leader moves, fences) and every live broker gets the same image,
// as the Raft observer would deliver it. AlterPartition goes to the model
// controller, which checks the leader and partition epochs as the real one
// does and commits the ISR as a PartitionChange record.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBatch } from '@raftka/codec';
import { RaftkaError } from '@raftka/common';
import {
  localChanges,
  MetadataDelta,
  MetadataImage,
  type MetadataRecord,
  type PartitionRegistration,
} from '@raftka/metadata';
import { Metrics, silentLogger } from '@raftka/observability';
import {
  BrokerDataClient,
  brokerDataService,
  type FetchPartitionResponseWire,
  type ProducePartitionResponseWire,
  TransportServer,
} from '@raftka/transport';
import { DataPlaneMetrics } from '../src/data-metrics.js';
import { ReplicaManager, type ReplicaManagerConfig } from '../src/replica-manager.js';

export const CLUSTER = 'dp-test';

interface Node {
  id: number;
  port: number;
  rm: ReplicaManager | undefined;
  server: TransportServer | undefined;
  dir: string;
  epoch: number;
}

export class DataPlaneCluster {
  image = MetadataImage.EMPTY;
  #offset = 0;
  readonly nodes = new Map<number, Node>();
  readonly root = mkdtempSync(join(tmpdir(), 'raftka-dp-'));
  readonly client = new BrokerDataClient({ clusterId: CLUSTER });
  #nextProducerId = 1000;
  readonly overrides: Partial<ReplicaManagerConfig>;

  constructor(overrides: Partial<ReplicaManagerConfig> = {}) {
    this.overrides = overrides;
  }

  async start(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      this.nodes.set(id, { id, port: 0, rm: undefined, server: undefined, dir: join(this.root, `b${id}`), epoch: -1 });
      await this.startBroker(id);
    }
  }

  async startBroker(id: number): Promise<void> {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no broker ${id}`);
    const rm = new ReplicaManager({
      brokerId: id,
      clusterId: CLUSTER,
      logDir: node.dir,
      replicaLagTimeMaxMs: 1000,
      replicaFetchWaitMaxMs: 200,
      replicaFetchMinBytes: 1,
      replicaFetchMaxBytes: 1024 * 1024,
      replicaFetchResponseMaxBytes: 4 * 1024 * 1024,
      replicaFetchBackoffMs: 20,
      requestTimeoutMs: 2000,
      highWatermarkCheckpointIntervalMs: 500,
      retentionCheckIntervalMs: 60_000,
      producerIdExpirationMs: 86_400_000,
      producerIdExpirationCheckIntervalMs: 600_000,
      logger: silentLogger(),
      metrics: new DataPlaneMetrics(new Metrics()),
      controller: {
        alterPartition: async (r) => this.alterPartition(id, r),
        allocateProducerIds: async () => {
          const start = this.#nextProducerId;
          this.#nextProducerId += 100;
          return { producerIdStart: start, producerIdLen: 100 };
        },
        activeControllerId: () => 1,
        brokerEpoch: () => node.epoch,
      },
      ...this.overrides,
    });
    const server = await TransportServer.start({
      nodeId: id,
      clusterId: CLUSTER,
      host: '127.0.0.1',
      port: node.port,
      maxMessageBytes: 64 * 1024 * 1024,
      services: [
        brokerDataService(CLUSTER, {
          produce: (r) => rm.produce(r),
          fetch: (r, c) => rm.fetch(r, c),
          listOffsets: (r) => rm.listOffsets(r),
          metadata: (r) => rm.metadata(r),
          initProducerId: () => rm.initProducerId(),
        }),
      ],
    });
    node.port = server.port;
    node.rm = rm;
    node.server = server;
    node.epoch = this.#offset;
    this.commit([
      {
        type: 'RegisterBroker',
        brokerId: id,
        incarnationId: `${id}-${this.#offset}`,
        rack: null,
        listeners: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: server.port }],
      },
    ]);
    this.commit([{ type: 'BrokerRegistrationChange', brokerId: id, brokerEpoch: node.epoch, change: 'unfence' }]);
    // Caught up: act on the whole image, as the broker does when it leaves STARTING.
    rm.start();
    await rm.whenLogsOpen();
  }

  /** Stops a broker as a crash would look to the others (its logs are closed cleanly). */
  async stopBroker(id: number): Promise<void> {
    const node = this.nodes.get(id);
    if (node?.rm === undefined) return;
    await node.server?.close(10);
    await node.rm.close();
    node.rm = undefined;
    node.server = undefined;
  }

  rm(id: number): ReplicaManager {
    const rm = this.nodes.get(id)?.rm;
    if (rm === undefined) throw new Error(`broker ${id} is not running`);
    return rm;
  }

  endpoint(id: number): string {
    return `127.0.0.1:${this.nodes.get(id)?.port}`;
  }

  /** Brokers whose metadata is held back (a slow observer), with the updates they have not seen. */
  readonly #held = new Map<number, { delta: MetadataDelta; image: MetadataImage }[]>();

  /** Replays records into the image and publishes it to every running broker not held back. */
  commit(records: readonly MetadataRecord[]): void {
    const delta = new MetadataDelta(this.image);
    for (const r of records) delta.replay(r, this.#offset++);
    this.image = delta.apply();
    for (const node of this.nodes.values()) {
      const held = this.#held.get(node.id);
      if (held !== undefined) held.push({ delta, image: this.image });
      else this.#publish(node, delta, this.image);
    }
  }

  /** From now on `id` sees no metadata until release(id): it lags behind the others. */
  hold(id: number): void {
    this.#held.set(id, []);
  }

  /** Delivers what a held broker missed, in order, as its observer would on catching up. */
  release(id: number): void {
    const held = this.#held.get(id) ?? [];
    this.#held.delete(id);
    const node = this.nodes.get(id);
    if (node === undefined) return;
    for (const { delta, image } of held) this.#publish(node, delta, image);
  }

  #publish(node: Node, delta: MetadataDelta, image: MetadataImage): void {
    node.rm?.onMetadataUpdate({ delta, image, changes: localChanges(delta, image, node.id), fromSnapshot: false });
  }

  async createTopic(
    name: string,
    assignments: readonly (readonly number[])[],
    configs: Record<string, string> = {},
  ): Promise<string> {
    const topicId = `id-${name}`;
    this.commit([
      { type: 'Topic', name, topicId },
      ...Object.entries(configs).map(
        ([k, v]): MetadataRecord => ({ type: 'Config', resourceType: 'topic', resourceName: name, name: k, value: v }),
      ),
      ...assignments.map(
        (replicas, partition): MetadataRecord => ({
          type: 'Partition',
          topicId,
          partition,
          replicas,
          isr: replicas,
          leader: replicas[0] as number,
          leaderEpoch: 0,
          partitionEpoch: 0,
        }),
      ),
    ]);
    for (const node of this.nodes.values()) await node.rm?.whenLogsOpen();
    return topicId;
  }

  partition(topic: string, partition: number): PartitionRegistration {
    const id = this.image.topicIdsByName.get(topic) as string;
    return this.image.partition(id, partition) as PartitionRegistration;
  }

  /** The controller's move: new leader (and optionally ISR). */
  moveLeader(topic: string, partition: number, leader: number, isr?: readonly number[]): void {
    const topicId = this.image.topicIdsByName.get(topic) as string;
    this.commit([{ type: 'PartitionChange', topicId, partition, leader, isr: isr ?? null, replicas: null }]);
  }

  alterPartition(
    _brokerId: number,
    r: { topicId: string; partition: number; leaderEpoch: number; partitionEpoch: number; newIsr: readonly number[] },
  ) {
    const p = this.image.partition(r.topicId, r.partition);
    if (p === undefined) throw new RaftkaError('UNKNOWN_TOPIC_OR_PARTITION', 'no such partition');
    if (r.leaderEpoch !== p.leaderEpoch) throw new RaftkaError('FENCED_LEADER_EPOCH', 'stale leader epoch');
    if (r.partitionEpoch !== p.partitionEpoch) throw new RaftkaError('INVALID_UPDATE_VERSION', 'stale partition epoch');
    this.commit([
      {
        type: 'PartitionChange',
        topicId: r.topicId,
        partition: r.partition,
        leader: null,
        isr: r.newIsr,
        replicas: null,
      },
    ]);
    const after = this.image.partition(r.topicId, r.partition) as PartitionRegistration;
    return {
      topicId: r.topicId,
      partition: r.partition,
      leader: after.leader,
      leaderEpoch: after.leaderEpoch,
      partitionEpoch: after.partitionEpoch,
      isr: after.isr,
    };
  }

  async produce(
    topic: string,
    partition: number,
    values: readonly string[],
    options: {
      acks?: number;
      to?: number;
      producer?: { id: number; epoch: number; seq: number };
      timeoutMs?: number;
    } = {},
  ): Promise<ProducePartitionResponseWire> {
    const leader = options.to ?? this.partition(topic, partition).leader;
    const records = encodeBatch({
      records: values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: Date.now() })),
      ...(options.producer
        ? {
            producerId: options.producer.id,
            producerEpoch: options.producer.epoch,
            baseSequence: options.producer.seq,
          }
        : {}),
    });
    const res = await this.client.produce(
      this.endpoint(leader),
      {
        acks: options.acks ?? -1,
        timeout_ms: options.timeoutMs ?? 5000,
        topics: [{ name: topic, partitions: [{ partition, records }] }],
      },
      Date.now() + 10_000,
    );
    return res.topics[0]?.partitions[0] as ProducePartitionResponseWire;
  }

  async fetch(
    topic: string,
    partition: number,
    offset: number,
    options: { from?: number; epoch?: number; maxWaitMs?: number } = {},
  ): Promise<FetchPartitionResponseWire> {
    const from = options.from ?? this.partition(topic, partition).leader;
    const res = await this.client.fetch(
      this.endpoint(from),
      {
        replica_id: -1,
        replica_epoch: -1,
        max_wait_ms: options.maxWaitMs ?? 0,
        min_bytes: 1,
        max_bytes: 8 * 1024 * 1024,
        topics: [
          {
            topic_id: '',
            name: topic,
            partitions: [
              {
                partition,
                current_leader_epoch: options.epoch ?? -1,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                partition_max_bytes: 8 * 1024 * 1024,
              },
            ],
          },
        ],
      },
      Date.now() + 10_000,
    );
    return res.topics[0]?.partitions[0] as FetchPartitionResponseWire;
  }

  async close(): Promise<void> {
    for (const id of this.nodes.keys()) await this.stopBroker(id);
    this.client.close();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Waits until `check` holds, polling; throws with `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
