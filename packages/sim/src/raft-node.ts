// The adapter that runs one Raft core (a controller voter or an observer) in
// the simulated world. It is the driver loop a real controller process runs,
// with the simulated disk and network in place of LevelDB and gRPC:
// after every event, drain the core's Ready: send its early messages (if the
// core was configured to produce any), persist (sync when the Ready says so),
// then send its messages, then apply what it committed to the state
// machine, then `advance`. The state machine snapshots every few entries and
// hands the snapshot to the core, so logs get truncated and lagging or
// restarted nodes have to catch up through FetchSnapshot.
//
// Like a real single-threaded driver, the node is busy while an fsync is in
// flight (when fsyncs take simulated time) or while the process is paused:
// timers wait and arriving events queue in an inbox that runs, in order,
// once it is free again. Each process has its own clock origin.

import { assert, SeededRandom } from '@raftka/common';
import type {
  LogEntry,
  NodeId,
  PersistedState,
  RaftConfig,
  RaftMessage,
  RaftRole,
  Ready,
  Snapshot,
} from '@raftka/raft';
import { SimDisk } from './disk.js';
import { KvStateMachine } from './state-machine.js';
import type { SimMessage, SimNode } from './world.js';

/** The slice of `RaftNode` (packages/raft) the simulator drives; fakes implement it too. */
export interface RaftCore {
  step(message: RaftMessage, nowMs: number): void;
  tick(nowMs: number): void;
  nextDeadlineMs(): number;
  propose(
    records: Uint8Array[],
    nowMs: number,
  ):
    | { ok: true; epoch: number; firstOffset: number; lastOffset: number }
    | { ok: false; errorName: 'NOT_LEADER_OR_FOLLOWER'; leaderId: NodeId; epoch: number };
  peerDisconnected(peer: NodeId, nowMs: number): void;
  resign(nowMs: number): void;
  snapshotTaken(snapshot: Snapshot): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready, nowMs: number): void;
  readonly role: RaftRole;
  readonly epoch: number;
  readonly leaderId: NodeId;
  readonly highWatermark: number;
  readonly logEndOffset: number;
  readonly logStartOffset: number;
  readonly votedId: NodeId;
}

export type RaftCoreFactory = (
  config: RaftConfig,
  persisted: PersistedState,
  random: SeededRandom,
  nowMs: number,
) => RaftCore;

/** Hooks the invariant checkers attach to see inside the driver loop. */
export interface RaftDriverObserver {
  /** The Ready's early messages are about to go out, before its persist part is written. */
  sendingEarly(node: RaftControllerNode, ready: Ready): void;
  /** The Ready's persist part was written (and synced if asked); its messages are not sent yet. */
  persisted(node: RaftControllerNode, ready: Ready): void;
  truncated(node: RaftControllerNode, fromOffset: number): void;
  /** About to load a snapshot into the state machine. */
  installing(node: RaftControllerNode, snapshot: Snapshot): void;
  /** About to apply a committed entry. */
  applying(node: RaftControllerNode, entry: LogEntry): void;
  /** A restarted node's core has been built from its disk. */
  restarted(node: RaftControllerNode): void;
}

export interface RaftNodeOptions {
  config: RaftConfig;
  createCore: RaftCoreFactory;
  random: SeededRandom;
  send: (message: SimMessage) => void;
  /** Seeds each incarnation's clock origin (see #start). */
  clockSeed: number;
  /** Take a snapshot once this many entries were applied since the last one. */
  snapshotEveryEntries: number;
  observer: RaftDriverObserver;
  /** How long the next fsync takes; 0 makes persisting instantaneous. */
  fsyncLatencyMs: () => number;
  /** Runs `run` as an event of its own at simulated time `timeMs` (the fsync completing). */
  scheduleAt: (timeMs: number, label: string, run: (nowMs: number) => void) => void;
}

const READIES_PER_EVENT_MAX = 10_000;
/** Events that arrive while the driver waits for an fsync queue up, as in a socket buffer. */
const INBOX_MAX = 100_000;
/** Clock origins differ by up to a day between processes. */
const CLOCK_OFFSET_MAX_MS = 86_400_000;
/** How often a crash keeps some unsynced batches instead of none. */
const PARTIAL_WRITEBACK_PROBABILITY = 0.3;

export class RaftControllerNode implements SimNode {
  readonly nodeId: NodeId;
  readonly isVoter: boolean;
  readonly disk = new SimDisk();
  stateMachine = new KvStateMachine();
  #core: RaftCore | undefined;
  incarnation = 0;
  readonly #options: RaftNodeOptions;
  lastSnapshotOffset = 0;
  readies = 0;
  #clockOffsetMs = 0;
  /** The Ready whose fsync is in progress; the driver does nothing else until it completes. */
  #syncing: { ready: Ready; doneAtMs: number } | undefined;
  /** Set while the process is paused (a GC or VM stall): it does nothing until then. */
  #pausedUntilMs: number | undefined;
  /** What arrived while syncing, to run in order once the fsync is done. */
  #inbox: ((nowMs: number) => void)[] = [];

