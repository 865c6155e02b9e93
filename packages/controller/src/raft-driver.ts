// The Raft driver: runs one sans-IO RaftNode (@raftka/raft) over level storage
// (@raftka/storage) and gRPC (@raftka/transport), for a voter (a controller)
// or an observer (a broker following the metadata log). The controller node
// and the broker's metadata observer both run on it.
//
// The loop follows the Ready contract of the core exactly, one Ready at a
// time:
//
//   event (message, timer, proposal, disconnect) -> step it into the core
//   while core.hasReady():
//     r = core.ready()
//     persist r (quorum state, truncation, snapshot, deletion, entries) as
//       one level batch, fsynced when r.mustSync      <- durable before visible
//     send r.messages (requests to peer channels, responses to open calls)
//     apply r.installSnapshot, then r.committed, to the state machine
//     core.advance(r)
//   arm the timer for core.nextDeadlineMs()
//
// Events that arrive while a Ready is being persisted are stepped into the
// core at once (it accepts them) and drained by the same loop afterwards.
//
// A voter listens: its TransportServer answers the other voters' Raft calls
// and carries whatever client-facing services its owner adds. An observer
// has no server of its own; it only fetches, from the voters, and the core
// finds and follows the leader (an observer without a leader asks the voters
// in turn). Its channels go to every voter.
//
// `append` batches records for appendLingerMs (controller.quorum.append.linger.ms)
// into one propose() and hence one fsync: this is what makes many appends in
// flight cheap. An append resolves once the high watermark passes its last
// offset; if this node stops leading first, it is rejected with
// NOT_LEADER_OR_FOLLOWER (the entry may still commit under the next leader, so
// a retry is at-least-once). Owners that propose themselves (the controller
// engine) call `raft.propose` and then `kick()`.
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { assert, isRaftkaError, RaftkaError, SeededRandom } from '@raftka/common';
import type { Logger } from '@raftka/observability';
import {
  type LogEntry,
  type NodeId,
  type QuorumDescription,
  type RaftConfig,
  type RaftMessage,
  RaftNode,
  type RaftRole,
  type Ready,
  type Snapshot,
} from '@raftka/raft';
import { RaftStorage } from '@raftka/storage';
import {
  type AppendResult,
  type ExtraService,
  isRequest,
  NotLeaderError,
  PeerChannel,
  type QuorumHandlers,
  type ReadCommittedResult,
  raftMaxMessageBytes,
  TransportServer,
} from '@raftka/transport';
import { DeadlineTimer } from './deadline-timer.js';
import { RaftMetrics } from './metrics.js';
import type { StateMachine } from './state-machine.js';

export interface VoterEndpoint {
  nodeId: NodeId;
  host: string;
  port: number;
}

/** KRaft's directory name for the metadata log under metadata.log.dir. */
export const METADATA_LOG_DIR_NAME = '__cluster_metadata-0';

export interface RaftDriverListener {
  /** Where the gRPC server listens (0 = a free port; see `port`). */
  host: string;
  port: number;
  /**
   * The client-facing Quorum service (Append, DescribeQuorum, ReadCommitted):
   * `raw-appends` also takes raw records through Append (the key-value test
   * state machine, the quorum benchmark); `read-only` refuses Append because
   * the log holds metadata records that only the control plane may write.
   */
  quorum?: 'raw-appends' | 'read-only';
  /** More services on the same listener. */
  services?: readonly ExtraService[];
}

export interface RaftDriverConfig {
  nodeId: NodeId;
  /** Every RPC carries it; other clusters are refused. */
  clusterId: string;
  /** controller.quorum.voters. A node not among them is an observer. */
  voters: VoterEndpoint[];
  /** metadata.log.dir: the level database lives under it. */
  metadataLogDir: string;
  /** Timeouts etc.; Kafka key names map onto these. */
  raft: Omit<RaftConfig, 'nodeId' | 'voters'>;
  /** metadata.log.max.record.bytes.between.snapshots. */
  snapshotMaxBytesBetween: number;
  /** controller.quorum.append.linger.ms, for `append`. */
  appendLingerMs: number;
  /** A voter's listener; an observer has none (omit it). */
  listener?: RaftDriverListener;
  logger: Logger;
  /** Where the raft metrics go; a new registry by default. */
  metrics?: RaftMetrics;
  /**
   * Called when the node cannot go on (a storage write failed, an assertion
   * tripped). Default: rethrow on the next tick, crashing the process so its
   * supervisor restarts it, as Kafka halts on a metadata log IO error.
   */
  onFatalError?: (err: unknown) => void;
}

