// One replica fetcher per source broker (Kafka's ReplicaFetcherThread): a
// loop that sends one long-polling Fetch for every partition this broker
// follows from that leader, hands each partition's answer to the replica
// manager (append, learn the HW, or truncate), and goes again at once.
//
// A partition that moves to another leader leaves this fetcher between two
// requests; an answer that arrives for a partition no longer ours (or for an
// older follower state of it) is dropped, so a late answer from a deposed
// leader never reaches the log. A partition whose fetch failed backs off
// alone (replica.fetch.backoff.ms); a failed RPC backs off the whole fetcher.
import { isRaftkaError } from '@raftka/common';
import type { Logger } from '@raftka/observability';
import type { FollowerFetchRequest, FollowerPartitionState } from '@raftka/replication';
import type {
  BrokerDataClient,
  FetchPartitionResponseWire,
  FetchPartitionWire,
  FetchRequestWire,
} from '@raftka/transport';
import type { Partition } from './partition.js';
import type { ReplicaManagerConfig } from './replica-manager.js';

export interface ReplicaFetcherHost {
  readonly config: ReplicaManagerConfig;
  /** Shared by every fetcher: one channel per leader endpoint. */
  readonly dataClient: BrokerDataClient;
  endpointOf(brokerId: number): string | undefined;
  onFollowerFetchResponse(p: Partition, request: FollowerFetchRequest, r: FetchPartitionResponseWire): 'ok' | 'backoff';
}

interface Entry {
  partition: Partition;
  /** Not fetched again before this time (ms). */
  backoffUntilMs: number;
  /** The leader's HW as last answered, for the lag gauge. */
  leaderHighWatermark: number;
}

/** A fetch out this long without an answer is taken to be parked in a long poll (see add()). */
const PARKED_POLL_MS = 100;

export class ReplicaFetcher {
  readonly leaderId: number;
  readonly #host: ReplicaFetcherHost;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();
  readonly #client: BrokerDataClient;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** Resolves the idle wait when a partition is added or the fetcher stops. */
  #kick: (() => void) | undefined;
  /** Cancels the fetch in flight, if any. */
  #inFlight: AbortController | undefined;
  #inFlightSentMs = 0;
  #lastAddMs = 0;
  #resendScheduled = false;

  constructor(host: ReplicaFetcherHost, leaderId: number, logger: Logger) {
    this.#host = host;
    this.leaderId = leaderId;
    this.#log = logger.child({ component: 'replica-fetcher', leader: leaderId });
    this.#client = host.dataClient;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  get size(): number {
    return this.#entries.size;
  }

