// The consumer: assign() partitions, seek() them (earliest, latest, an offset,
// or a timestamp through ListOffsets), poll() records. No consumer groups and
// no committed offsets: positions live in this object only.
//
// Fetching follows Java's Fetcher: one Fetch per partition leader, for the
// assigned partitions of that leader that have a position and nothing
// buffered, each with the leader epoch we know (current_leader_epoch) so a
// deposed or not-yet-ready leader refuses instead of serving a stale log.
// Fetches are sent when poll() runs and stay in flight across polls; their
// records are buffered per partition and handed out by later polls, so the
// next fetch is under way while the caller works on the current records.
//
// Answers: the records are whole RecordBatch v2 batches starting at or before
// the fetch offset; records below the position are skipped, control batches
// are skipped (the position moves past them). NOT_LEADER_OR_FOLLOWER and
// FENCED_LEADER_EPOCH take the answer's current_leader at once and refresh
// metadata; the other leader errors refresh metadata and back off
// retry.backoff.ms. OFFSET_OUT_OF_RANGE resets the position per
// auto.offset.reset, or with `none` makes poll() throw.
import { batches, decodeBatch, isControl, type RecordHeader } from '@raftka/codec';
import { type ErrorName, errorNameOf, isRaftkaError, RaftkaError } from '@raftka/common';
import {
  BrokerDataClient,
  EARLIEST_TIMESTAMP,
  type FetchPartitionResponseWire,
  type FetchResponseWire,
  LATEST_TIMESTAMP,
} from '@raftka/transport';
import type { TopicPartition } from './accumulator.js';
import { type ConsumerConfig, type ConsumerSettings, validateConsumerConfig } from './consumer-config.js';
import { METADATA_REFRESH_ERRORS, MetadataCache } from './metadata-cache.js';
import { parseBootstrap } from './producer-client.js';

export interface ConsumerRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  /** Views into the fetched bytes (no copies); copy them to keep them past the next poll if memory matters. */
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly RecordHeader[];
  /** The partition leader epoch the batch was written in. */
  readonly leaderEpoch: number;
}

export type SeekTarget = 'earliest' | 'latest' | { offset: number } | { timestamp: number };

export interface ConsumerOptions {
  bootstrap?: readonly string[] | string;
  config?: ConsumerConfig;
  clusterId?: string;
}

interface PartitionState {
  readonly tp: TopicPartition;
  position: number | undefined;
  /** Records fetched and not yet returned, from `bufferedIndex` on. */
  buffered: ConsumerRecord[];
  bufferedIndex: number;
  /** Where to fetch from once the buffer is handed out (past skipped control batches too). */
  nextFetchOffset: number;
  fetchInFlight: boolean;
  /** The broker the fetch in flight went to (-1: none). */
  fetchLeader: number;
  retryAtMs: number;
  highWatermark: number;
  logStartOffset: number;
  /** Thrown by the next poll (OFFSET_OUT_OF_RANGE with auto.offset.reset=none, a corrupt batch). */
  error: RaftkaError | undefined;
  /** Set when OFFSET_OUT_OF_RANGE asked for a reset. */
  resetTo: 'earliest' | 'latest' | undefined;
}

export const tpKey = (tp: TopicPartition): string => `${tp.topic}-${tp.partition}`;

export class Consumer {
  readonly settings: ConsumerSettings;
  readonly #client: BrokerDataClient;
  readonly #metadata: MetadataCache;
  readonly #partitions = new Map<string, PartitionState>();
  readonly #waiters = new Set<() => void>();
  readonly #fetchesInFlight = new Set<number>();
  #closed = false;