export interface RaftStatus {
  role: RaftRole;
  epoch: number;
  leaderId: NodeId;
  highWatermark: number;
  logEndOffset: number;
}

export interface RaftRoleChange {
  role: RaftRole;
  epoch: number;
  leaderId: NodeId;
  previousRole: RaftRole | undefined;
  previousLeaderId: NodeId;
  /** The endpoint of `leaderId`, when it is a voter. */
  leaderEndpoint: string | undefined;
}

export interface RaftDriverHooks {
  /**
   * The role, epoch or leader changed. Called after the Ready that changed
   * it was persisted and applied, outside the core; may propose and kick.
   */
  onRoleChange?(change: RaftRoleChange): void;
  /** After the loop went idle (every Ready drained); for owners' own timers. */
  onIdle?(): void;
}

const MAX_IN_FLIGHT_PER_PEER = 64;
const LINGER_MAX_RECORDS = 10_000;
const LINGER_MAX_BYTES = 4 * 1024 * 1024;
const CLIENT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** How long a resigning leader waits for its EndQuorumEpoch calls before closing. */
const RESIGN_FLUSH_MAX_MS = 500;

/** Monotonic milliseconds on the Unix epoch scale, so appendTimeMs reads like a timestamp. */
export function driverNowMs(): number {
  return performance.timeOrigin + performance.now();
}

interface PendingAppend {
  epoch: number;
  lastOffset: number;
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (err: unknown) => void;
}

interface LingerWaiter {
  count: number;
  resolve: (result: AppendResult) => void;
  reject: (err: unknown) => void;
}

export class RaftDriver {
  readonly nodeId: NodeId;
  readonly stateMachine: StateMachine;
  readonly metrics: RaftMetrics;
  /** Whether this node is an observer (not in the voter set): no server, never votes. */
  readonly isObserver: boolean;
  readonly #config: RaftDriverConfig;
  readonly #hooks: RaftDriverHooks;
  readonly #log: Logger;
  readonly #endpoints = new Map<NodeId, string>();
  readonly #voterIds: ReadonlySet<NodeId>;
  readonly #peers = new Map<NodeId, PeerChannel>();
  #raft!: RaftNode;
  #storage!: RaftStorage;
  #server: TransportServer | undefined;

  #loop: Promise<void> | undefined;
  readonly #timer = new DeadlineTimer(driverNowMs, () => this.#onTimer());
  #started = false;
  #stopping = false;
  #stopped = false;
  #shutdown: Promise<void> | undefined;

  #linger: { records: Uint8Array[]; bytes: number; waiters: LingerWaiter[] } = { records: [], bytes: 0, waiters: [] };
  #lingerTimer: NodeJS.Timeout | undefined;
  #lingerImmediate: NodeJS.Immediate | undefined;
  /** Appends proposed and not yet committed, in offset order. */
  #pending: PendingAppend[] = [];

  #lastRole: RaftRole | undefined;
  #lastEpoch = -1;
  #lastLeaderId: NodeId = -1;
  #leaderLostAtMs: number | undefined;
  #bytesSinceSnapshot = 0;
  #lastAppliedEpoch = 0;

  constructor(config: RaftDriverConfig, stateMachine: StateMachine, hooks: RaftDriverHooks = {}) {
    assert(config.voters.length > 0, 'controller.quorum.voters is empty');
    assert(config.appendLingerMs >= 0, 'appendLingerMs must not be negative');
    assert(config.snapshotMaxBytesBetween > 0, 'snapshotMaxBytesBetween must be positive');
    this.nodeId = config.nodeId;
    this.#config = config;
    this.#hooks = hooks;
    this.stateMachine = stateMachine;
    this.isObserver = !config.voters.some((v) => v.nodeId === config.nodeId);
    assert(
      this.isObserver || config.listener !== undefined,
      () => `voter ${config.nodeId} needs a listener for the other voters' Raft calls`,
    );
    this.#log = config.logger.child({ component: 'raft' });
    this.metrics = config.metrics ?? new RaftMetrics(config.nodeId);
    for (const voter of config.voters) this.#endpoints.set(voter.nodeId, `${voter.host}:${voter.port}`);
    this.#voterIds = new Set(config.voters.map((v) => v.nodeId));
  }

