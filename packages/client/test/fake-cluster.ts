// An in-process fake of Raftka brokers for the client's tests: real gRPC
// servers (the Broker data-plane service) on loopback in front of one
// in-memory cluster state. A partition has one log shared by every fake
// broker (no replication: acks=all is answered like acks=1), a leader and a
// leader epoch; the brokers refuse produce and fetch for partitions they do
// not lead, as real ones do, so moving a leader exercises the clients'
// metadata refresh. The log stamps offsets into the producer's batches with
// @raftka/codec and dedupes idempotent batches (last 5 per producer and
// partition), like Kafka's ProducerStateManager in its simplest form.
//
// Hooks inject faults: a per-partition error for the next N produces, a
// request that is appended and then loses its answer, a delay.
import { batches, decodeBatch, isControl, readBatchHeader, stampBatch } from '@raftka/codec';
import { ErrorCodes, type ErrorName, RaftkaError } from '@raftka/common';
import type { TopicDescription } from '@raftka/metadata';
import {
  type AdminHandlers,
  adminService,
  type BrokerDataHandlers,
  brokerDataService,
  type FetchPartitionResponseWire,
  type FetchRequestWire,
  type FetchResponseWire,
  type ListOffsetsRequestWire,
  type ListOffsetsResponseWire,
  type MetadataRequestWire,
  type MetadataResponseWire,
  type ProducePartitionResponseWire,
  type ProduceRequestWire,
  type ProduceResponseWire,
  TransportServer,
} from '@raftka/transport';

export const CLUSTER_ID = 'fake-cluster';

interface StoredBatch {
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
  bytes: Buffer;
}

interface ProducerEntry {
  firstSeq: number;
  lastSeq: number;
  baseOffset: number;
}

export class FakePartition {
  leader: number;
  leaderEpoch = 0;
  readonly replicas: number[];
  readonly log: StoredBatch[] = [];
  logStartOffset = 0;
  logEndOffset = 0;
  readonly producers = new Map<number, ProducerEntry[]>();
  /** Take any first sequence of a producer without state, as Kafka's brokers do. */
  lenientFirstSequence = false;
  /** Errors answered instead of appending, oldest first. */
  readonly injectedErrors: ErrorName[] = [];

  constructor(leader: number, replicas: number[]) {
    this.leader = leader;
    this.replicas = replicas;
  }

  /** Appends (or dedupes) one produced batch; returns the base offset or an error name. */
  append(bytes: Buffer): { baseOffset: number } | { error: ErrorName } {
    const header = readBatchHeader(bytes);
    if (header === undefined) return { error: 'CORRUPT_MESSAGE' };
    const count = header.lastOffsetDelta + 1;
    if (header.producerId >= 0 && header.baseSequence >= 0 && !isControl(header.attributes)) {
      const entries = this.producers.get(header.producerId) ?? [];
      const dup = entries.find((e) => e.firstSeq === header.baseSequence);
      if (dup !== undefined) return { baseOffset: dup.baseOffset };
      const last = entries.at(-1);
      const expected = last === undefined ? 0 : last.lastSeq + 1;
      // Kafka's leniency: a producer with no state here may start at any sequence.
      const lenient = last === undefined && this.lenientFirstSequence;
      if (header.baseSequence !== expected && !lenient) return { error: 'OUT_OF_ORDER_SEQUENCE_NUMBER' };
      entries.push({
        firstSeq: header.baseSequence,
        lastSeq: header.baseSequence + count - 1,
        baseOffset: this.logEndOffset,
      });
      if (entries.length > 5) entries.shift();
      this.producers.set(header.producerId, entries);
    }
    const copy = Buffer.from(bytes);
    const baseOffset = this.logEndOffset;
    stampBatch(copy, baseOffset, this.leaderEpoch);
    this.log.push({ baseOffset, lastOffset: baseOffset + count - 1, maxTimestamp: header.maxTimestamp, bytes: copy });
    this.logEndOffset += count;
    return { baseOffset };
  }

  /** Every record of the log, decoded (for assertions). */
  records(): { offset: number; key: string | null; value: string | null }[] {
    const out: { offset: number; key: string | null; value: string | null }[] = [];
    for (const b of this.log) {
      for (const r of decodeBatch(b.bytes).records) {
        out.push({ offset: r.offset, key: r.key?.toString() ?? null, value: r.value?.toString() ?? null });
      }
    }
    return out;
  }

