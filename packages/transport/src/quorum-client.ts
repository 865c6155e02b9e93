// Client of the raftka.quorum.v1.Quorum service, for tests, the benchmark and
// the CLI. `append` goes to the leader: a NOT_LEADER_OR_FOLLOWER answer names
// the leader's endpoint and the client retries there at once; while no leader
// is known (an election is running) it backs off and tries the next bootstrap
// endpoint, up to `appendTimeoutMs`.
//
// Retries make append at-least-once: an append whose answer was lost (the
// leader died after proposing) may commit and be retried, as with a Kafka
// producer without idempotence. Checks for lost records must allow duplicates.
import type { ServiceError } from '@grpc/grpc-js';
import { assert, type ErrorName, isRaftkaError, RaftkaError } from '@raftka/common';
import type { RaftRole } from '@raftka/raft';
import { fromServiceError, NotLeaderError } from './errors.js';
import type { AppendResult, DescribeQuorumResult, ReadCommittedResult, ReplicaStateView } from './server.js';
import { ServiceClients } from './service-clients.js';
import { entryFromWire, type Wire } from './wire.js';

export interface QuorumClientOptions {
  clusterId: string;
  /** `host:port` of one or more controllers' gRPC listeners. */
  bootstrapEndpoints: string[];
  /** Deadline of one call. */
  requestTimeoutMs?: number;
  /** How long append keeps retrying through elections and redirects. */
  appendTimeoutMs?: number;
  /** Pause before retrying when no leader is known. */
  retryBackoffMs?: number;
  maxMessageBytes?: number;
}

const DEFAULTS = {
  requestTimeoutMs: 5_000,
  appendTimeoutMs: 15_000,
  retryBackoffMs: 50,
  maxMessageBytes: 64 * 1024 * 1024,
};

/**
 * Errors after which an append is retried (at the leader, or the next
 * bootstrap endpoint): no leader here, none reachable, this one is shutting
 * down, or the call timed out. A timed-out append may still commit, so the
 * retry is at-least-once, as said above.
 */
const RETRIABLE_APPEND_ERRORS: ReadonlySet<ErrorName> = new Set<ErrorName>([
  'NOT_LEADER_OR_FOLLOWER',
  'NOT_CONTROLLER',
  'LEADER_NOT_AVAILABLE',
  'NETWORK_EXCEPTION',
  'SHUTTING_DOWN',
  'REQUEST_TIMED_OUT',
]);

export class QuorumClient {
  readonly #options: Required<QuorumClientOptions>;
  readonly #clients: ServiceClients;
  #leaderEndpoint: string | undefined;
  #nextBootstrap = 0;
  #closed = false;

  constructor(options: QuorumClientOptions) {
    assert(options.bootstrapEndpoints.length > 0, 'QuorumClient needs at least one bootstrap endpoint');
    this.#options = { ...DEFAULTS, ...options };
    this.#clients = new ServiceClients('Quorum', this.#options.maxMessageBytes);
  }

  /** The leader's endpoint as last learned, if any. */
  get leaderEndpoint(): string | undefined {
    return this.#leaderEndpoint;
  }