  constructor(options: ConsumerOptions = {}) {
    this.settings = validateConsumerConfig(options.config ?? {});
    this.#client = new BrokerDataClient({ clusterId: options.clusterId ?? '' });
    this.#metadata = new MetadataCache(this.#client, {
      bootstrap: parseBootstrap(options.bootstrap, this.settings.bootstrapServers),
      requestTimeoutMs: this.settings.requestTimeoutMs,
      retryBackoffMs: this.settings.retryBackoffMs,
      maxAgeMs: this.settings.metadataMaxAgeMs,
    });
    this.#metadata.onUpdate(() => this.#notify());
  }

  /** Replaces the assignment. Partitions kept keep their position; new ones start per auto.offset.reset. */
  assign(partitions: readonly TopicPartition[]): void {
    this.#checkOpen();
    const next = new Map<string, PartitionState>();
    for (const tp of partitions) {
      const key = tpKey(tp);
      next.set(key, this.#partitions.get(key) ?? newState(tp));
    }
    this.#partitions.clear();
    for (const [k, v] of next) this.#partitions.set(k, v);
    this.#metadata.track(partitions.map((p) => p.topic));
  }

  assignment(): TopicPartition[] {
    return [...this.#partitions.values()].map((s) => s.tp);
  }

  /** The next offset poll() returns for `tp`. Throws OFFSET_NOT_AVAILABLE before the first seek or poll. */
  position(tp: TopicPartition): number {
    const state = this.#state(tp);
    if (state.position === undefined) {
      throw new RaftkaError('OFFSET_NOT_AVAILABLE', `no position yet for ${tpKey(tp)}: seek() or poll() first`);
    }
    return state.position;
  }

  /** Moves the position: to an offset at once, or to earliest / latest / the first record at or after a timestamp. */
  async seek(tp: TopicPartition, target: SeekTarget): Promise<void> {
    this.#checkOpen();
    const state = this.#state(tp);
    let offset: number;
    if (typeof target === 'object' && 'offset' in target) {
      if (!Number.isSafeInteger(target.offset) || target.offset < 0) {
        throw new RaftkaError('INVALID_REQUEST', `seek offset ${target.offset} must be a non-negative integer`);
      }
      offset = target.offset;
    } else {
      const ts = target === 'earliest' ? EARLIEST_TIMESTAMP : target === 'latest' ? LATEST_TIMESTAMP : target.timestamp;
      const found = (await this.#listOffsets([tp], ts)).get(tpKey(tp))!;
      // No record at or after the timestamp: the end of the log, as kafka-console-consumer does.
      offset = found >= 0 ? found : (await this.#listOffsets([tp], LATEST_TIMESTAMP)).get(tpKey(tp))!;
    }
    this.#setPosition(state, offset);
  }

  /** High watermarks, keyed `${topic}-${partition}`. */
  async endOffsets(partitions: readonly TopicPartition[]): Promise<Map<string, number>> {
    this.#checkOpen();
    return this.#listOffsets(partitions, LATEST_TIMESTAMP);
  }

  /** Log start offsets, keyed `${topic}-${partition}`. */
  async beginningOffsets(partitions: readonly TopicPartition[]): Promise<Map<string, number>> {
    this.#checkOpen();
    return this.#listOffsets(partitions, EARLIEST_TIMESTAMP);
  }

  /**
   * Records from the assigned partitions, at most max.poll.records, waiting up
   * to `timeoutMs` for some to arrive; [] when none did. Throws
   * OFFSET_OUT_OF_RANGE (auto.offset.reset=none) or a non-retriable fetch error.
   */
  async poll(timeoutMs = 0): Promise<ConsumerRecord[]> {
    this.#checkOpen();
    const deadlineMs = Date.now() + timeoutMs;
    for (;;) {
      await this.#resetPositions();
      for (const state of this.#partitions.values()) {
        if (state.error !== undefined) {
          const err = state.error;
          state.error = undefined;
          throw err;
        }
      }
      const out = this.#drain();
      this.#sendFetches();
      if (out.length > 0) return out;
      const remainingMs = deadlineMs - Date.now();
      if (remainingMs <= 0 || this.#closed) return [];
      await this.#waitForData(remainingMs);
      this.#checkOpen();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#metadata.close();
    this.#client.close();
    this.#notify();
  }

  // --- Internals ------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#closed) throw new RaftkaError('SHUTTING_DOWN', 'the consumer is closed');
  }

  #state(tp: TopicPartition): PartitionState {
    const state = this.#partitions.get(tpKey(tp));
    if (state === undefined) throw new RaftkaError('INVALID_REQUEST', `${tpKey(tp)} is not assigned to this consumer`);
    return state;
  }

  #setPosition(state: PartitionState, offset: number): void {
    state.position = offset;
    state.nextFetchOffset = offset;
    state.buffered = [];
    state.bufferedIndex = 0;
    state.error = undefined;
    state.resetTo = undefined;
  }

  /** Partitions without a position (new) or that hit OFFSET_OUT_OF_RANGE get one per auto.offset.reset. */
  async #resetPositions(): Promise<void> {
    const byTarget = new Map<'earliest' | 'latest', TopicPartition[]>();
    for (const state of this.#partitions.values()) {
      let target = state.resetTo;
      if (target === undefined && state.position === undefined) {
        if (this.settings.autoOffsetReset === 'none') {
          state.error = new RaftkaError(
            'OFFSET_OUT_OF_RANGE',
            `no position for ${tpKey(state.tp)} and auto.offset.reset=none`,
          );
          continue;
        }
        target = this.settings.autoOffsetReset;
      }
      if (target === undefined) continue;
      let list = byTarget.get(target);
      if (list === undefined) {
        list = [];
        byTarget.set(target, list);
      }
      list.push(state.tp);
    }
    for (const [target, tps] of byTarget) {
      const offsets = await this.#listOffsets(tps, target === 'earliest' ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP);
      for (const tp of tps) {
        const state = this.#partitions.get(tpKey(tp));
        const offset = offsets.get(tpKey(tp));
        if (state !== undefined && offset !== undefined) this.#setPosition(state, offset);
      }
    }
  }

  #drain(): ConsumerRecord[] {
    const max = this.settings.maxPollRecords;
    let out: ConsumerRecord[] = [];
    for (const state of this.#partitions.values()) {
      if (state.bufferedIndex >= state.buffered.length) {
        if (state.buffered.length > 0) this.#finishBuffer(state);
        continue;
      }
      const take = Math.min(max - out.length, state.buffered.length - state.bufferedIndex);
      const slice =
        state.bufferedIndex === 0 && take === state.buffered.length
          ? state.buffered
          : state.buffered.slice(state.bufferedIndex, state.bufferedIndex + take);
      out = out.length === 0 ? slice : out.concat(slice);
      state.bufferedIndex += take;
      state.position = slice[slice.length - 1]!.offset + 1;
      if (state.bufferedIndex >= state.buffered.length) this.#finishBuffer(state);
      if (out.length >= max) break;
    }
    return out;
  }

  #finishBuffer(state: PartitionState): void {
    state.buffered = [];
    state.bufferedIndex = 0;
    state.position = state.nextFetchOffset;
  }

  #sendFetches(): void {
    if (this.#closed) return;
    this.#metadata.maybeRefresh();
    const nowMs = Date.now();
    const byLeader = new Map<number, PartitionState[]>();
    for (const state of this.#partitions.values()) {
      if (state.position === undefined || state.resetTo !== undefined) continue;
      if (state.error !== undefined || state.bufferedIndex < state.buffered.length || state.retryAtMs > nowMs) continue;
      const p = this.#metadata.partition(state.tp.topic, state.tp.partition);
      if (p === undefined || p.leader < 0 || this.#metadata.broker(p.leader) === undefined) {
        this.#metadata.requestUpdate();
        continue;
      }
      // A fetch still out to a former leader (cut off, it may hold on until its deadline) does not
      // hold the partition back: the new leader is asked, and the old answer is judged by position.
      if (state.fetchInFlight && state.fetchLeader === p.leader) continue;
      if (this.#fetchesInFlight.has(p.leader)) continue;
      let list = byLeader.get(p.leader);
      if (list === undefined) {
        list = [];
        byLeader.set(p.leader, list);
      }
      list.push(state);
    }
    for (const [leader, states] of byLeader) this.#fetchFrom(leader, states);
  }

  #fetchFrom(leader: number, states: PartitionState[]): void {
    const broker = this.#metadata.broker(leader)!;
    const topics: {
      topic_id: string;
      name: string;
      partitions: {
        partition: number;
        current_leader_epoch: number;
        fetch_offset: number;
        last_fetched_epoch: number;
        partition_max_bytes: number;
      }[];
    }[] = [];
    const fetchOffsets = new Map<string, number>();
    for (const s of states) {
      const info = this.#metadata.topic(s.tp.topic)!;
      let t = topics.find((x) => x.name === s.tp.topic);
      if (t === undefined) {
        t = { topic_id: info.topicId, name: s.tp.topic, partitions: [] };
        topics.push(t);
      }
      t.partitions.push({
        partition: s.tp.partition,
        current_leader_epoch: info.partitions[s.tp.partition]!.leaderEpoch,
        fetch_offset: s.position!,
        last_fetched_epoch: -1,
        partition_max_bytes: this.settings.maxPartitionFetchBytes,
      });
      s.fetchInFlight = true;
      s.fetchLeader = leader;
      fetchOffsets.set(tpKey(s.tp), s.position!);
    }
    this.#fetchesInFlight.add(leader);
    const s = this.settings;
    const request = {
      replica_id: -1,
      replica_epoch: -1,
      max_wait_ms: s.fetchMaxWaitMs,
      min_bytes: s.fetchMinBytes,
      max_bytes: s.fetchMaxBytes,
      topics,
    };
    this.#client.fetch(broker.endpoint, request, Date.now() + s.fetchMaxWaitMs + s.requestTimeoutMs).then(
      (res) => {
        this.#fetchesInFlight.delete(leader);
        for (const st of states) this.#fetchDone(st, leader);
        if (!this.#closed) this.#onFetchResponse(res, fetchOffsets);
        this.#notify();
      },
      (err: unknown) => {
        this.#fetchesInFlight.delete(leader);
        const retryAtMs = Date.now() + this.settings.retryBackoffMs;
        for (const st of states) {
          if (st.fetchLeader !== leader) continue;
          this.#fetchDone(st, leader);
          st.retryAtMs = retryAtMs;
        }
        if (!isRaftkaError(err) || err.retriable || METADATA_REFRESH_ERRORS.has(err.errorName)) {
          this.#metadata.requestUpdate();
        } else if (!this.#closed) {
          for (const st of states) st.error = err;
        }
        this.#notify();
      },
    );
  }

  #fetchDone(state: PartitionState, leader: number): void {
    if (state.fetchLeader !== leader) return;
    state.fetchInFlight = false;
    state.fetchLeader = -1;
  }

  #onFetchResponse(res: FetchResponseWire, fetchOffsets: Map<string, number>): void {
    let refresh = false;
    for (const t of res.topics ?? []) {
      for (const p of t.partitions ?? []) {
        const key = `${t.name}-${p.partition}`;
        const state = this.#partitions.get(key);
        // Unassigned or moved by seek() while the fetch was out: the answer is for a position we left.
        if (state === undefined || state.position !== fetchOffsets.get(key)) continue;
        if (p.error_code === 0) {
          this.#acceptRecords(state, p);
          continue;
        }
        const name = errorNameOf(p.error_code);
        if (this.#onPartitionError(state, name, p)) refresh = true;
      }
    }
    if (refresh) this.#metadata.requestUpdate();
  }

  /** Returns whether metadata must be refreshed. */
  #onPartitionError(state: PartitionState, name: ErrorName, p: FetchPartitionResponseWire): boolean {
    if (name === 'OFFSET_OUT_OF_RANGE') {
      const reset = this.settings.autoOffsetReset;
      if (reset === 'none') {
        state.error = new RaftkaError(
          'OFFSET_OUT_OF_RANGE',
          `Fetch position ${state.position} is out of range for partition ${tpKey(state.tp)} (log start ${p.log_start_offset}, high watermark ${p.high_watermark})`,
        );
      } else {
        state.resetTo = reset;
      }
      return false;
    }
    if (METADATA_REFRESH_ERRORS.has(name) || new RaftkaError(name, '').retriable) {
      const leader = p.current_leader;
      if (leader != null && leader.leader_id >= 0) {
        this.#metadata.updateLeader(state.tp.topic, state.tp.partition, leader.leader_id, leader.leader_epoch);
      }
      state.retryAtMs = Date.now() + this.settings.retryBackoffMs;
      return true;
    }
    state.error = new RaftkaError(name, p.error_message || `${name} fetching ${tpKey(state.tp)}`);
    return false;
  }

  #acceptRecords(state: PartitionState, p: FetchPartitionResponseWire): void {
    state.highWatermark = p.high_watermark;
    state.logStartOffset = p.log_start_offset;
    const bytes = p.records;
    if (bytes == null || bytes.length === 0) return;
    const position = state.position!;
    let next = position;
    const records: ConsumerRecord[] = [];
    const { topic, partition } = state.tp;
    try {
      for (const view of batches(bytes, { allowPartialTail: true })) {
        const h = view.header;
        const lastOffset = h.baseOffset + h.lastOffsetDelta;
        if (lastOffset < position) continue;
        if (isControl(h.attributes)) {
          next = lastOffset + 1;
          continue;
        }
        const decoded = decodeBatch(view.bytes, { verifyCrc: this.settings.checkCrcs });
        const epoch = h.partitionLeaderEpoch;
        for (const r of decoded.records) {
          if (r.offset < position) continue;
          records.push({
            topic,
            partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers,
            leaderEpoch: epoch,
          });
        }
        next = lastOffset + 1;
      }
    } catch (err) {
      if (records.length === 0) {
        state.error = isRaftkaError(err) ? err : new RaftkaError('CORRUPT_MESSAGE', String(err));
        return;
      }
      // Hand out what decoded; the next fetch starts at the bad batch and reports it.
    }
    state.buffered = records;
    state.bufferedIndex = 0;
    state.nextFetchOffset = next;
    if (records.length === 0) state.position = next;
  }

  async #listOffsets(partitions: readonly TopicPartition[], timestamp: number): Promise<Map<string, number>> {
    const deadlineMs = Date.now() + this.settings.requestTimeoutMs;
    const result = new Map<string, number>();
    let todo = [...partitions];
    this.#metadata.track(todo.map((tp) => tp.topic));
    let lastError: unknown;
    for (;;) {
      this.#checkOpen();
      if (todo.some((tp) => this.#metadata.leaderOf(tp.topic, tp.partition) === undefined)) {
        try {
          await this.#metadata.refresh();
        } catch (err) {
          lastError = err;
        }
      }
      const byLeader = new Map<number, TopicPartition[]>();
      const retry: TopicPartition[] = [];
      for (const tp of todo) {
        const leader = this.#metadata.partition(tp.topic, tp.partition)?.leader ?? -1;
        if (leader < 0 || this.#metadata.broker(leader) === undefined) {
          const info = this.#metadata.topic(tp.topic);
          if (info !== undefined && info.error === null && tp.partition >= info.partitions.length) {
            throw new RaftkaError('UNKNOWN_TOPIC_OR_PARTITION', `${tpKey(tp)} does not exist`);
          }
          retry.push(tp);
          continue;
        }
        let list = byLeader.get(leader);
        if (list === undefined) {
          list = [];
          byLeader.set(leader, list);
        }
        list.push(tp);
      }
      await Promise.all(
        [...byLeader].map(async ([leader, tps]) => {
          try {
            const res = await this.#client.listOffsets(
              this.#metadata.broker(leader)!.endpoint,
              {
                replica_id: -1,
                topics: groupByTopic(tps).map(([name, ps]) => ({
                  name,
                  partitions: ps.map((partition) => ({
                    partition,
                    current_leader_epoch: this.#metadata.partition(name, partition)?.leaderEpoch ?? -1,
                    timestamp,
                  })),
                })),
              },
              Date.now() + this.settings.requestTimeoutMs,
            );
            for (const tp of tps) {
              const p = res.topics
                ?.find((t) => t.name === tp.topic)
                ?.partitions?.find((x) => x.partition === tp.partition);
              if (p === undefined) {
                retry.push(tp);
                continue;
              }
              if (p.error_code === 0) {
                result.set(tpKey(tp), p.offset);
                continue;
              }
              const name = errorNameOf(p.error_code);
              const err = new RaftkaError(name, p.error_message || `${name} listing offsets of ${tpKey(tp)}`);
              if (!err.retriable && !METADATA_REFRESH_ERRORS.has(name)) throw err;
              lastError = err;
              retry.push(tp);
            }
          } catch (err) {
            if (isRaftkaError(err) && !err.retriable) throw err;
            lastError = err;
            retry.push(...tps);
          }
        }),
      );
      if (retry.length === 0) return result;
      todo = retry;
      this.#metadata.requestUpdate();
      if (Date.now() + this.settings.retryBackoffMs >= deadlineMs) {
        throw isRaftkaError(lastError)
          ? lastError
          : new RaftkaError('REQUEST_TIMED_OUT', `ListOffsets for ${todo.map(tpKey).join(', ')} did not complete`);
      }
      await sleep(this.settings.retryBackoffMs);
    }
  }

  #notify(): void {
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }

  /** Until a fetch answers, metadata changes, a back-off ends, or `timeoutMs`. */
  #waitForData(timeoutMs: number): Promise<void> {
    let waitMs = timeoutMs;
    const nowMs = Date.now();
    for (const s of this.#partitions.values()) {
      if (s.retryAtMs > nowMs) waitMs = Math.min(waitMs, s.retryAtMs - nowMs);
    }
    // Nothing in flight (no leader known yet): look again after a back-off rather than sleep the whole timeout.
    if (this.#fetchesInFlight.size === 0) waitMs = Math.min(waitMs, this.settings.retryBackoffMs);
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#waiters.add(done);
    });
  }
}

function newState(tp: TopicPartition): PartitionState {
  return {
    tp: { topic: tp.topic, partition: tp.partition },
    position: undefined,
    buffered: [],
    bufferedIndex: 0,
    nextFetchOffset: 0,
    fetchInFlight: false,
    fetchLeader: -1,
    retryAtMs: 0,
    highWatermark: -1,
    logStartOffset: -1,
    error: undefined,
    resetTo: undefined,
  };
}

function groupByTopic(tps: readonly TopicPartition[]): [string, number[]][] {
  const m = new Map<string, number[]>();
  for (const tp of tps) {
    let l = m.get(tp.topic);
    if (l === undefined) {
      l = [];
      m.set(tp.topic, l);
    }
    l.push(tp.partition);
  }
  return [...m];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