  /** Drops everything below `offset` (retention), so older fetches get OFFSET_OUT_OF_RANGE. */
  deleteBefore(offset: number): void {
    while (this.log.length > 0 && this.log[0]!.lastOffset < offset) this.log.shift();
    this.logStartOffset = this.log[0]?.baseOffset ?? this.logEndOffset;
  }
}

export interface FakeTopic {
  readonly name: string;
  readonly topicId: string;
  readonly partitions: FakePartition[];
}

export interface FakeHooks {
  /** Before a Produce is handled; throw to fail the whole request without appending. */
  beforeProduce?(brokerId: number, request: ProduceRequestWire): void | Promise<void>;
  /** Before a Fetch is served (await to hold it, as a broker cut off by a partition would). */
  beforeFetch?(brokerId: number): void | Promise<void>;
  /** Before a Metadata call is answered (await to hold it). */
  beforeMetadata?(brokerId: number): void | Promise<void>;
  /** After appending, before answering; throw to lose the answer (the batches stay written). */
  afterProduce?(brokerId: number, request: ProduceRequestWire, response: ProduceResponseWire): void | Promise<void>;
}

export interface FakeBroker {
  readonly id: number;
  readonly server: TransportServer;
  readonly endpoint: string;
  produceRequests: ProduceRequestWire[];
  fetchRequests: number;
}

export class FakeCluster {
  readonly brokers = new Map<number, FakeBroker>();
  readonly topics = new Map<string, FakeTopic>();
  hooks: FakeHooks = {};
  /** Brokers the metadata no longer lists, as a real cluster leaves out fenced ones. */
  readonly fenced = new Set<number>();
  readonly topicConfigs = new Map<string, Record<string, string>>();
  #nextProducerId = 1000;
  #waiters = new Set<() => void>();

  static async start(brokerIds: readonly number[]): Promise<FakeCluster> {
    const cluster = new FakeCluster();
    for (const id of brokerIds) {
      const server = await TransportServer.start({
        nodeId: id,
        clusterId: CLUSTER_ID,
        host: '127.0.0.1',
        port: 0,
        maxMessageBytes: 64 * 1024 * 1024,
        services: [brokerDataService(CLUSTER_ID, cluster.#handlers(id)), adminService(CLUSTER_ID, cluster.#admin())],
      });
      cluster.brokers.set(id, {
        id,
        server,
        endpoint: `127.0.0.1:${server.port}`,
        produceRequests: [],
        fetchRequests: 0,
      });
    }
    return cluster;
  }

  get bootstrap(): string[] {
    return [...this.brokers.values()].map((b) => b.endpoint);
  }

  createTopic(
    name: string,
    numPartitions: number,
    leaderOf: (p: number) => number = () => [...this.brokers.keys()][0]!,
  ) {
    const partitions: FakePartition[] = [];
    for (let p = 0; p < numPartitions; p++) partitions.push(new FakePartition(leaderOf(p), [...this.brokers.keys()]));
    this.topics.set(name, { name, topicId: `id-${name}`, partitions });
    return this.topics.get(name)!;
  }

  partition(topic: string, partition: number): FakePartition {
    return this.topics.get(topic)!.partitions[partition]!;
  }

  moveLeader(topic: string, partition: number, leader: number): void {
    const p = this.partition(topic, partition);
    p.leader = leader;
    p.leaderEpoch++;
  }

  async close(): Promise<void> {
    for (const w of this.#waiters) w();
    await Promise.all([...this.brokers.values()].map((b) => b.server.close(0)));
  }

  #notify(): void {
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }

  #handlers(brokerId: number): BrokerDataHandlers {
    return {
      produce: (req) => this.#produce(brokerId, req),
      fetch: (req, cancelled) => this.#fetch(brokerId, req, cancelled),
      listOffsets: async (req) => this.#listOffsets(brokerId, req),
      metadata: async (req) => {
        await this.hooks.beforeMetadata?.(brokerId);
        return this.#metadata(req);
      },
      initProducerId: async () => ({
        error_code: 0,
        error_message: '',
        producer_id: this.#nextProducerId++,
        producer_epoch: 0,
      }),
    };
  }

  /** Enough of the Admin service for the clients' tests: topics only. */
  #admin(): AdminHandlers {
    const unsupported = async (): Promise<never> => {
      throw new RaftkaError('UNSUPPORTED_VERSION', 'fake cluster: not implemented');
    };
    const describe = (name: string): TopicDescription => {
      const t = this.topics.get(name);
      if (t === undefined) {
        return {
          name,
          topicId: null,
          error: { errorName: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3, message: `no topic ${name}` },
          partitions: [],
        };
      }
      return {
        name,
        topicId: t.topicId,
        error: null,
        partitions: t.partitions.map((p, i) => ({
          partition: i,
          leader: p.leader,
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: 0,
          replicas: p.replicas,
          isr: p.replicas,
          offlineReplicas: [],
        })),
      };
    };
    return {
      createTopics: async (topics) =>
        topics.map((t) => {
          if (this.topics.has(t.name)) {
            return {
              name: t.name,
              topicId: null,
              numPartitions: -1,
              replicationFactor: -1,
              error: { errorName: 'TOPIC_ALREADY_EXISTS', code: 36, message: `Topic '${t.name}' already exists.` },
            };
          }
          const n = t.numPartitions !== undefined && t.numPartitions > 0 ? t.numPartitions : 1;
          const ids = [...this.brokers.keys()];
          const topic = this.createTopic(t.name, n, (p) => ids[p % ids.length]!);
          this.topicConfigs.set(t.name, { ...(t.configs ?? {}) });
          return { name: t.name, topicId: topic.topicId, numPartitions: n, replicationFactor: ids.length, error: null };
        }),
      deleteTopics: async (names) =>
        names.map((name) => {
          const t = this.topics.get(name);
          this.topics.delete(name);
          return {
            name,
            topicId: t?.topicId ?? null,
            error: t ? null : { errorName: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3, message: `no topic ${name}` },
          };
        }),
      createPartitions: unsupported,
      describeTopics: async (names) => (names ?? [...this.topics.keys()]).map(describe),
      listTopics: async () => [...this.topics.values()].map((t) => ({ name: t.name, topicId: t.topicId })),
      describeConfigs: unsupported,
      alterConfigs: unsupported,
      electLeaders: unsupported,
      describeCluster: unsupported,
    };
  }