  /** The core; owners may propose on it (then call `kick()`) and read its state. Valid after `start()`. */
  get raft(): RaftNode {
    return this.#raft;
  }

  /** The gRPC port of a voter (the listener's port may be 0 in tests); -1 for an observer. */
  get port(): number {
    return this.#server?.port ?? -1;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** `host:port` of a voter's listener, as configured. */
  endpointOf(nodeId: NodeId): string | undefined {
    return this.#endpoints.get(nodeId);
  }

  async start(): Promise<void> {
    assert(!this.#started, 'RaftDriver.start() called twice');
    this.#started = true;
    const config = this.#config;
    const dir = join(config.metadataLogDir, METADATA_LOG_DIR_NAME);
    this.#storage = await RaftStorage.open(dir, { clusterId: config.clusterId, nodeId: config.nodeId });
    try {
      const persisted = await this.#storage.load();
      const seed = randomInt(0, 2 ** 31);
      const raftConfig: RaftConfig = {
        // This driver sends Ready.earlyMessages, so the leader may answer
        // fetches before its own fsync and the two fsyncs of a commit overlap
        // (safe: the leader counts only its persisted log toward the HW; the
        // simulator runs both settings).
        leaderEarlyFetchResponses: true,
        ...config.raft,
        nodeId: config.nodeId,
        voters: config.voters.map((v) => v.nodeId),
      };
      this.#raft = new RaftNode(raftConfig, persisted, new SeededRandom(seed), driverNowMs());
      this.#log.info(
        {
          dir,
          seed,
          observer: this.isObserver,
          epoch: persisted.quorumState.epoch,
          votedId: persisted.quorumState.votedId,
          leaderId: persisted.quorumState.leaderId,
          snapshotEndOffset: persisted.snapshot?.id.endOffset ?? null,
          entries: persisted.entries.length,
        },
        'metadata log loaded',
      );

      const maxMessageBytes = raftMaxMessageBytes(config.raft.fetchMaxBytes, config.raft.snapshotChunkBytes);
      for (const voter of config.voters) {
        if (voter.nodeId === config.nodeId) continue;
        this.#peers.set(
          voter.nodeId,
          new PeerChannel({
            selfId: config.nodeId,
            peer: voter,
            clusterId: config.clusterId,
            requestTimeoutMs: config.raft.requestTimeoutMs,
            maxInFlight: MAX_IN_FLIGHT_PER_PEER,
            maxMessageBytes,
            onMessage: (message) => this.#onMessage(message),
            onDisconnect: (peer) => this.#onPeerDisconnected(peer),
            onCallError: (peer, method, err) =>
              this.#log.debug({ peer, method, code: err.code, details: err.details }, 'raft call failed'),
          }),
        );
      }
      const listener = config.listener;
      if (listener) {
        this.#server = await TransportServer.start({
          nodeId: config.nodeId,
          clusterId: config.clusterId,
          host: listener.host,
          port: listener.port,
          maxMessageBytes: Math.max(maxMessageBytes, CLIENT_MAX_MESSAGE_BYTES),
          ...(this.isObserver ? {} : { onRaftRequest: (request: RaftMessage) => this.#onMessage(request) }),
          ...(listener.quorum ? { quorum: this.#quorumHandlers(listener.quorum === 'raw-appends') } : {}),
          ...(listener.services ? { services: listener.services } : {}),
        });
      }
    } catch (err) {
      await this.#closeResources();
      throw err;
    }
    this.#leaderLostAtMs = driverNowMs();
    this.#observe();
    this.kick();
  }

  // --- Events ---------------------------------------------------------------

  #onMessage(message: RaftMessage): void {
    if (this.#stopped) return;
    this.#raft.step(message, driverNowMs());
    this.kick();
  }

  #onPeerDisconnected(peer: NodeId): void {
    this.metrics.peerDisconnects.inc({ peer: String(peer) });
    if (this.#stopped) return;
    const isLeader = peer === this.#raft.leaderId;
    this.#log.info({ peer, wasLeader: isLeader, epoch: this.#raft.epoch }, 'connection to peer closed');
    this.#raft.peerDisconnected(peer, driverNowMs());
    this.kick();
  }

  #onTimer(): void {
    if (this.#stopped) return;
    this.#raft.tick(driverNowMs());
    this.kick();
  }

  // --- The Ready loop -----------------------------------------------------------

  /**
   * Drains the core if nothing is draining it yet; otherwise the running loop
   * picks the event up. Call after stepping, proposing or resigning on `raft`.
   */
  kick(): void {
    if (this.#loop || this.#stopped) return;
    if (!this.#raft.hasReady()) {
      this.#observe();
      this.#armTimer();
      this.#hooks.onIdle?.();
      return;
    }
    this.#loop = this.#drain().then(
      () => {
        this.#loop = undefined;
        if (this.#stopped) return;
        this.#observe();
        this.#armTimer();
        // A hook or a timer due while we persisted may have left work.
        if (this.#raft.hasReady()) this.kick();
        else this.#hooks.onIdle?.();
      },
      (err: unknown) => {
        this.#loop = undefined;
        this.#fatal(err);
      },
    );
  }

  async #drain(): Promise<void> {
    while (this.#raft.hasReady()) {
      const ready = this.#raft.ready();
      // A leader's fetch answers that the core allows out before the fsync.
      if (ready.earlyMessages && ready.earlyMessages.length > 0) this.#send(ready.earlyMessages);
      // 1. Durable before visible: the batch is fsynced before any message leaves.
      await this.#storage.persist(ready);
      // 2. Send.
      this.#send(ready.messages);
      // 3. Apply.
      this.#apply(ready);
      // 4. Advance: the core may now count these entries (a leader's own log
      //    toward the HW) and hand out the next Ready.
      this.#raft.advance(ready, driverNowMs());
      this.metrics.readyIterations.inc();
      if (!this.#stopped) {
        this.#observe();
        this.#settlePending();
        await this.#maybeSnapshot();
      }
    }
  }

  #send(messages: readonly RaftMessage[]): void {
    // Answers to voters go first: only their fetches move the high watermark,
    // and each answer (thousands of entries after a broker failure) is
    // encoded when it is handed over, so observers wait behind voters.
    let observers: RaftMessage[] | undefined;
    for (const message of messages) {
      if (message.type === 'FetchResponse' && !this.#voterIds.has(message.to)) {
        observers ??= [];
        observers.push(message);
      } else {
        this.#sendOne(message);
      }
    }
    if (observers) for (const message of observers) this.#sendOne(message);
  }

  #sendOne(message: RaftMessage): void {
    if (isRequest(message)) {
      const peer = this.#peers.get(message.to);
      if (!peer) {
        this.#log.debug({ to: message.to, type: message.type }, 'no channel to peer; request dropped');
        return;
      }
      if (!peer.send(message)) this.metrics.droppedRequests.inc({ peer: String(message.to) });
    } else if (this.#server && !this.isObserver) {
      // A response completes the inbound call it answers (or is dropped if the caller gave up).
      this.#server.respond(message);
    }
  }

  #apply(ready: Ready): void {
    if (ready.installSnapshot) {
      this.stateMachine.restore(ready.installSnapshot);
      this.#lastAppliedEpoch = ready.installSnapshot.id.epoch;
      this.#bytesSinceSnapshot = 0;
      this.#log.info(
        { endOffset: ready.installSnapshot.id.endOffset, epoch: ready.installSnapshot.id.epoch },
        'state machine restored from snapshot',
      );
    }
    if (ready.entries.length > 0 && this.#raft.role !== 'leader') this.metrics.fetchRecords.inc(ready.entries.length);
    if (ready.committed.length === 0) return;
    this.stateMachine.apply(ready.committed);
    const last = ready.committed[ready.committed.length - 1] as LogEntry;
    this.#lastAppliedEpoch = last.epoch;
    let bytes = 0;
    for (const entry of ready.committed) if (entry.kind === 'data') bytes += entry.data.byteLength;
    this.#bytesSinceSnapshot += bytes;
    this.#observeCommitLatency(ready.committed);
  }

