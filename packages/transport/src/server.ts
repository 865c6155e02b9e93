// The gRPC server of a node: raftka.raft.v1.Raft (inbound Raft requests) and,
// on controllers, raftka.quorum.v1.Quorum (the client-facing API).
//
// An inbound Raft request is handed to the driver (`onRaftRequest`), which
// steps it into the core; the call stays open until the core emits the
// matching response message, which the driver passes to `respond()`. Calls
// are matched by (requester, RPC) in arrival order, and a Fetch response by
// its echoed fetch offset first, so a long-poll the leader parks simply keeps
// its call open. A call the core never answers ends at the caller's deadline
// (its cancellation removes it here); the core resends on its own timers.
//
// Every request is checked at the edge: a foreign cluster id is refused with
// INVALID_CLUSTER_ID, a request addressed to another node with INVALID_REQUEST.
//
// Fetch answers are encoded here rather than by proto-loader: each entry's
// bytes are made once and reused for every fetcher (wire.ts,
// `encodeFetchResponse`), since a leader answers the same entries to every
// voter and broker.
import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type ServiceError,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { assert, RaftkaError } from '@raftka/common';
import type { LogEntry, NodeId, RaftRole } from '@raftka/raft';
import { serverOptions, widenServerFlowControl } from './channel-options.js';
import { toServiceError } from './errors.js';
import { loadServices } from './proto.js';
import {
  encodeFetchResponse,
  entryToWire,
  METHOD_OF_RESPONSE,
  type RaftMethod,
  type RaftRequest,
  type RaftResponse,
  requestFromWire,
  responseToWire,
  type Wire,
} from './wire.js';

export interface ReplicaStateView {
  nodeId: NodeId;
  logEndOffset: number;
  lastFetchTimeMs: number;
  lastCaughtUpTimeMs: number;
}

export interface DescribeQuorumResult {
  /** The node that answered and its own view. */
  nodeId: NodeId;
  role: RaftRole;
  leaderId: NodeId;
  epoch: number;
  highWatermark: number;
  voters: ReplicaStateView[];
  observers: ReplicaStateView[];
}

export interface AppendResult {
  epoch: number;
  firstOffset: number;
  lastOffset: number;
}

export interface ReadCommittedResult {
  /** Committed data entries at or above the requested offset, in order. */
  entries: LogEntry[];
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
}

/** What a controller does for the client-facing Quorum service. Throw RaftkaError (NotLeaderError) to refuse. */
export interface QuorumHandlers {
  append(records: Uint8Array[]): Promise<AppendResult>;
  describeQuorum(): DescribeQuorumResult;
  readCommitted(fromOffset: number, maxEntries: number): Promise<ReadCommittedResult>;
}

export interface TransportServerOptions {
  nodeId: NodeId;
  clusterId: string;
  host: string;
  /** 0 picks a free port; see `port` after start. */
  port: number;
  maxMessageBytes: number;
  /** An inbound Raft request; answer it later through `respond()`. */
  onRaftRequest?: (request: RaftRequest) => void;
  quorum?: QuorumHandlers;
  /** Bound on open inbound calls per (requester, RPC). */
  maxPendingPerPeer?: number;
  /** Bound on records per Append call. */
  maxAppendRecords?: number;
  /**
   * More services on the same listener (a controller's BrokerLifecycle and
   * Admin). They check the cluster id themselves (`checkClusterId`).
   */
  services?: readonly ExtraService[];
}

export interface ExtraService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

interface PendingCall {
  method: RaftMethod;
  fetchOffset: number;
  callback: sendUnaryData<Wire>;
  done: boolean;
}

const DEFAULT_MAX_PENDING_PER_PEER = 32;
const DEFAULT_MAX_APPEND_RECORDS = 10_000;
const MAX_READ_COMMITTED_ENTRIES = 10_000;

export class TransportServer {
  readonly #options: TransportServerOptions;
  readonly #server: Server;
  readonly #pending = new Map<string, PendingCall[]>();
  #port = -1;
  #closed = false;

  private constructor(options: TransportServerOptions) {
    this.#options = options;
    this.#server = new Server(serverOptions({ maxMessageBytes: options.maxMessageBytes }));
  }