  async #produce(brokerId: number, req: ProduceRequestWire): Promise<ProduceResponseWire> {
    this.brokers.get(brokerId)!.produceRequests.push(req);
    await this.hooks.beforeProduce?.(brokerId, req);
    const response: ProduceResponseWire = { topics: [], throttle_time_ms: 0 };
    for (const t of req.topics) {
      const partitions: ProducePartitionResponseWire[] = [];
      for (const pd of t.partitions) {
        const answer = (code: number, baseOffset: number): ProducePartitionResponseWire => ({
          partition: pd.partition,
          error_code: code,
          error_message: '',
          base_offset: baseOffset,
          log_append_time_ms: -1,
          log_start_offset: 0,
        });
        const p = this.topics.get(t.name)?.partitions[pd.partition];
        if (p === undefined) partitions.push(answer(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code, -1));
        else if (p.leader !== brokerId) partitions.push(answer(ErrorCodes.NOT_LEADER_OR_FOLLOWER.code, -1));
        else if (p.injectedErrors.length > 0) partitions.push(answer(ErrorCodes[p.injectedErrors.shift()!].code, -1));
        else {
          let base = -1;
          let error: ErrorName | undefined;
          for (const view of batches(pd.records)) {
            const r = p.append(view.bytes);
            if ('error' in r) {
              error = r.error;
              break;
            }
            if (base < 0) base = r.baseOffset;
          }
          partitions.push(error ? answer(ErrorCodes[error].code, -1) : answer(0, base));
        }
      }
      response.topics.push({ name: t.name, partitions });
    }
    this.#notify();
    await this.hooks.afterProduce?.(brokerId, req, response);
    if (req.acks === 0) return { topics: [], throttle_time_ms: 0 };
    return response;
  }

  async #fetch(brokerId: number, req: FetchRequestWire, cancelled: Promise<void>): Promise<FetchResponseWire> {
    this.brokers.get(brokerId)!.fetchRequests++;
    await this.hooks.beforeFetch?.(brokerId);
    const deadline = Date.now() + req.max_wait_ms;
    for (;;) {
      const res = this.#fetchOnce(brokerId, req);
      let bytes = 0;
      let errors = false;
      for (const t of res.topics) {
        for (const p of t.partitions) {
          bytes += p.records.length;
          if (p.error_code !== 0) errors = true;
        }
      }
      const remaining = deadline - Date.now();
      if (bytes >= Math.max(1, req.min_bytes) || errors || remaining <= 0) return res;
      let stop = false;
      await Promise.race([
        cancelled.then(() => {
          stop = true;
        }),
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remaining);
          this.#waiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        }),
      ]);
      if (stop) return res;
    }
  }

  #fetchOnce(brokerId: number, req: FetchRequestWire): FetchResponseWire {
    const out: FetchResponseWire = { topics: [], throttle_time_ms: 0 };
    for (const t of req.topics) {
      const partitions: FetchPartitionResponseWire[] = [];
      for (const fp of t.partitions) {
        const p = this.topics.get(t.name)?.partitions[fp.partition];
        const base = {
          partition: fp.partition,
          error_message: '',
          high_watermark: p?.logEndOffset ?? -1,
          log_start_offset: p?.logStartOffset ?? -1,
          diverging_epoch: null,
          current_leader: null,
          records: Buffer.alloc(0),
        };
        if (p === undefined) {
          partitions.push({ ...base, error_code: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code });
          continue;
        }
        const leader = { leader_id: p.leader, leader_epoch: p.leaderEpoch };
        if (p.leader !== brokerId) {
          partitions.push({ ...base, error_code: ErrorCodes.NOT_LEADER_OR_FOLLOWER.code, current_leader: leader });
          continue;
        }
        if (fp.current_leader_epoch >= 0 && fp.current_leader_epoch < p.leaderEpoch) {
          partitions.push({ ...base, error_code: ErrorCodes.FENCED_LEADER_EPOCH.code, current_leader: leader });
          continue;
        }
        if (fp.current_leader_epoch > p.leaderEpoch) {
          partitions.push({ ...base, error_code: ErrorCodes.UNKNOWN_LEADER_EPOCH.code });
          continue;
        }
        if (fp.fetch_offset < p.logStartOffset || fp.fetch_offset > p.logEndOffset) {
          partitions.push({ ...base, error_code: ErrorCodes.OFFSET_OUT_OF_RANGE.code });
          continue;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        for (const b of p.log) {
          if (b.lastOffset < fp.fetch_offset) continue;
          if (chunks.length > 0 && size + b.bytes.length > fp.partition_max_bytes) break;
          chunks.push(b.bytes);
          size += b.bytes.length;
        }
        partitions.push({ ...base, error_code: 0, records: Buffer.concat(chunks) });
      }
      out.topics.push({ topic_id: t.topic_id, name: t.name, partitions });
    }
    return out;
  }

  #listOffsets(brokerId: number, req: ListOffsetsRequestWire): ListOffsetsResponseWire {
    return {
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((lp) => {
          const p = this.topics.get(t.name)?.partitions[lp.partition];
          const answer = (error: ErrorName | null, offset = -1, timestamp = -1) => ({
            partition: lp.partition,
            error_code: error === null ? 0 : ErrorCodes[error].code,
            error_message: '',
            timestamp,
            offset,
            leader_epoch: p?.leaderEpoch ?? -1,
          });
          if (p === undefined) return answer('UNKNOWN_TOPIC_OR_PARTITION');
          if (p.leader !== brokerId) return answer('NOT_LEADER_OR_FOLLOWER');
          if (lp.timestamp === -2) return answer(null, p.logStartOffset);
          if (lp.timestamp === -1) return answer(null, p.logEndOffset);
          for (const b of p.log) {
            if (b.maxTimestamp < lp.timestamp) continue;
            const r = decodeBatch(b.bytes).records.find((x) => x.timestamp >= lp.timestamp)!;
            return answer(null, r.offset, r.timestamp);
          }
          return answer(null, -1, -1);
        }),
      })),
    };
  }

  #metadata(req: MetadataRequestWire): MetadataResponseWire {
    const names = req.topics.length > 0 ? req.topics : [...this.topics.keys()];
    return {
      cluster_id: CLUSTER_ID,
      controller_id: 1,
      brokers: [...this.brokers.values()]
        .filter((b) => !this.fenced.has(b.id))
        .map((b) => ({
          node_id: b.id,
          host: '127.0.0.1',
          port: b.server.port,
          rack: '',
        })),
      topics: names.map((name) => {
        const t = this.topics.get(name);
        if (t === undefined) {
          return { error_code: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code, name, topic_id: '', partitions: [] };
        }
        return {
          error_code: 0,
          name,
          topic_id: t.topicId,
          partitions: t.partitions.map((p, i) => ({
            error_code: 0,
            partition: i,
            leader_id: p.leader,
            leader_epoch: p.leaderEpoch,
            replicas: p.replicas,
            isr: p.replicas,
            offline_replicas: [],
          })),
        };
      }),
    };
  }
}

/** A request-level failure as a lost answer looks to the client. */
export function lostAnswer(): RaftkaError {
  return new RaftkaError('REQUEST_TIMED_OUT', 'fake: the answer was lost');
}