  constructor(options: RaftNodeOptions, nowMs: number) {
    this.#options = options;
    this.nodeId = options.config.nodeId;
    this.isVoter = options.config.voters.includes(this.nodeId);
    this.#start(nowMs);
  }

  get up(): boolean {
    return this.#core !== undefined;
  }

  /** The running core; only valid while the node is up. */
  get core(): RaftCore {
    assert(this.#core !== undefined, () => `node ${this.nodeId} is down`);
    return this.#core;
  }

  /** The node's monotonic clock: simulated time plus an origin that differs per process. */
  #localMs(nowMs: number): number {
    return nowMs + this.#clockOffsetMs;
  }

  #start(nowMs: number): void {
    // Like performance.now(), each process's clock has its own origin, drawn from a stream of its
    // own so that it shifts no other random choice.
    const clockRandom = new SeededRandom(
      (this.#options.clockSeed ^ Math.imul(this.nodeId, 0x9e3779b1) ^ this.incarnation) >>> 0,
    );
    this.#clockOffsetMs = clockRandom.int(0, CLOCK_OFFSET_MAX_MS);
    const localMs = this.#localMs(nowMs);
    const persisted = this.disk.load();
    this.stateMachine =
      persisted.snapshot === undefined ? new KvStateMachine() : KvStateMachine.fromSnapshot(persisted.snapshot);
    this.lastSnapshotOffset = this.stateMachine.nextOffset;
    this.#core = this.#options.createCore(this.#options.config, persisted, this.#options.random.fork(), localMs);
    this.#options.observer.restarted(this);
    this.#drain(localMs);
  }