  add(p: Partition): void {
    this.#entries.set(p.key, { partition: p, backoffUntilMs: 0, leaderHighWatermark: -1 });
    this.#running ??= this.#run();
    this.#kick?.();
    // The long poll in flight does not carry this partition, and on a quiet
    // leader it may wait replica.fetch.wait.max.ms before answering: after a
    // failover that wait would hold up every acks=all write to the partitions
    // that just moved. Re-send it instead, once per burst of adds (a leader
    // change adds hundreds in one metadata batch), but only once it has been
    // out PARKED_POLL_MS: a fetch that finds data answers at once, and
    // cancelling those threw away a full answer (replica.fetch.response.max.bytes
    // read, encoded and sent) each time a restarted follower opened another
    // slice of its logs; the leaders then stalled for seconds and missed
    // their heartbeats.
    this.#lastAddMs = Date.now();
    if (this.#inFlight !== undefined && !this.#resendScheduled) {
      this.#resendScheduled = true;
      setTimeout(
        () => {
          this.#resendScheduled = false;
          // A request sent after the last add carries every partition already.
          if (this.#inFlight !== undefined && this.#inFlightSentMs <= this.#lastAddMs) this.#inFlight.abort();
        },
        Math.max(0, this.#inFlightSentMs + PARKED_POLL_MS - this.#lastAddMs),
      ).unref();
    }
  }

  remove(p: Partition): void {
    this.#entries.delete(p.key);
  }

  lagOf(p: Partition): number {
    const e = this.#entries.get(p.key);
    if (e === undefined || e.leaderHighWatermark < 0) return 0;
    return Math.max(0, e.leaderHighWatermark - p.log.logEndOffset);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#kick?.();
    await this.#running;
  }

  async #run(): Promise<void> {
    const config = this.#host.config;
    // Bounded by stop(): every iteration either sends a fetch or waits.
    while (!this.#stopped) {
      const now = Date.now();
      const sent: { entry: Entry; state: FollowerPartitionState; request: FollowerFetchRequest }[] = [];
      const topics = new Map<string, { topic_id: string; name: string; partitions: FetchPartitionWire[] }>();
      let nextBackoffMs = Number.POSITIVE_INFINITY;
      for (const entry of this.#entries.values()) {
        const p = entry.partition;
        const state = p.follower;
        if (state === undefined || state.leaderId !== this.leaderId || p.closed) {
          this.#entries.delete(p.key);
          continue;
        }
        if (entry.backoffUntilMs > now) {
          nextBackoffMs = Math.min(nextBackoffMs, entry.backoffUntilMs);
          continue;
        }
        const request = state.buildFetch(p.logView());
        sent.push({ entry, state, request });
        let topic = topics.get(p.topicId);
        if (topic === undefined) {
          topic = { topic_id: p.topicId, name: p.topicName, partitions: [] };
          topics.set(p.topicId, topic);
        }
        topic.partitions.push({
          partition: p.partition,
          current_leader_epoch: request.currentLeaderEpoch,
          fetch_offset: request.fetchOffset,
          last_fetched_epoch: request.lastFetchedEpoch,
          partition_max_bytes: config.replicaFetchMaxBytes,
        });
      }
      if (this.#entries.size === 0) {
        // Idle fetchers are dropped by the manager when it next needs this leader.
        this.#stopped = true;
        break;
      }
      const endpoint = this.#host.endpointOf(this.leaderId);
      if (sent.length === 0 || endpoint === undefined) {
        const waitMs = endpoint === undefined ? config.replicaFetchBackoffMs : Math.max(1, nextBackoffMs - now);
        await this.#idle(waitMs);
        continue;
      }
      const wire: Omit<FetchRequestWire, 'cluster_id'> = {
        replica_id: config.brokerId,
        replica_epoch: config.controller.brokerEpoch(),
        // A partition backing off is not in this request: the long poll must not outlast its
        // backoff, or a follower that asked a new leader too early waits out replica.fetch.wait.max.ms.
        max_wait_ms: Math.max(0, Math.min(config.replicaFetchWaitMaxMs, nextBackoffMs - now)),
        min_bytes: config.replicaFetchMinBytes,
        max_bytes: config.replicaFetchResponseMaxBytes,
        topics: [...topics.values()],
      };
      let answer: Awaited<ReturnType<BrokerDataClient['fetch']>>;
      const inFlight = new AbortController();
      this.#inFlight = inFlight;
      this.#inFlightSentMs = Date.now();
      try {
        answer = await this.#client.fetch(
          endpoint,
          wire,
          Date.now() + config.replicaFetchWaitMaxMs + config.requestTimeoutMs,
          inFlight.signal,
        );
      } catch (err) {
        if (this.#stopped) break;
        if (inFlight.signal.aborted) continue; // cancelled by add(): ask again with the new partitions
        this.#log.debug(
          { err: isRaftkaError(err) ? err.message : String(err), endpoint },
          'fetch from the leader failed; backing off',
        );
        await this.#idle(config.replicaFetchBackoffMs);
        continue;
      } finally {
        this.#inFlight = undefined;
      }
      if (this.#stopped) break;
      const byKey = new Map<string, FetchPartitionResponseWire>();
      for (const t of answer.topics) for (const r of t.partitions) byKey.set(`${t.topic_id}:${r.partition}`, r);
      const backoffUntil = Date.now() + config.replicaFetchBackoffMs;
      for (const { entry, state, request } of sent) {
        const p = entry.partition;
        // Moved to another leader, deleted, or a new epoch while the request was out: the answer is stale.
        if (this.#entries.get(p.key) !== entry || p.follower !== state || p.closed) continue;
        const r = byKey.get(p.key);
        if (r === undefined) continue;
        if (r.error_code === 0) entry.leaderHighWatermark = r.high_watermark;
        const outcome = this.#host.onFollowerFetchResponse(p, request, r);
        if (outcome === 'backoff') entry.backoffUntilMs = backoffUntil;
        if (r.records.length > 0) {
          // The leader fills an answer in request order until replica.fetch.response.max.bytes:
          // a partition that got data goes to the back of the next request, as Kafka's fetch
          // sessions do, so a follower catching up on many partitions starves none of them.
          this.#entries.delete(p.key);
          this.#entries.set(p.key, entry);
        }
      }
    }
  }

  #idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#kick = () => {
        this.#kick = undefined;
        done();
      };
    });
  }
}
