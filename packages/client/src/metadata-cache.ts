// What a client knows of the cluster: brokers (id -> host:port) and, for the
// topics it uses, each partition's leader and leader epoch, from Metadata
// answers of any broker. Producer and consumer read it on every send or
// fetch; they ask for a refresh when a broker says they were wrong
// (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH,
// UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE), after network errors,
// and at least every metadata.max.age.ms, as Kafka's Metadata class does.
//
// Refreshes are coalesced (one Metadata call at a time) and spaced by
// retry.backoff.ms; a refresh asks the brokers it knows in turn, then the
// bootstrap endpoints, so a dead broker costs one timeout at most per round.
import { type ErrorName, errorNameOf, RaftkaError } from '@raftka/common';
import type { BrokerDataClient, MetadataResponseWire } from '@raftka/transport';

export interface BrokerInfo {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly rack: string | null;
  /** host:port, what the transport dials. */
  readonly endpoint: string;
}

export interface PartitionInfo {
  readonly partition: number;
  /** -1 when offline (or unknown). */
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly offlineReplicas: readonly number[];
  /** Kafka's name of the partition's error; null when none. */
  readonly error: ErrorName | null;
}

export interface TopicInfo {
  readonly name: string;
  readonly topicId: string;
  readonly error: ErrorName | null;
  /** Indexed by partition number. */
  readonly partitions: readonly PartitionInfo[];
}

/** A Metadata answer in the client's names. */
export interface ClusterMetadata {
  readonly clusterId: string;
  readonly controllerId: number;
  readonly brokers: readonly BrokerInfo[];
  readonly topics: readonly TopicInfo[];
}

/** Errors after which a client's view of leaders is stale. */
export const METADATA_REFRESH_ERRORS: ReadonlySet<ErrorName> = new Set<ErrorName>([
  'NOT_LEADER_OR_FOLLOWER',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NETWORK_EXCEPTION',
  'REQUEST_TIMED_OUT',
  'BROKER_NOT_AVAILABLE',
  'REPLICA_NOT_AVAILABLE',
  'KAFKA_STORAGE_ERROR',
  'INCONSISTENT_TOPIC_ID',
]);

export function metadataFromWire(res: MetadataResponseWire): ClusterMetadata {
  return {
    clusterId: res.cluster_id,
    controllerId: res.controller_id,
    brokers: (res.brokers ?? []).map((b) => ({
      nodeId: b.node_id,
      host: b.host,
      port: b.port,
      rack: b.rack === '' ? null : b.rack,
      endpoint: `${b.host}:${b.port}`,
    })),
    topics: (res.topics ?? []).map((t) => {
      const partitions: PartitionInfo[] = [];
      for (const p of t.partitions ?? []) {
        partitions[p.partition] = {
          partition: p.partition,
          leader: p.leader_id,
          leaderEpoch: p.leader_epoch,
          replicas: p.replicas ?? [],
          isr: p.isr ?? [],
          offlineReplicas: p.offline_replicas ?? [],
          error: p.error_code === 0 ? null : errorNameOf(p.error_code),
        };
      }
      return {
        name: t.name,
        topicId: t.topic_id,
        error: t.error_code === 0 ? null : errorNameOf(t.error_code),
        partitions,
      };
    }),
  };
}

/** How long a Metadata call may stay unanswered before the next node is asked too. */
const HEDGE_AFTER_MS = 1000;

export interface MetadataCacheOptions {
  bootstrap: readonly string[];
  requestTimeoutMs: number;
  retryBackoffMs: number;
  maxAgeMs: number;
  now?: () => number;
}