  /** Appends `records` as one batch; resolves once they are committed. */
  async append(records: Uint8Array[]): Promise<AppendResult> {
    const giveUpAt = Date.now() + this.#options.appendTimeoutMs;
    const wireRecords = records.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength));
    let lastError: RaftkaError | undefined;
    for (let attempt = 0; Date.now() < giveUpAt; attempt++) {
      const endpoint = this.#leaderEndpoint ?? this.#bootstrap();
      try {
        const res = await this.#call(endpoint, 'Append', { records: wireRecords });
        this.#leaderEndpoint = endpoint;
        return { epoch: Number(res.epoch), firstOffset: Number(res.first_offset), lastOffset: Number(res.last_offset) };
      } catch (err) {
        if (!isRaftkaError(err)) throw err;
        lastError = err;
        if (err instanceof NotLeaderError && err.leaderEndpoint && err.leaderEndpoint !== endpoint) {
          this.#leaderEndpoint = err.leaderEndpoint;
          continue;
        }
        if (!RETRIABLE_APPEND_ERRORS.has(err.errorName)) throw err;
        this.#leaderEndpoint = undefined;
        await sleep(Math.min(this.#options.retryBackoffMs * 2 ** Math.min(attempt, 4), 500));
      }
    }
    throw new RaftkaError('REQUEST_TIMED_OUT', `append not acknowledged within ${this.#options.appendTimeoutMs} ms`, {
      cause: lastError,
    });
  }

  /** The quorum as the node at `endpoint` (default: the known leader or a bootstrap endpoint) sees it. */
  async describeQuorum(endpoint?: string): Promise<DescribeQuorumResult> {
    const res = await this.#call(endpoint ?? this.#leaderEndpoint ?? this.#bootstrap(), 'DescribeQuorum', {});
    const replica = (w: Wire): ReplicaStateView => ({
      nodeId: Number(w.node_id),
      logEndOffset: Number(w.log_end_offset),
      lastFetchTimeMs: Number(w.last_fetch_time_ms),
      lastCaughtUpTimeMs: Number(w.last_caught_up_time_ms),
    });
    return {
      nodeId: Number(res.node_id),
      role: res.role as RaftRole,
      leaderId: Number(res.leader_id),
      epoch: Number(res.epoch),
      highWatermark: Number(res.high_watermark),
      voters: ((res.voters as Wire[]) ?? []).map(replica),
      observers: ((res.observers as Wire[]) ?? []).map(replica),
    };
  }

  /** One page of committed data entries from `fromOffset`, as the node at `endpoint` has them. */
  async readCommitted(fromOffset: number, maxEntries: number, endpoint?: string): Promise<ReadCommittedResult> {
    const res = await this.#call(endpoint ?? this.#leaderEndpoint ?? this.#bootstrap(), 'ReadCommitted', {
      from_offset: fromOffset,
      max_entries: maxEntries,
    });
    return {
      entries: ((res.entries as Wire[]) ?? []).map(entryFromWire),
      nextOffset: Number(res.next_offset),
      highWatermark: Number(res.high_watermark),
      logStartOffset: Number(res.log_start_offset),
    };
  }

  /** Every committed data entry from `fromOffset` up to the node's high watermark, paging as needed. */
  async readAllCommitted(fromOffset: number, endpoint: string, maxPages = 10_000): Promise<ReadCommittedResult> {
    const first = await this.readCommitted(fromOffset, 10_000, endpoint);
    const entries = [...first.entries];
    let page = first;
    for (let i = 0; i < maxPages && page.nextOffset < page.highWatermark && page.nextOffset > fromOffset; i++) {
      const next = await this.readCommitted(page.nextOffset, 10_000, endpoint);
      if (next.nextOffset <= page.nextOffset) break;
      entries.push(...next.entries);
      page = next;
    }
    return { ...page, entries };
  }

  #bootstrap(): string {
    const endpoints = this.#options.bootstrapEndpoints;
    const endpoint = endpoints[this.#nextBootstrap % endpoints.length];
    this.#nextBootstrap++;
    assert(endpoint !== undefined, 'bootstrap endpoint');
    return endpoint;
  }

  #call(endpoint: string, method: 'Append' | 'DescribeQuorum' | 'ReadCommitted', request: Wire): Promise<Wire> {
    if (this.#closed) return Promise.reject(new RaftkaError('SHUTTING_DOWN', 'QuorumClient is closed'));
    return this.#clients
      .unary(
        endpoint,
        method,
        { ...request, cluster_id: this.#options.clusterId },
        {
          deadlineMs: Date.now() + this.#options.requestTimeoutMs,
        },
      )
      .catch((err: ServiceError) => {
        throw fromServiceError(err, `${method} at ${endpoint}`);
      });
  }

  close(): void {
    this.#closed = true;
    this.#clients.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