  /** One observation per proposal batch: the entries of one propose() share their appendTimeMs. */
  #observeCommitLatency(committed: readonly LogEntry[]): void {
    if (this.#raft.role !== 'leader') return;
    const epoch = this.#raft.epoch;
    const now = driverNowMs();
    let previous = Number.NaN;
    for (const entry of committed) {
      if (entry.epoch !== epoch || entry.appendTimeMs === previous) continue;
      previous = entry.appendTimeMs;
      const seconds = (now - entry.appendTimeMs) / 1000;
      if (seconds >= 0 && seconds < 3600) this.metrics.commitLatency.observe(seconds);
    }
  }

  async #maybeSnapshot(): Promise<void> {
    if (this.#bytesSinceSnapshot < this.#config.snapshotMaxBytesBetween) return;
    const endOffset = this.stateMachine.appliedOffset;
    if (endOffset <= this.#raft.logStartOffset || endOffset > this.#raft.highWatermark) return;
    const snapshot: Snapshot = { id: { endOffset, epoch: this.#lastAppliedEpoch }, data: this.stateMachine.snapshot() };
    // Stored (synced) first: the core may delete the log below it once told.
    await this.#storage.saveSnapshot(snapshot);
    this.#raft.snapshotTaken(snapshot);
    this.#bytesSinceSnapshot = 0;
    this.metrics.snapshots.inc();
    this.#log.info({ endOffset, epoch: snapshot.id.epoch, bytes: snapshot.data.byteLength }, 'snapshot taken');
  }

  #armTimer(): void {
    this.#timer.arm(this.#raft.nextDeadlineMs());
  }

  /** Role, epoch and leader changes: logs, metrics, hooks, and failing appends that can no longer be acknowledged here. */
  #observe(): void {
    const raft = this.#raft;
    const role = raft.role;
    const epoch = raft.epoch;
    const leaderId = raft.leaderId;
    if (role !== this.#lastRole || epoch !== this.#lastEpoch || leaderId !== this.#lastLeaderId) {
      const now = driverNowMs();
      const previousRole = this.#lastRole;
      const previousLeaderId = this.#lastLeaderId;
      this.#log.info(
        { from: previousRole ?? null, to: role, epoch, leaderId, previousLeaderId },
        role !== previousRole ? `raft role ${previousRole ?? 'none'} -> ${role}` : 'raft leader or epoch changed',
      );
      if (leaderId < 0 && this.#leaderLostAtMs === undefined) this.#leaderLostAtMs = now;
      if (leaderId >= 0 && this.#leaderLostAtMs !== undefined) {
        this.metrics.electionLatency.observe((now - this.#leaderLostAtMs) / 1000);
        this.#leaderLostAtMs = undefined;
      }
      if (role === 'leader' && previousRole !== 'leader') this.metrics.newActiveControllers.inc();
      if (role !== 'leader') this.#failAppends(() => this.#notLeader());
      this.metrics.setRole(role);
      this.#lastRole = role;
      this.#lastEpoch = epoch;
      this.#lastLeaderId = leaderId;
      this.#hooks.onRoleChange?.({
        role,
        epoch,
        leaderId,
        previousRole,
        previousLeaderId,
        leaderEndpoint: leaderId >= 0 ? this.#endpoints.get(leaderId) : undefined,
      });
    }
    this.metrics.currentLeader.set(leaderId);
    this.metrics.currentEpoch.set(epoch);
    this.metrics.currentVote.set(raft.votedId);
    this.metrics.highWatermark.set(raft.highWatermark);
    this.metrics.logEndOffset.set(raft.logEndOffset);
    this.metrics.logStartOffset.set(raft.logStartOffset);
    this.metrics.lastAppliedRecordOffset.set(this.stateMachine.appliedOffset - 1);
  }

  // --- Appends --------------------------------------------------------------

  /** Appends through this node if it leads; resolves when committed (the HW passed the last record). */
  append(records: Uint8Array[]): Promise<AppendResult> {
    if (this.#stopping) return Promise.reject(this.#shuttingDown());
    if (records.length === 0) return Promise.reject(new RaftkaError('INVALID_REQUEST', 'append without records'));
    if (this.#raft.role !== 'leader') return Promise.reject(this.#notLeader());
    return new Promise<AppendResult>((resolve, reject) => {
      const linger = this.#linger;
      for (const record of records) {
        linger.records.push(record);
        linger.bytes += record.byteLength;
      }
      linger.waiters.push({ count: records.length, resolve, reject });
      if (linger.records.length >= LINGER_MAX_RECORDS || linger.bytes >= LINGER_MAX_BYTES) {
        this.#flushLinger();
      } else if (!this.#lingerTimer && !this.#lingerImmediate) {
        // Group commit: an append to an idle leader (nothing proposed and
        // uncommitted) goes out at once, batched only with what arrived in the
        // same event loop turn (setImmediate, no timer's 1 ms floor). While a
        // batch is being committed, appends gather until it commits
        // (#settlePending flushes them) or appendLingerMs passes, whichever is
        // first. So one append in flight pays no linger, and many in flight
        // form batches as large as one commit round trip allows.
        if (this.#config.appendLingerMs === 0 || this.#pending.length === 0) {
          this.#lingerImmediate = setImmediate(() => this.#flushLinger());
        } else {
          this.#lingerTimer = setTimeout(() => this.#flushLinger(), this.#config.appendLingerMs);
        }
      }
    });
  }

  /** One propose() for everything that lingered: one Ready, one fsync. */
  #flushLinger(): void {
    this.#clearLingerTimers();
    const batch = this.#linger;
    if (batch.waiters.length === 0) return;
    this.#linger = { records: [], bytes: 0, waiters: [] };
    if (this.#stopping) {
      for (const w of batch.waiters) w.reject(this.#shuttingDown());
      return;
    }
    const result = this.#raft.propose(batch.records, driverNowMs());
    if (!result.ok) {
      const error = this.#notLeader();
      for (const w of batch.waiters) w.reject(error);
      return;
    }
    let offset = result.firstOffset;
    for (const w of batch.waiters) {
      const mine: AppendResult = { epoch: result.epoch, firstOffset: offset, lastOffset: offset + w.count - 1 };
      this.#pending.push({
        epoch: result.epoch,
        lastOffset: mine.lastOffset,
        result: mine,
        resolve: w.resolve,
        reject: w.reject,
      });
      offset += w.count;
    }
    assert(offset === result.lastOffset + 1, 'proposed offsets cover the lingered records exactly');
    this.metrics.appendRecords.inc(batch.records.length);
    this.kick();
  }

  /** Resolves appends the high watermark has passed. */
  #settlePending(): void {
    const raft = this.#raft;
    if (raft.role !== 'leader') return;
    const hw = raft.highWatermark;
    let settled = 0;
    while (settled < this.#pending.length) {
      const p = this.#pending[settled] as PendingAppend;
      if (p.lastOffset >= hw) break;
      assert(p.epoch === raft.epoch, 'a leader settles only appends of its own epoch');
      p.resolve(p.result);
      settled++;
    }
    if (settled > 0) {
      this.#pending.splice(0, settled);
      // A batch committed: what gathered behind it goes out now (group commit).
      if (this.#linger.waiters.length > 0) this.#flushLinger();
    }
  }

  #failAppends(error: () => unknown): void {
    if (this.#pending.length === 0 && this.#linger.waiters.length === 0) return;
    const err = error();
    for (const p of this.#pending.splice(0)) p.reject(err);
    this.#clearLingerTimers();
    for (const w of this.#linger.waiters.splice(0)) w.reject(err);
    this.#linger = { records: [], bytes: 0, waiters: [] };
  }

  #clearLingerTimers(): void {
    if (this.#lingerTimer) clearTimeout(this.#lingerTimer);
    if (this.#lingerImmediate) clearImmediate(this.#lingerImmediate);
    this.#lingerTimer = undefined;
    this.#lingerImmediate = undefined;
  }

  #notLeader(): NotLeaderError {
    const leaderId = this.#raft.leaderId;
    return new NotLeaderError(leaderId, leaderId >= 0 ? this.#endpoints.get(leaderId) : undefined);
  }

  #shuttingDown(): RaftkaError {
    return new RaftkaError('SHUTTING_DOWN', `node ${this.nodeId} is shutting down`);
  }

  // --- Queries --------------------------------------------------------------

  status(): RaftStatus {
    const raft = this.#raft;
    return {
      role: raft.role,
      epoch: raft.epoch,
      leaderId: raft.leaderId,
      highWatermark: raft.highWatermark,
      logEndOffset: raft.logEndOffset,
    };
  }

  /** The leader's full view; on other nodes their own epoch, leader and HW with empty replica lists. */
  describeQuorum(): QuorumDescription {
    const raft = this.#raft;
    if (raft.role === 'leader') return raft.describeQuorum(driverNowMs());
    return { leaderId: raft.leaderId, epoch: raft.epoch, highWatermark: raft.highWatermark, voters: [], observers: [] };
  }

  #quorumHandlers(rawAppends: boolean): QuorumHandlers {
    return {
      append: (records) => {
        if (!rawAppends) {
          throw new RaftkaError(
            'INVALID_REQUEST',
            'the Quorum service appends raw records only with controller.state.machine=kv',
          );
        }
        return this.append(records);
      },
      describeQuorum: () => ({ nodeId: this.nodeId, role: this.#raft.role, ...this.describeQuorum() }),
      readCommitted: (fromOffset, maxEntries) => this.readCommitted(fromOffset, maxEntries),
    };
  }

  /** Committed data entries from `fromOffset` as this node has them (the Quorum service's ReadCommitted). */
  async readCommitted(fromOffset: number, maxEntries: number): Promise<ReadCommittedResult> {
    if (this.#stopping) throw this.#shuttingDown();
    // Applied entries are committed and, having been persisted before they
    // were applied, on this node's disk.
    const end = Math.min(this.stateMachine.appliedOffset, this.#raft.highWatermark);
    const entries = await this.#storage.readEntries(fromOffset, end, maxEntries);
    const last = entries[entries.length - 1];
    return {
      entries: entries.filter((e) => e.kind === 'data'),
      nextOffset: last ? last.offset + 1 : Math.max(fromOffset, end),
      highWatermark: end,
      logStartOffset: this.#raft.logStartOffset,
    };
  }

  // --- Shutdown -----------------------------------------------------------------

  /** Graceful: resign (EndQuorumEpoch) if leader, flush, stop the server, close the storage. */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#doShutdown();
    return this.#shutdown;
  }

  async #doShutdown(): Promise<void> {
    this.#stopping = true;
    if (!this.#raft) {
      this.#stopped = true;
      await this.#closeResources();
      return;
    }
    const wasLeader = this.#raft.role === 'leader';
    this.#log.info({ role: this.#raft.role, epoch: this.#raft.epoch }, 'raft node shutting down');
    this.#failAppends(() => this.#shuttingDown());
    if (wasLeader) {
      // Graceful handover: EndQuorumEpoch names the best successors, which
      // campaign at once instead of waiting out the fetch timeout.
      this.#raft.resign(driverNowMs());
      this.kick();
    }
    while (this.#loop) await this.#loop;
    if (wasLeader) await this.#waitForPeerCalls(RESIGN_FLUSH_MAX_MS);
    this.#stopped = true;
    this.#timer.cancel();
    this.#failAppends(() => this.#notLeader());
    await this.#closeResources();
    this.#log.info('raft node stopped');
  }

  /** Until the calls this node made (EndQuorumEpoch after resigning) are answered, or maxMs passed. */
  async #waitForPeerCalls(maxMs: number): Promise<void> {
    const giveUpAt = driverNowMs() + maxMs;
    while (driverNowMs() < giveUpAt) {
      let inFlight = 0;
      for (const peer of this.#peers.values()) inFlight += peer.inFlight;
      if (inFlight === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async #closeResources(): Promise<void> {
    const results = await Promise.allSettled([
      // Open calls (parked fetches of followers) are refused with
      // SHUTTING_DOWN, which their channels report as a disconnect.
      this.#server?.close(),
    ]);
    for (const peer of this.#peers.values()) peer.close();
    await this.#loop?.catch(() => {});
    await this.#storage?.close();
    for (const r of results) if (r.status === 'rejected') this.#log.warn({ err: r.reason }, 'error while closing');
  }

  #fatal(err: unknown): void {
    this.#log.fatal({ err, errorName: isRaftkaError(err) ? err.errorName : undefined }, 'raft node failed');
    this.#stopped = true;
    this.#stopping = true;
    this.#timer.cancel();
    this.#failAppends(() => err);
    if (this.#config.onFatalError) this.#config.onFatalError(err);
    else
      process.nextTick(() => {
        throw err;
      });
  }
}