  static async start(options: TransportServerOptions): Promise<TransportServer> {
    const server = new TransportServer(options);
    const services = loadServices();
    if (options.onRaftRequest) server.#server.addService(raftServiceDefinition(), server.#raftImplementation());
    if (options.quorum)
      server.#server.addService(services.Quorum.service, server.#quorumImplementation(options.quorum));
    for (const extra of options.services ?? []) server.#server.addService(extra.definition, extra.implementation);
    server.#port = await new Promise<number>((resolve, reject) => {
      server.#server.bindAsync(`${options.host}:${options.port}`, ServerCredentials.createInsecure(), (err, port) =>
        err
          ? reject(
              new RaftkaError('INVALID_CONFIG', `cannot listen on ${options.host}:${options.port}: ${err.message}`),
            )
          : resolve(port),
      );
    });
    widenServerFlowControl(server.#server);
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** Open inbound calls waiting for the core's answer. */
  get pendingCalls(): number {
    let n = 0;
    for (const queue of this.#pending.values()) n += queue.length;
    return n;
  }

  /**
   * Completes the inbound call that `message` answers. Returns false when no
   * call waits for it (the caller gave up); the response is then dropped.
   */
  respond(message: RaftResponse): boolean {
    const method = METHOD_OF_RESPONSE[message.type];
    const queue = this.#pending.get(pendingKey(message.to, method));
    if (!queue || queue.length === 0) return false;
    let index = 0;
    if (message.type === 'FetchResponse') {
      const exact = queue.findIndex((p) => p.fetchOffset === message.fetchOffset);
      if (exact >= 0) index = exact;
    }
    const [call] = queue.splice(index, 1);
    assert(call !== undefined && !call.done, 'pending queues hold only open calls');
    call.done = true;
    if (message.type === 'FetchResponse') {
      const bytes = encodeFetchResponse(message, serializeFetchResponse());
      call.callback(null, new PreEncoded(bytes) as unknown as Wire);
    } else {
      call.callback(null, responseToWire(message));
    }
    return true;
  }

  #raftImplementation(): UntypedServiceImplementation {
    const handler =
      (method: RaftMethod) =>
      (call: ServerUnaryCall<Wire, Wire>, callback: sendUnaryData<Wire>): void => {
        try {
          this.#checkOpen();
          this.#checkClusterId(call.request);
          const request = requestFromWire(method, call.request);
          if (request.to !== this.#options.nodeId) {
            throw new RaftkaError(
              'INVALID_REQUEST',
              `${request.type} for node ${request.to} reached node ${this.#options.nodeId}`,
            );
          }
          const key = pendingKey(request.from, method);
          let queue = this.#pending.get(key);
          if (!queue) {
            queue = [];
            this.#pending.set(key, queue);
          }
          if (queue.length >= (this.#options.maxPendingPerPeer ?? DEFAULT_MAX_PENDING_PER_PEER)) {
            throw new RaftkaError(
              'THROTTLING_QUOTA_EXCEEDED',
              `too many open ${method} calls from node ${request.from}`,
            );
          }
          const pending: PendingCall = {
            method,
            fetchOffset: request.type === 'FetchRequest' ? request.fetchOffset : -1,
            callback,
            done: false,
          };
          queue.push(pending);
          call.on('cancelled', () => {
            if (pending.done) return;
            pending.done = true;
            const q = this.#pending.get(key);
            const at = q?.indexOf(pending) ?? -1;
            if (q && at >= 0) q.splice(at, 1);
          });
          this.#options.onRaftRequest?.(request);
        } catch (err) {
          callback(toServiceError(err) as ServiceError);
        }
      };
    return {
      Vote: handler('Vote'),
      BeginQuorumEpoch: handler('BeginQuorumEpoch'),
      EndQuorumEpoch: handler('EndQuorumEpoch'),
      Fetch: handler('Fetch'),
      FetchSnapshot: handler('FetchSnapshot'),
    };
  }

  #quorumImplementation(quorum: QuorumHandlers): UntypedServiceImplementation {
    const maxAppendRecords = this.#options.maxAppendRecords ?? DEFAULT_MAX_APPEND_RECORDS;
    return {
      Append: (call: ServerUnaryCall<Wire, Wire>, callback: sendUnaryData<Wire>) => {
        this.#guarded(
          callback,
          async () => {
            const records = (call.request.records as Buffer[]) ?? [];
            if (records.length === 0) throw new RaftkaError('INVALID_REQUEST', 'Append without records');
            if (records.length > maxAppendRecords) {
              throw new RaftkaError(
                'RECORD_LIST_TOO_LARGE',
                `${records.length} records > ${maxAppendRecords} per Append`,
              );
            }
            const result = await quorum.append(records);
            return { epoch: result.epoch, first_offset: result.firstOffset, last_offset: result.lastOffset };
          },
          call.request,
        );
      },
      DescribeQuorum: (call: ServerUnaryCall<Wire, Wire>, callback: sendUnaryData<Wire>) => {
        this.#guarded(
          callback,
          async () => {
            const d = quorum.describeQuorum();
            const replica = (r: ReplicaStateView): Wire => ({
              node_id: r.nodeId,
              log_end_offset: r.logEndOffset,
              last_fetch_time_ms: r.lastFetchTimeMs,
              last_caught_up_time_ms: r.lastCaughtUpTimeMs,
            });
            return {
              node_id: d.nodeId,
              role: d.role,
              leader_id: d.leaderId,
              epoch: d.epoch,
              high_watermark: d.highWatermark,
              voters: d.voters.map(replica),
              observers: d.observers.map(replica),
            };
          },
          call.request,
        );
      },
      ReadCommitted: (call: ServerUnaryCall<Wire, Wire>, callback: sendUnaryData<Wire>) => {
        this.#guarded(
          callback,
          async () => {
            const fromOffset = Number(call.request.from_offset ?? 0);
            const requested = Number(call.request.max_entries ?? 0);
            const maxEntries = Math.min(
              requested > 0 ? requested : MAX_READ_COMMITTED_ENTRIES,
              MAX_READ_COMMITTED_ENTRIES,
            );
            const result = await quorum.readCommitted(fromOffset, maxEntries);
            return {
              entries: result.entries.map(entryToWire),
              next_offset: result.nextOffset,
              high_watermark: result.highWatermark,
              log_start_offset: result.logStartOffset,
            };
          },
          call.request,
        );
      },
    };
  }

  #guarded(callback: sendUnaryData<Wire>, body: () => Promise<Wire>, request: Wire): void {
    Promise.resolve()
      .then(() => {
        this.#checkOpen();
        this.#checkClusterId(request);
        return body();
      })
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback(toServiceError(err) as ServiceError),
      );
  }

  #checkClusterId(request: Wire): void {
    checkClusterId(request, this.#options.clusterId);
  }

  #checkOpen(): void {
    if (this.#closed) throw new RaftkaError('SHUTTING_DOWN', `node ${this.#options.nodeId} is shutting down`);
  }

  /**
   * Refuses open calls with SHUTTING_DOWN (UNAVAILABLE, which peers read as
   * "connection closed" and act on at once), then stops the server.
   */
  async close(graceMs = 200): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const refusal = toServiceError(new RaftkaError('SHUTTING_DOWN', `node ${this.#options.nodeId} is shutting down`));
    for (const queue of this.#pending.values()) {
      for (const call of queue.splice(0)) {
        call.done = true;
        call.callback(refusal as ServiceError);
      }
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Refuses a request of another cluster with INVALID_CLUSTER_ID. */
export function checkClusterId(request: Wire, clusterId: string): void {
  if (request.cluster_id !== clusterId) {
    throw new RaftkaError(
      'INVALID_CLUSTER_ID',
      `request for cluster '${String(request.cluster_id)}' reached cluster '${clusterId}'`,
    );
  }
}

function pendingKey(peer: NodeId, method: RaftMethod): string {
  return `${peer}|${method}`;
}

/** An answer already in its wire bytes; the service definition below passes it through. */
class PreEncoded {
  readonly bytes: Buffer;
  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }
}

let raftService: ServiceDefinition | undefined;

/** The Fetch RPC's own (proto-loader) answer serializer. */
function serializeFetchResponse(): (wire: Wire) => Buffer {
  const serialize = loadServices().Raft.service.Fetch?.responseSerialize;
  assert(serialize !== undefined, 'raftka.raft.v1.Raft has Fetch');
  return serialize as (wire: Wire) => Buffer;
}

/** raftka.raft.v1.Raft whose Fetch answers may come pre-encoded (PreEncoded). */
function raftServiceDefinition(): ServiceDefinition {
  if (raftService) return raftService;
  const base = loadServices().Raft.service;
  const fetch = base.Fetch;
  assert(fetch !== undefined, 'raftka.raft.v1.Raft has Fetch');
  const serialize = fetch.responseSerialize as (value: unknown) => Buffer;
  raftService = {
    ...base,
    Fetch: {
      ...fetch,
      responseSerialize: (value: unknown) => (value instanceof PreEncoded ? value.bytes : serialize(value)),
    },
  };
  return raftService;
}