export class MetadataCache {
  readonly #client: BrokerDataClient;
  readonly #options: MetadataCacheOptions;
  readonly #now: () => number;
  readonly #brokers = new Map<number, BrokerInfo>();
  readonly #topics = new Map<string, TopicInfo>();
  /** Topics whose metadata we keep; every refresh asks for all of them. */
  readonly #tracked = new Set<string>();
  readonly #listeners: (() => void)[] = [];
  #clusterId = '';
  #lastRefreshMs = Number.NEGATIVE_INFINITY;
  #lastAttemptMs = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<void> | undefined;
  #updateRequested = false;
  #nextNode = 0;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(client: BrokerDataClient, options: MetadataCacheOptions) {
    if (options.bootstrap.length === 0) {
      throw new RaftkaError('INVALID_CONFIG', 'bootstrap.servers: give at least one broker host:port');
    }
    this.#client = client;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get clusterId(): string {
    return this.#clusterId;
  }

  /** Called after every successful refresh (the sender wakes up on it). */
  onUpdate(listener: () => void): void {
    this.#listeners.push(listener);
  }

  track(topics: Iterable<string>): void {
    for (const t of topics) this.#tracked.add(t);
  }

  trackedTopics(): string[] {
    return [...this.#tracked];
  }

  untrack(topic: string): void {
    this.#tracked.delete(topic);
    this.#topics.delete(topic);
  }

  topic(name: string): TopicInfo | undefined {
    return this.#topics.get(name);
  }

  broker(id: number): BrokerInfo | undefined {
    return this.#brokers.get(id);
  }

  brokers(): BrokerInfo[] {
    return [...this.#brokers.values()];
  }

  /** The leader's broker, or undefined when the partition has none we can reach. */
  leaderOf(topic: string, partition: number): BrokerInfo | undefined {
    const p = this.#topics.get(topic)?.partitions[partition];
    if (p === undefined || p.leader < 0) return undefined;
    return this.#brokers.get(p.leader);
  }

  partition(topic: string, partition: number): PartitionInfo | undefined {
    return this.#topics.get(topic)?.partitions[partition];
  }

  /**
   * A broker named a newer leader than ours (Fetch's current_leader): take it
   * at once, without waiting for the next Metadata answer.
   */
  updateLeader(topic: string, partition: number, leader: number, leaderEpoch: number): boolean {
    const t = this.#topics.get(topic);
    const p = t?.partitions[partition];
    if (t === undefined || p === undefined || leaderEpoch <= p.leaderEpoch || leader < 0) return false;
    const partitions = [...t.partitions];
    partitions[partition] = { ...p, leader, leaderEpoch };
    this.#topics.set(topic, { ...t, partitions });
    return true;
  }

  /** Whether the view is older than metadata.max.age.ms or someone asked for a refresh. */
  get stale(): boolean {
    return this.#updateRequested || this.#now() - this.#lastRefreshMs >= this.#options.maxAgeMs;
  }

  /**
   * Marks the view stale and refreshes in the background, no sooner than
   * retry.backoff.ms after the previous attempt. Errors are kept for the next
   * caller that awaits refresh().
   */
  requestUpdate(): void {
    this.#updateRequested = true;
    this.#scheduleRefresh();
  }

  /** Refreshes in the background when stale (called from the sender's and consumer's loops). */
  maybeRefresh(): void {
    if (this.stale) this.#scheduleRefresh();
  }

  #scheduleRefresh(): void {
    if (this.#closed || this.#refreshing !== undefined || this.#timer !== undefined) return;
    const waitMs = this.#lastAttemptMs + this.#options.retryBackoffMs - this.#now();
    if (waitMs <= 0) {
      this.refresh().catch(() => {});
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.refresh().catch(() => {});
    }, waitMs);
    this.#timer.unref?.();
  }

  /** One Metadata round now (or joins the one under way). Rejects when no broker answered. */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.reject(new RaftkaError('SHUTTING_DOWN', 'client is closed'));
    this.#refreshing ??= this.#refreshOnce().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** Fetches metadata for `topics` (null: every topic) without caching it: the admin's metadata(). */
  async fetch(topics: readonly string[] | null): Promise<ClusterMetadata> {
    return metadataFromWire(await this.#ask(topics));
  }

  async #refreshOnce(): Promise<void> {
    this.#lastAttemptMs = this.#now();
    this.#updateRequested = false;
    let res: MetadataResponseWire;
    try {
      // No tracked topic yet: proto3 cannot say "no topics", so this asks for every topic (and keeps none).
      res = await this.#ask([...this.#tracked]);
    } catch (err) {
      this.#updateRequested = true;
      throw err;
    }
    const md = metadataFromWire(res);
    this.#clusterId = md.clusterId;
    if (md.brokers.length > 0) {
      const listed = new Set(md.brokers.map((b) => b.nodeId));
      const gone = [...this.#brokers.values()].filter((b) => !listed.has(b.nodeId));
      this.#brokers.clear();
      for (const b of md.brokers) this.#brokers.set(b.nodeId, b);
      // The cluster no longer lists these brokers: fenced, or gone. Whatever
      // waits on their connections fails now and goes elsewhere: a killed
      // container's address answers no connect, and a call queued on the
      // reconnect would wait for its deadline (request.timeout.ms).
      for (const b of gone) {
        this.#client.abandon(b.endpoint, `broker ${b.nodeId} is no longer in the cluster's metadata (fenced)`);
      }
    }
    for (const t of md.topics) {
      if (!this.#tracked.has(t.name)) continue;
      const known = this.#topics.get(t.name);
      // A partition whose leader we learned from a newer epoch keeps it until metadata catches up.
      if (known !== undefined && t.error === null) {
        const partitions = t.partitions.map((p, i) => {
          const k = known.partitions[i];
          return k !== undefined && k.leaderEpoch > p.leaderEpoch ? k : p;
        });
        this.#topics.set(t.name, { ...t, partitions });
      } else {
        this.#topics.set(t.name, t);
      }
      if (t.error !== null || t.partitions.some((p) => p === undefined || p.leader < 0 || p.error !== null)) {
        this.#updateRequested = true;
      }
    }
    this.#lastRefreshMs = this.#now();
    for (const l of this.#listeners) l();
    if (this.#updateRequested) this.#scheduleRefresh();
  }

  /**
   * Asks the known brokers, then the bootstrap endpoints, in turn; the first
   * answer wins. A node that has not answered within HEDGE_AFTER_MS gets
   * company (the next node is asked too), so a broker cut off by a network
   * partition, whose calls only end at request.timeout.ms, does not hold a
   * refresh for that long.
   */
  #ask(topics: readonly string[] | null): Promise<MetadataResponseWire> {
    const nodes = [...new Set([...[...this.#brokers.values()].map((b) => b.endpoint), ...this.#options.bootstrap])];
    const first = this.#nextNode;
    this.#nextNode++;
    return new Promise<MetadataResponseWire>((resolve, reject) => {
      let settled = false;
      let pending = 0;
      let next = 0;
      let lastError: unknown;
      let hedge: ReturnType<typeof setTimeout> | undefined;
      const askNext = (): void => {
        if (settled || next >= nodes.length) return;
        const i = (first + next++) % nodes.length;
        pending++;
        this.#client.metadata(nodes[i]!, topics, Date.now() + this.#options.requestTimeoutMs).then(
          (res) => {
            if (settled) return;
            settled = true;
            clearTimeout(hedge);
            this.#nextNode = i;
            resolve(res);
          },
          (err: unknown) => {
            lastError = err;
            pending--;
            if (settled) return;
            if (next < nodes.length) askNext();
            else if (pending === 0) {
              settled = true;
              clearTimeout(hedge);
              reject(
                lastError instanceof Error
                  ? lastError
                  : new RaftkaError('NETWORK_EXCEPTION', `no broker of ${nodes.join(',')} answered Metadata`),
              );
            }
          },
        );
        if (next < nodes.length) {
          clearTimeout(hedge);
          hedge = setTimeout(askNext, HEDGE_AFTER_MS);
          hedge.unref?.();
        }
      };
      askNext();
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
