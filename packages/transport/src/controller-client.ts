// Clients of the controllers' control-plane services: `AdminClient` (the
// raftka.admin.v1.Admin calls, for the CLI, tests and benchmarks) and
// `BrokerLifecycleClient` (registration, heartbeat streams, AlterPartition and
// producer ids, for brokers and the fake brokers of tests and benchmarks).
//
// Both find the active controller the same way: a NOT_CONTROLLER answer names
// the active controller's endpoint in its trailers and the client retries
// there at once; while none is known (an election is running) or a
// controller cannot be reached, it backs off and tries the next bootstrap
// endpoint, until `retryTimeoutMs`. Admin calls work on any controller (a
// standby forwards them), so the redirect only matters during elections.
//
// A call that timed out is not retried: a write (CreateTopics) may have
// committed, and a retry would answer TOPIC_ALREADY_EXISTS, as in Kafka.
import { type Client, type ClientDuplexStream, Metadata, type ServiceError } from '@grpc/grpc-js';
import { assert, type ErrorName, isRaftkaError, RaftkaError } from '@raftka/common';
import type {
  AllocateProducerIdsRequest,
  AllocateProducerIdsResponse,
  AlterConfigsResource,
  AlterConfigsResult,
  AlterPartitionRequest,
  AlterPartitionResponse,
  BrokerRegistrationRequest,
  ConfigResource,
  CreatableTopic,
  CreatePartitionsResult,
  CreatePartitionsTopic,
  CreateTopicResult,
  DeleteTopicResult,
  DescribeConfigsResult,
  ElectLeadersRequest,
  ElectLeadersResult,
  TopicDescription,
} from '@raftka/metadata';
import { FORWARDED_HEADER } from './control-plane-services.js';
import {
  allocateProducerIdsResponseFromWire,
  alterConfigsResourceToWire,
  alterConfigsResultFromWire,
  alterPartitionResponseFromWire,
  alterPartitionToWire,
  type ClusterDescription,
  clusterDescriptionFromWire,
  configResourceToWire,
  creatableTopicToWire,
  createPartitionsResultFromWire,
  createPartitionsTopicToWire,
  createTopicResultFromWire,
  deleteTopicResultFromWire,
  describeConfigsResultFromWire,
  electLeadersResultFromWire,
  electLeadersToWire,
  type HeartbeatWireRequest,
  type HeartbeatWireResponse,
  heartbeatResponseFromWire,
  heartbeatToWire,
  registrationToWire,
  topicDescriptionFromWire,
} from './control-plane-wire.js';
import { fromServiceError, NotControllerError } from './errors.js';
import type { RaftkaServices } from './proto.js';
import { ServiceClients } from './service-clients.js';
import type { Wire } from './wire.js';

export interface ControllerClientOptions {
  clusterId: string;
  /** `host:port` of one or more controllers' listeners. */
  bootstrapEndpoints: string[];
  /** Deadline of one call. */
  requestTimeoutMs?: number;
  /** How long a call keeps retrying through elections and redirects. */
  retryTimeoutMs?: number;
  /** Pause before retrying when no active controller is known. */
  retryBackoffMs?: number;
  maxMessageBytes?: number;
  /**
   * Mark calls as forwarded by a standby controller and never redirect
   * (internal use: the receiver answers or refuses, it does not forward again).
   */
  forwarded?: boolean;
}

const DEFAULTS = {
  requestTimeoutMs: 30_000,
  retryTimeoutMs: 15_000,
  retryBackoffMs: 50,
  maxMessageBytes: 64 * 1024 * 1024,
  forwarded: false,
};

/** No active controller here or reachable now: try elsewhere. A timeout is not among them (see above). */
const RETRIABLE: ReadonlySet<ErrorName> = new Set<ErrorName>(['NOT_CONTROLLER', 'NETWORK_EXCEPTION', 'SHUTTING_DOWN']);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Clients per endpoint for one service, and the redirect loop. */
class ControllerCaller {
  readonly options: Required<ControllerClientOptions>;
  readonly #clients: ServiceClients;
  #activeEndpoint: string | undefined;
  #nextBootstrap = 0;

  constructor(service: keyof RaftkaServices, options: ControllerClientOptions) {
    assert(options.bootstrapEndpoints.length > 0, 'a controller client needs at least one bootstrap endpoint');
    this.options = { ...DEFAULTS, ...options };
    this.#clients = new ServiceClients(service, this.options.maxMessageBytes);
  }

  get activeEndpoint(): string | undefined {
    return this.#activeEndpoint;
  }

