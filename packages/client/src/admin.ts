// The admin client: topics (create, delete, describe, list, add partitions),
// configs (describe, incremental alter), the cluster, and metadata as a
// client sees it. Topic and config calls go to the Admin service through
// @raftka/transport's AdminClient; a broker forwards them to the active
// controller (a controller endpoint works too). metadata() is the data
// plane's Metadata call, answered by any broker from its image.
//
// The Admin service checks the cluster id, which Kafka clients do not know
// beforehand: unless given, it is learnt from a broker's Metadata answer on
// first use. Per-item errors reject the call with the first one as a
// RaftkaError carrying Kafka's error name (Kafka's `all().get()`); callers
// that want every outcome read the returned results, which are complete when
// nothing failed. `createTopics(..., { ifNotExists: true })` accepts
// TOPIC_ALREADY_EXISTS.
import { RaftkaError } from '@raftka/common';
import type {
  AlterConfigsResource,
  AlterConfigsResult,
  ApiError,
  ConfigResource,
  CreatePartitionsResult,
  CreatePartitionsTopic,
  CreateTopicResult,
  DeleteTopicResult,
  DescribeConfigsResult,
  TopicDescription,
} from '@raftka/metadata';
import { AdminClient, BrokerDataClient, type ClusterDescription } from '@raftka/transport';
import { type ClusterMetadata, MetadataCache } from './metadata-cache.js';
import { parseBootstrap } from './producer-client.js';

export interface AdminOptions {
  /** Broker client endpoints, host:port (any one will do). */
  bootstrap: readonly string[] | string;
  /** Where Admin calls go (brokers or controllers); default `bootstrap`. */
  adminEndpoints?: readonly string[] | string;
  /** Default: learnt from the first Metadata answer. */
  clusterId?: string;
  /** Deadline of one call (default 30 s). */
  requestTimeoutMs?: number;
  /** How long a call keeps retrying through controller elections (default 15 s). */
  retryTimeoutMs?: number;
}

export interface NewTopic {
  name: string;
  /** Default: the cluster's num.partitions. */
  numPartitions?: number;
  /** Default: the cluster's default.replication.factor. */
  replicationFactor?: number;
  configs?: Readonly<Record<string, string>>;
  /** Explicit replicas per partition, partition 0 first (then the counts are ignored). */
  replicaAssignment?: readonly (readonly number[])[];
}

function raise(what: string, error: ApiError): never {
  throw new RaftkaError(error.errorName, `${what}: ${error.message || error.errorName}`);
}

export class Admin {
  readonly #options: AdminOptions;
  readonly #bootstrap: string[];
  readonly #dataClient: BrokerDataClient;
  readonly #metadata: MetadataCache;
  #admin: Promise<AdminClient> | undefined;
  #closed = false;

  constructor(options: AdminOptions) {
    this.#options = options;
    this.#bootstrap = parseBootstrap(options.bootstrap, []);
    this.#dataClient = new BrokerDataClient({ clusterId: options.clusterId ?? '' });
    this.#metadata = new MetadataCache(this.#dataClient, {
      bootstrap: this.#bootstrap,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      retryBackoffMs: 100,
      maxAgeMs: 0,
    });
  }

  async #client(): Promise<AdminClient> {
    if (this.#closed) throw new RaftkaError('SHUTTING_DOWN', 'the admin client is closed');
    this.#admin ??= (async () => {
      const clusterId = this.#options.clusterId ?? (await this.#metadata.fetch([])).clusterId;
      return new AdminClient({
        clusterId,
        bootstrapEndpoints: parseBootstrap(this.#options.adminEndpoints, this.#bootstrap),
        requestTimeoutMs: this.#options.requestTimeoutMs ?? 30_000,
        retryTimeoutMs: this.#options.retryTimeoutMs ?? 15_000,
      });
    })().catch((err: unknown) => {
      this.#admin = undefined;
      throw err;
    });
    return this.#admin;
  }

  /** The cluster id the Admin calls carry (learnt from a broker unless given). */
  async clusterId(): Promise<string> {
    return this.#options.clusterId ?? (await this.#metadata.fetch([])).clusterId;
  }

  async createTopics(
    topics: readonly NewTopic[],
    options: { ifNotExists?: boolean } = {},
  ): Promise<CreateTopicResult[]> {
    const admin = await this.#client();
    const results = await admin.createTopics(
      topics.map((t) => ({
        name: t.name,
        numPartitions: t.numPartitions ?? -1,
        replicationFactor: t.replicationFactor ?? -1,
        ...(t.replicaAssignment !== undefined ? { assignments: t.replicaAssignment } : {}),
        ...(t.configs !== undefined ? { configs: t.configs } : {}),
      })),
    );
    for (const r of results) {
      if (r.error === null) continue;
      if (options.ifNotExists && r.error.errorName === 'TOPIC_ALREADY_EXISTS') continue;
      raise(`create topic ${r.name}`, r.error);
    }
    return results;
  }

  async deleteTopics(names: readonly string[]): Promise<DeleteTopicResult[]> {
    const results = await (await this.#client()).deleteTopics(names);
    for (const r of results) if (r.error !== null) raise(`delete topic ${r.name}`, r.error);
    return results;
  }

  /** `names` empty or absent: every topic. */
  async describeTopics(names: readonly string[] = []): Promise<TopicDescription[]> {
    const results = await (await this.#client()).describeTopics(names.length > 0 ? names : null);
    for (const r of results) if (r.error !== null) raise(`describe topic ${r.name}`, r.error);
    return results;
  }

  async listTopics(): Promise<{ name: string; topicId: string }[]> {
    return (await this.#client()).listTopics();
  }

  /** Raises partition counts: `count` is the new total. */
  async createPartitions(topics: readonly CreatePartitionsTopic[]): Promise<CreatePartitionsResult[]> {
    const results = await (await this.#client()).createPartitions(topics);
    for (const r of results) if (r.error !== null) raise(`create partitions of ${r.name}`, r.error);
    return results;
  }

  async describeConfigs(resources: readonly ConfigResource[]): Promise<DescribeConfigsResult[]> {
    const results = await (await this.#client()).describeConfigs(resources);
    for (const r of results) if (r.error !== null) raise(`describe configs of ${r.resourceName}`, r.error);
    return results;
  }

  /** Kafka's incrementalAlterConfigs: set or delete keys. */
  async alterConfigs(resources: readonly AlterConfigsResource[], validateOnly = false): Promise<AlterConfigsResult[]> {
    const results = await (await this.#client()).alterConfigs(resources, validateOnly);
    for (const r of results) if (r.error !== null) raise(`alter configs of ${r.resourceName}`, r.error);
    return results;
  }

  async describeCluster(): Promise<ClusterDescription> {
    return (await this.#client()).describeCluster();
  }

  /** Brokers and, for `topics` (all when absent), partitions with leader, epoch, replicas and ISR, from a broker. */
  async metadata(topics?: readonly string[]): Promise<ClusterMetadata> {
    if (this.#closed) throw new RaftkaError('SHUTTING_DOWN', 'the admin client is closed');
    return this.#metadata.fetch(topics ?? []);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const admin = this.#admin;
    this.#admin = undefined;
    this.#metadata.close();
    this.#dataClient.close();
    if (admin !== undefined) (await admin.catch(() => undefined))?.close();
  }
}