  receive(message: SimMessage, nowMs: number): void {
    if (this.#deferred((t) => this.receive(message, t))) return;
    const localMs = this.#localMs(nowMs);
    this.core.step(message as RaftMessage, localMs);
    this.#drain(localMs);
  }

  tick(nowMs: number): void {
    if (this.#busy) return;
    const localMs = this.#localMs(nowMs);
    this.core.tick(localMs);
    this.#drain(localMs);
  }

  nextDeadlineMs(): number {
    const core = this.#core;
    if (core === undefined) return Number.POSITIVE_INFINITY;
    // A driver blocked in fsync runs no timers; the completion event wakes it.
    if (this.#syncing !== undefined) return this.#syncing.doneAtMs;
    if (this.#pausedUntilMs !== undefined) return this.#pausedUntilMs;
    return core.nextDeadlineMs() - this.#clockOffsetMs;
  }

  get #busy(): boolean {
    return this.#syncing !== undefined || this.#pausedUntilMs !== undefined;
  }

  /**
   * Stalls the process for `durationMs` (a long GC pause, a frozen VM): timers
   * do not fire and arriving events queue up, then all of it runs at once.
   * False if the node is down or already stalled.
   */
  pause(nowMs: number, durationMs: number): boolean {
    if (!this.up || this.#busy) return false;
    const untilMs = nowMs + durationMs;
    const incarnation = this.incarnation;
    this.#pausedUntilMs = untilMs;
    this.#options.scheduleAt(untilMs, `resume ${this.nodeId}`, (resumeMs) => {
      if (this.incarnation !== incarnation) return;
      this.#pausedUntilMs = undefined;
      this.#runInbox(resumeMs);
    });
    return true;
  }

  /** Queues an event that arrives while an fsync or a pause is in progress; true if it was queued. */
  #deferred(run: (nowMs: number) => void): boolean {
    if (!this.#busy) return false;
    assert(this.#inbox.length < INBOX_MAX, () => `node ${this.nodeId}: inbox overflow while syncing`);
    this.#inbox.push(run);
    return true;
  }

  peerDisconnected(peer: NodeId, nowMs: number): void {
    if (this.#deferred((t) => this.peerDisconnected(peer, t))) return;
    const localMs = this.#localMs(nowMs);
    this.core.peerDisconnected(peer, localMs);
    this.#drain(localMs);
  }

  /** Undefined when the driver is busy syncing: the request is queued and its answer dropped. */
  propose(records: Uint8Array[], nowMs: number): ReturnType<RaftCore['propose']> | undefined {
    if (this.#deferred((t) => this.propose(records, t))) return undefined;
    const localMs = this.#localMs(nowMs);
    const result = this.core.propose(records, localMs);
    this.#drain(localMs);
    return result;
  }

  resign(nowMs: number): void {
    if (this.#deferred((t) => this.resign(t))) return;
    const localMs = this.#localMs(nowMs);
    this.core.resign(localMs);
    this.#drain(localMs);
  }

  /**
   * Power cut. Usually every unsynced write is lost; sometimes the OS had
   * written back a prefix of the unsynced Ready batches, which then survive.
   */
  crash(random: SeededRandom): void {
    assert(this.up, () => `node ${this.nodeId} is already down`);
    this.#core = undefined;
    this.#syncing = undefined;
    this.#pausedUntilMs = undefined;
    this.#inbox = [];
    this.incarnation++;
    const batches = this.disk.unsyncedBatches;
    const keptBatches = batches > 0 && random.chance(PARTIAL_WRITEBACK_PROBABILITY) ? random.int(1, batches + 1) : 0;
    this.disk.crash(keptBatches);
  }

  /** Crash and lose the whole disk (Kafka's killAndDeletePersistentState). */
  crashAndWipe(random: SeededRandom): void {
    this.crash(random);
    this.disk.wipe();
  }

  restart(nowMs: number): void {
    assert(!this.up, () => `node ${this.nodeId} is already up`);
    this.#start(nowMs);
  }

  describe(): string {
    const core = this.#core;
    if (core === undefined) return `${this.nodeId}:down`;
    return `${this.nodeId}:${core.role}@${core.epoch} leader=${core.leaderId} voted=${core.votedId} hw=${core.highWatermark} leo=${core.logEndOffset} applied=${this.stateMachine.nextOffset}`;
  }

  /**
   * The driver loop: persist, send, apply, advance, until the core has nothing
   * more to say. An fsync that takes time suspends the loop: the rest of the
   * Ready (send, apply, advance) runs when the fsync completes, and events
   * that arrive meanwhile wait in the inbox.
   */
  #drain(localMs: number): void {
    const core = this.core;
    for (let i = 0; this.#syncing === undefined && core.hasReady(); i++) {
      assert(i < READIES_PER_EVENT_MAX, () => `node ${this.nodeId}: hasReady() stays true`);
      const ready = core.ready();
      this.readies++;
      // Only with leaderEarlyFetchResponses: a leader's fetch answers may overtake its own fsync.
      if (ready.earlyMessages !== undefined && ready.earlyMessages.length > 0) {
        this.#options.observer.sendingEarly(this, ready);
        for (const message of ready.earlyMessages) this.#options.send(message);
      }
      this.#write(ready);
      const latencyMs = ready.mustSync ? this.#options.fsyncLatencyMs() : 0;
      if (latencyMs === 0) {
        this.#complete(ready, localMs);
        continue;
      }
      const doneAtMs = localMs - this.#clockOffsetMs + latencyMs;
      const incarnation = this.incarnation;
      this.#syncing = { ready, doneAtMs };
      this.#options.scheduleAt(doneAtMs, `fsync done ${this.nodeId}`, (nowMs) => {
        if (this.incarnation !== incarnation) return; // the process died while syncing
        this.#syncing = undefined;
        this.#complete(ready, this.#localMs(nowMs));
        this.#drain(this.#localMs(nowMs));
        this.#runInbox(nowMs);
      });
    }
  }

  /** Runs what queued up during an fsync, until another fsync starts. */
  #runInbox(nowMs: number): void {
    while (!this.#busy && this.#inbox.length > 0) {
      const run = this.#inbox.shift() as (nowMs: number) => void;
      run(nowMs);
    }
  }

  /** The part of a Ready after its writes: sync, send, apply, advance. */
  #complete(ready: Ready, localMs: number): void {
    const core = this.core;
    const observer = this.#options.observer;
    if (ready.mustSync) this.disk.sync();
    observer.persisted(this, ready);
    for (const message of ready.messages) this.#options.send(message);
    if (ready.installSnapshot !== undefined) {
      observer.installing(this, ready.installSnapshot);
      this.stateMachine = KvStateMachine.fromSnapshot(ready.installSnapshot);
      this.lastSnapshotOffset = this.stateMachine.nextOffset;
    }
    for (const entry of ready.committed) {
      observer.applying(this, entry);
      this.stateMachine.apply(entry);
    }
    core.advance(ready, localMs);
    this.#maybeSnapshot(core);
  }

  /** Writes a Ready's persist part to the page cache as one batch; syncing is the caller's. */
  #write(ready: Ready): void {
    const disk = this.disk;
    disk.beginBatch();
    const problems: (string | undefined)[] = [];
    if (ready.quorumState !== undefined) disk.writeQuorumState(ready.quorumState);
    if (ready.truncateFrom !== undefined) {
      this.#options.observer.truncated(this, ready.truncateFrom);
      problems.push(disk.write({ kind: 'truncate', fromOffset: ready.truncateFrom }));
    }
    if (ready.snapshot !== undefined) problems.push(disk.write({ kind: 'snapshot', snapshot: ready.snapshot }));
    if (ready.deleteBefore !== undefined)
      problems.push(disk.write({ kind: 'deleteBefore', offset: ready.deleteBefore }));
    if (ready.entries.length > 0) problems.push(disk.write({ kind: 'append', entries: ready.entries }));
    const problem = problems.find((p) => p !== undefined);
    assert(problem === undefined, () => `node ${this.nodeId}: Ready cannot be persisted: ${problem}`);
  }

  /** Snapshots only what is committed (below the HW), as snapshotTaken requires. */
  #maybeSnapshot(core: RaftCore): void {
    const machine = this.stateMachine;
    if (machine.nextOffset - this.lastSnapshotOffset < this.#options.snapshotEveryEntries) return;
    if (machine.nextOffset > core.highWatermark) return;
    const snapshot = machine.takeSnapshot();
    this.disk.saveSnapshot(snapshot);
    this.lastSnapshotOffset = snapshot.id.endOffset;
    core.snapshotTaken(snapshot);
  }
}