  set activeEndpoint(endpoint: string | undefined) {
    this.#activeEndpoint = endpoint;
  }

  nextEndpoint(): string {
    if (this.#activeEndpoint) return this.#activeEndpoint;
    const endpoints = this.options.bootstrapEndpoints;
    const endpoint = endpoints[this.#nextBootstrap % endpoints.length];
    this.#nextBootstrap++;
    assert(endpoint !== undefined, 'bootstrap endpoint');
    return endpoint;
  }

  client(endpoint: string): Client {
    return this.#clients.client(endpoint);
  }

  metadata(): Metadata {
    const metadata = new Metadata();
    if (this.options.forwarded) metadata.set(FORWARDED_HEADER, '1');
    return metadata;
  }

  callOnce(endpoint: string, method: string, request: Wire): Promise<Wire> {
    return this.#clients
      .unary(
        endpoint,
        method,
        { ...request, cluster_id: this.options.clusterId },
        {
          deadlineMs: Date.now() + this.options.requestTimeoutMs,
          metadata: this.metadata(),
        },
      )
      .catch((err: unknown) => {
        throw isRaftkaError(err) ? err : fromServiceError(err as ServiceError, `${method} at ${endpoint}`);
      });
  }

  /** Calls `method` at the active controller, following redirects and retrying through elections. */
  async call(method: string, request: Wire): Promise<Wire> {
    if (this.options.forwarded) return this.callOnce(this.nextEndpoint(), method, request);
    const giveUpAt = Date.now() + this.options.retryTimeoutMs;
    let lastError: RaftkaError | undefined;
    for (let attempt = 0; Date.now() < giveUpAt; attempt++) {
      const endpoint = this.nextEndpoint();
      try {
        const res = await this.callOnce(endpoint, method, request);
        return res;
      } catch (err) {
        if (!isRaftkaError(err)) throw err;
        lastError = err;
        if (err instanceof NotControllerError && err.leaderEndpoint && err.leaderEndpoint !== endpoint) {
          this.#activeEndpoint = err.leaderEndpoint;
          continue;
        }
        if (!RETRIABLE.has(err.errorName)) throw err;
        this.#activeEndpoint = undefined;
        await sleep(Math.min(this.options.retryBackoffMs * 2 ** Math.min(attempt, 4), 500));
      }
    }
    throw lastError ?? new RaftkaError('REQUEST_TIMED_OUT', `${method}: no controller answered`);
  }

  close(): void {
    this.#clients.close();
  }
}

// --- Admin -------------------------------------------------------------------------

export class AdminClient {
  readonly #caller: ControllerCaller;

  constructor(options: ControllerClientOptions) {
    this.#caller = new ControllerCaller('Admin', options);
  }

  async createTopics(topics: readonly CreatableTopic[]): Promise<CreateTopicResult[]> {
    const res = await this.#caller.call('CreateTopics', { topics: topics.map(creatableTopicToWire) });
    return ((res.topics as Wire[]) ?? []).map(createTopicResultFromWire);
  }

  async deleteTopics(names: readonly string[]): Promise<DeleteTopicResult[]> {
    const res = await this.#caller.call('DeleteTopics', { names: [...names] });
    return ((res.topics as Wire[]) ?? []).map(deleteTopicResultFromWire);
  }

  async createPartitions(topics: readonly CreatePartitionsTopic[]): Promise<CreatePartitionsResult[]> {
    const res = await this.#caller.call('CreatePartitions', { topics: topics.map(createPartitionsTopicToWire) });
    return ((res.topics as Wire[]) ?? []).map(createPartitionsResultFromWire);
  }

  /** `names` null or empty: every topic. */
  async describeTopics(names: readonly string[] | null): Promise<TopicDescription[]> {
    const res = await this.#caller.call('DescribeTopics', { names: names ? [...names] : [] });
    return ((res.topics as Wire[]) ?? []).map(topicDescriptionFromWire);
  }

  async listTopics(): Promise<{ name: string; topicId: string }[]> {
    const res = await this.#caller.call('ListTopics', {});
    return ((res.topics as Wire[]) ?? []).map((t) => ({ name: String(t.name), topicId: String(t.topic_id) }));
  }

  async describeConfigs(resources: readonly ConfigResource[]): Promise<DescribeConfigsResult[]> {
    const res = await this.#caller.call('DescribeConfigs', { resources: resources.map(configResourceToWire) });
    return ((res.results as Wire[]) ?? []).map(describeConfigsResultFromWire);
  }

  /** Kafka's IncrementalAlterConfigs. */
  async alterConfigs(resources: readonly AlterConfigsResource[], validateOnly = false): Promise<AlterConfigsResult[]> {
    const res = await this.#caller.call('AlterConfigs', {
      resources: resources.map(alterConfigsResourceToWire),
      validate_only: validateOnly,
    });
    return ((res.results as Wire[]) ?? []).map(alterConfigsResultFromWire);
  }

