// raftka.broker.v1.Broker, the data plane: Produce, Fetch, ListOffsets,
// Metadata and InitProducerId, server binding and client.
//
// Unlike the control plane, these types are the proto messages exactly as
// proto-loader delivers them (snake_case, int64 as numbers, bytes as
// Buffers): the produce and fetch paths carry megabytes per second, and a
// second object tree per request would only copy field names around. The
// RecordBatch bytes are never copied here: a Buffer that arrives in a
// ProduceRequest is the one the broker validates and appends.
import {
  type ClientDuplexStream,
  Metadata,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { errorNameOf, isRaftkaError, RaftkaError } from '@raftka/common';
import { fromServiceError, toServiceError } from './errors.js';
import { loadServices } from './proto.js';
import { checkClusterId, type ExtraService } from './server.js';
import { ServiceClients } from './service-clients.js';
import type { Wire } from './wire.js';

export const ACKS_NONE = 0;
export const ACKS_LEADER = 1;
export const ACKS_ALL = -1;

/** ListOffsets timestamps with a meaning (Kafka's). */
export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;

export interface ProduceRequestWire {
  cluster_id: string;
  acks: number;
  timeout_ms: number;
  topics: { name: string; partitions: { partition: number; records: Buffer }[] }[];
}

export interface ProducePartitionResponseWire {
  partition: number;
  error_code: number;
  error_message: string;
  base_offset: number;
  log_append_time_ms: number;
  log_start_offset: number;
}

export interface ProduceResponseWire {
  topics: { name: string; partitions: ProducePartitionResponseWire[] }[];
  throttle_time_ms: number;
}

export interface FetchPartitionWire {
  partition: number;
  current_leader_epoch: number;
  fetch_offset: number;
  last_fetched_epoch: number;
  partition_max_bytes: number;
}

export interface FetchRequestWire {
  cluster_id: string;
  replica_id: number;
  replica_epoch: number;
  max_wait_ms: number;
  min_bytes: number;
  max_bytes: number;
  topics: { topic_id: string; name: string; partitions: FetchPartitionWire[] }[];
}

export interface FetchPartitionResponseWire {
  partition: number;
  error_code: number;
  error_message: string;
  high_watermark: number;
  log_start_offset: number;
  /** null or epoch -1: no divergence. */
  diverging_epoch: { epoch: number; end_offset: number } | null;
  /** null: not known or not asked. */
  current_leader: { leader_id: number; leader_epoch: number } | null;
  records: Buffer;
}

export interface FetchResponseWire {
  topics: { topic_id: string; name: string; partitions: FetchPartitionResponseWire[] }[];
  throttle_time_ms: number;
}

export interface ListOffsetsRequestWire {
  cluster_id: string;
  replica_id: number;
  topics: { name: string; partitions: { partition: number; current_leader_epoch: number; timestamp: number }[] }[];
}

export interface ListOffsetsPartitionResponseWire {
  partition: number;
  error_code: number;
  error_message: string;
  timestamp: number;
  offset: number;
  leader_epoch: number;
}

export interface ListOffsetsResponseWire {
  topics: { name: string; partitions: ListOffsetsPartitionResponseWire[] }[];
}

export interface MetadataRequestWire {
  cluster_id: string;
  topics: string[];
}

export interface MetadataPartitionWire {
  error_code: number;
  partition: number;
  leader_id: number;
  leader_epoch: number;
  replicas: number[];
  isr: number[];
  offline_replicas: number[];
}

export interface MetadataTopicWire {
  error_code: number;
  name: string;
  topic_id: string;
  partitions: MetadataPartitionWire[];
}

export interface MetadataResponseWire {
  cluster_id: string;
  controller_id: number;
  brokers: { node_id: number; host: string; port: number; rack: string }[];
  topics: MetadataTopicWire[];
}

export interface InitProducerIdRequestWire {
  cluster_id: string;
  transaction_timeout_ms: number;
}

export interface InitProducerIdResponseWire {
  error_code: number;
  error_message: string;
  producer_id: number;
  producer_epoch: number;
}

/** What a broker implements. A thrown RaftkaError fails the whole call (its code in the trailers). */
export interface BrokerDataHandlers {
  /** For acks=0 the handler answers at once (empty topics) and appends after. */
  produce(request: ProduceRequestWire): Promise<ProduceResponseWire>;
  /** `cancelled` settles when the caller went away, so a long poll can end early. */
  fetch(request: FetchRequestWire, cancelled: Promise<void>): Promise<FetchResponseWire>;
  listOffsets(request: ListOffsetsRequestWire): Promise<ListOffsetsResponseWire>;
  metadata(request: MetadataRequestWire): Promise<MetadataResponseWire>;
  initProducerId(request: InitProducerIdRequestWire): Promise<InitProducerIdResponseWire>;
}

export function brokerDataService(clusterId: string, handlers: BrokerDataHandlers): ExtraService {
  const implementation: UntypedServiceImplementation = {
    Produce: unary(clusterId, (w) => handlers.produce(w as unknown as ProduceRequestWire)),
    ProduceStream: (call: ServerDuplexStream<Wire, Wire>) => produceStream(clusterId, handlers, call),
    Fetch: (call: ServerUnaryCall<Wire, Wire>, callback: sendUnaryData<Wire>) => {
      const cancelled = new Promise<void>((resolve) => call.once('cancelled', () => resolve()));
      unary(clusterId, (w) => handlers.fetch(w as unknown as FetchRequestWire, cancelled))(call, callback);
    },
    ListOffsets: unary(clusterId, (w) => handlers.listOffsets(w as unknown as ListOffsetsRequestWire)),
    Metadata: unary(clusterId, (w) => handlers.metadata(w as unknown as MetadataRequestWire)),
    InitProducerId: unary(clusterId, (w) => handlers.initProducerId(w as unknown as InitProducerIdRequestWire)),
  };
  return { definition: loadServices().Broker.service, implementation };
}

/**
 * Each message is handed to `produce` as it arrives, so the synchronous part
 * of the handler (checks and append) runs in stream order; answers are
 * written as they complete.
 */
function produceStream(clusterId: string, handlers: BrokerDataHandlers, call: ServerDuplexStream<Wire, Wire>): void {
  let open = true;
  const answer = (message: Wire) => {
    if (open) call.write(message);
  };
  call.on('data', (m: Wire) => {
    const correlationId = Number(m.correlation_id);
    const request = m.request as Wire | null;
    let response: Promise<ProduceResponseWire>;
    try {
      if (request === null) throw new RaftkaError('INVALID_REQUEST', 'a ProduceStream message without a request');
      checkDataPlaneClusterId(request, clusterId);
      response = handlers.produce(request as unknown as ProduceRequestWire);
    } catch (err) {
      response = Promise.reject(err);
    }
    response.then(
      (r) => answer({ correlation_id: correlationId, error_code: 0, error_message: '', response: r }),
      (err: unknown) => {
        const e = isRaftkaError(err) ? err : new RaftkaError('UNKNOWN_SERVER_ERROR', String(err));
        answer({ correlation_id: correlationId, error_code: e.code, error_message: e.message, response: null });
      },
    );
  });
  const close = () => {
    if (!open) return;
    open = false;
    call.end();
  };
  call.on('end', close);
  call.on('error', () => {
    open = false;
  });
  call.on('cancelled', () => {
    open = false;
  });
}

/**
 * Kafka clients bootstrap from host:port alone: an empty cluster id is
 * accepted (the Metadata answer names the cluster), a wrong one is not.
 */
function checkDataPlaneClusterId(request: Wire, clusterId: string): void {
  if (request.cluster_id !== '') checkClusterId(request, clusterId);
}

function unary(
  clusterId: string,
  body: (request: Wire) => Promise<unknown>,
): (call: ServerUnaryCall<Wire, Wire>, callback: sendUnaryData<Wire>) => void {
  return (call, callback) => {
    let response: Promise<unknown>;
    try {
      checkDataPlaneClusterId(call.request, clusterId);
      response = body(call.request);
    } catch (err) {
      callback(toServiceError(err) as ServiceError);
      return;
    }
    response.then(
      (r) => callback(null, r as Wire),
      (err: unknown) => callback(toServiceError(err) as ServiceError),
    );
  };
}

export interface BrokerDataClientOptions {
  /** Sent on every call; '' (the default) is accepted by any cluster. */
  clusterId?: string;
  /** Largest message either way; default 64 MiB. */
  maxMessageBytes?: number;
}

/**
 * Calls the Broker service of any broker by endpoint (host:port), one
 * channel per endpoint. Failures reject with a RaftkaError: the Kafka code
 * from the trailers, or NETWORK_EXCEPTION / REQUEST_TIMED_OUT for transport
 * failures (both retriable).
 */
export class BrokerDataClient {
  readonly #clients: ServiceClients;
  readonly #clusterId: string;
  readonly #streams = new Map<string, OrderedProduceStream>();

  constructor(options: BrokerDataClientOptions) {
    this.#clusterId = options.clusterId ?? '';
    this.#clients = new ServiceClients('Broker', options.maxMessageBytes ?? 64 * 1024 * 1024);
  }

  get clusterId(): string {
    return this.#clusterId;
  }

  produce(endpoint: string, request: Omit<ProduceRequestWire, 'cluster_id'>, deadlineMs: number) {
    return this.#call<ProduceResponseWire>(endpoint, 'Produce', request, deadlineMs);
  }

  /** `signal` cancels the call (a follower re-sends a long poll when its partition set changed). */
  fetch(endpoint: string, request: Omit<FetchRequestWire, 'cluster_id'>, deadlineMs: number, signal?: AbortSignal) {
    return this.#call<FetchResponseWire>(endpoint, 'Fetch', request, deadlineMs, signal);
  }

  listOffsets(endpoint: string, request: Omit<ListOffsetsRequestWire, 'cluster_id'>, deadlineMs: number) {
    return this.#call<ListOffsetsResponseWire>(endpoint, 'ListOffsets', request, deadlineMs);
  }

  metadata(endpoint: string, topics: readonly string[] | null, deadlineMs: number) {
    return this.#call<MetadataResponseWire>(endpoint, 'Metadata', { topics: topics ? [...topics] : [] }, deadlineMs);
  }

  initProducerId(endpoint: string, deadlineMs: number) {
    return this.#call<InitProducerIdResponseWire>(
      endpoint,
      'InitProducerId',
      { transaction_timeout_ms: 60_000 },
      deadlineMs,
    );
  }

  /**
   * Produce on this endpoint's ProduceStream: requests reach the broker in
   * the order of these calls (see the proto), so several batches of one
   * partition may be in flight. Rejects like `produce`.
   */
  produceOrdered(
    endpoint: string,
    request: Omit<ProduceRequestWire, 'cluster_id'>,
    deadlineMs: number,
  ): Promise<ProduceResponseWire> {
    let stream = this.#streams.get(endpoint);
    if (stream === undefined || stream.broken) {
      stream = new OrderedProduceStream(this.#clients, endpoint);
      this.#streams.set(endpoint, stream);
    }
    return stream.send({ ...request, cluster_id: this.#clusterId }, deadlineMs);
  }

  /** Whether the connection to `endpoint` is up (a call there is not waiting on a connect). */
  isConnected(endpoint: string): boolean {
    return this.#clients.isReady(endpoint);
  }

  /**
   * Gives up on the broker at `endpoint` (the cluster no longer lists it, so
   * it was fenced): requests waiting on it fail now with NETWORK_EXCEPTION,
   * and its connection is dropped. A killed container's address answers no
   * connect, so a request queued on a reconnect would otherwise wait for its
   * deadline (request.timeout.ms) before the producer retried it elsewhere.
   */
  abandon(endpoint: string, reason: string): void {
    const stream = this.#streams.get(endpoint);
    this.#streams.delete(endpoint);
    stream?.abandon(new RaftkaError('NETWORK_EXCEPTION', `Broker at ${endpoint}: ${reason}`));
    this.#clients.drop(endpoint);
  }

  close(): void {
    for (const s of this.#streams.values()) s.close();
    this.#streams.clear();
    this.#clients.close();
  }

  async #call<T>(endpoint: string, method: string, request: object, deadlineMs: number, signal?: AbortSignal) {
    try {
      const res = await this.#clients.unary(endpoint, method, { ...request, cluster_id: this.#clusterId } as Wire, {
        deadlineMs,
        signal,
      });
      return res as unknown as T;
    } catch (err) {
      if (isRaftkaError(err)) throw err;
      throw fromServiceError(err as ServiceError, `Broker.${method} at ${endpoint}`);
    }
  }
}

/** One ProduceStream call and the requests waiting for their answers on it. */
class OrderedProduceStream {
  readonly #endpoint: string;
  readonly #call: ClientDuplexStream<Wire, Wire>;
  readonly #pending = new Map<
    number,
    { resolve: (r: ProduceResponseWire) => void; reject: (e: RaftkaError) => void; timer: NodeJS.Timeout }
  >();
  #nextCorrelationId = 1;
  broken = false;

  constructor(clients: ServiceClients, endpoint: string) {
    this.#endpoint = endpoint;
    const client = clients.client(endpoint) as unknown as {
      ProduceStream: (metadata: Metadata) => ClientDuplexStream<Wire, Wire>;
    };
    this.#call = client.ProduceStream(new Metadata());
    this.#call.on('data', (m: Wire) => {
      const waiter = this.#pending.get(Number(m.correlation_id));
      if (waiter === undefined) return; // timed out already
      this.#pending.delete(Number(m.correlation_id));
      clearTimeout(waiter.timer);
      const code = Number(m.error_code);
      if (code !== 0) {
        waiter.reject(new RaftkaError(errorNameOf(code), `Broker.ProduceStream at ${endpoint}: ${m.error_message}`));
      } else {
        waiter.resolve(m.response as unknown as ProduceResponseWire);
      }
    });
    this.#call.on('error', (err: ServiceError) =>
      this.#fail(fromServiceError(err, `Broker.ProduceStream at ${endpoint}`)),
    );
    this.#call.on('end', () =>
      this.#fail(new RaftkaError('NETWORK_EXCEPTION', `Broker.ProduceStream at ${endpoint}: stream ended`)),
    );
  }

  send(request: ProduceRequestWire, deadlineMs: number): Promise<ProduceResponseWire> {
    if (this.broken) {
      return Promise.reject(new RaftkaError('NETWORK_EXCEPTION', `Broker.ProduceStream at ${this.#endpoint}: broken`));
    }
    const correlationId = this.#nextCorrelationId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          if (!this.#pending.delete(correlationId)) return;
          reject(new RaftkaError('REQUEST_TIMED_OUT', `Broker.ProduceStream at ${this.#endpoint}: deadline exceeded`));
        },
        Math.max(0, deadlineMs - Date.now()),
      );
      this.#pending.set(correlationId, { resolve, reject, timer });
      this.#call.write({ correlation_id: correlationId, request });
    });
  }

  #fail(error: RaftkaError): void {
    if (this.broken) return;
    this.broken = true;
    for (const [, waiter] of this.#pending) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#pending.clear();
  }

  close(): void {
    this.abandon(new RaftkaError('SHUTTING_DOWN', 'producer stream closed'));
  }

  abandon(error: RaftkaError): void {
    this.#fail(error);
    this.#call.cancel();
  }
}