  async electLeaders(request: ElectLeadersRequest): Promise<ElectLeadersResult[]> {
    const res = await this.#caller.call('ElectLeaders', electLeadersToWire(request));
    return ((res.results as Wire[]) ?? []).map(electLeadersResultFromWire);
  }

  async describeCluster(): Promise<ClusterDescription> {
    return clusterDescriptionFromWire(await this.#caller.call('DescribeCluster', {}));
  }

  close(): void {
    this.#caller.close();
  }
}

// --- BrokerLifecycle ---------------------------------------------------------------------

export interface HeartbeatStreamClient {
  /** The controller this stream is open to. */
  readonly endpoint: string;
  send(request: HeartbeatWireRequest): void;
  /** Ends the stream from the broker's side (a clean close still fences: the stream is the session). */
  close(): void;
  /** Cancels the stream without a half-close, as a process that dies does. */
  abort(): void;
}

export interface HeartbeatStreamEvents {
  onResponse(response: HeartbeatWireResponse): void;
  /** The stream ended: NOT_CONTROLLER (reopen at `err.leaderEndpoint`), NETWORK_EXCEPTION, SHUTTING_DOWN ... */
  onError(err: RaftkaError): void;
}

export class BrokerLifecycleClient {
  readonly #caller: ControllerCaller;

  constructor(options: ControllerClientOptions) {
    this.#caller = new ControllerCaller('BrokerLifecycle', options);
  }

  /** Where the active controller was last found (undefined: unknown). */
  get activeEndpoint(): string | undefined {
    return this.#caller.activeEndpoint;
  }

  async registerBroker(request: BrokerRegistrationRequest): Promise<{ brokerId: number; brokerEpoch: number }> {
    const res = await this.#caller.call('RegisterBroker', registrationToWire(request));
    return { brokerId: Number(res.broker_id), brokerEpoch: Number(res.broker_epoch) };
  }

  async alterPartition(request: AlterPartitionRequest): Promise<AlterPartitionResponse> {
    return alterPartitionResponseFromWire(await this.#caller.call('AlterPartition', alterPartitionToWire(request)));
  }

  async allocateProducerIds(request: AllocateProducerIdsRequest): Promise<AllocateProducerIdsResponse> {
    const res = await this.#caller.call('AllocateProducerIds', {
      broker_id: request.brokerId,
      broker_epoch: request.brokerEpoch,
    });
    return allocateProducerIdsResponseFromWire(res);
  }

  /**
   * Opens a heartbeat stream to `endpoint` (default: the active controller
   * as last found, else the next bootstrap endpoint). A NOT_CONTROLLER ending
   * also updates `activeEndpoint`, so reopening without an endpoint goes to
   * the named active controller.
   */
  openHeartbeatStream(events: HeartbeatStreamEvents, endpoint?: string): HeartbeatStreamClient {
    const target = endpoint ?? this.#caller.nextEndpoint();
    const client = this.#caller.client(target);
    const open = (client as unknown as Record<string, (metadata: Metadata) => ClientDuplexStream<Wire, Wire>>)
      .BrokerHeartbeat;
    assert(typeof open === 'function', 'no client method BrokerHeartbeat');
    const call = open.call(client, new Metadata());
    let ended = false;
    const end = (err: RaftkaError) => {
      if (ended) return;
      ended = true;
      if (err instanceof NotControllerError) this.#caller.activeEndpoint = err.leaderEndpoint;
      else if (this.#caller.activeEndpoint === target) this.#caller.activeEndpoint = undefined;
      events.onError(err);
    };
    call.on('data', (w: Wire) => events.onResponse(heartbeatResponseFromWire(w)));
    call.on('error', (err: ServiceError) => end(fromServiceError(err, `BrokerHeartbeat at ${target}`)));
    call.on('end', () => end(new RaftkaError('NETWORK_EXCEPTION', `BrokerHeartbeat at ${target}: stream ended`)));
    const clusterId = this.#caller.options.clusterId;
    return {
      endpoint: target,
      send: (request) => {
        if (ended) return;
        call.write({ ...heartbeatToWire(request), cluster_id: clusterId });
      },
      close: () => {
        if (ended) return;
        ended = true;
        call.end();
      },
      abort: () => {
        if (ended) return;
        ended = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.#caller.close();
  }
}
