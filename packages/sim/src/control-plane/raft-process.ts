// A simulated process that runs a real Raft core over the metadata log: a
// controller (voter) or a broker (observer). This is the driver loop both
// processes run in production, with the simulated disk and network: after
// every event drain the core's Ready (persist, fsync when asked, send, apply
// the snapshot and the committed entries to the metadata state machine,
// advance), then let the subclass react. Subclasses add their own messages and
// timers (the controller engine, the broker lifecycle).
//
// A process can also be *paused* (a long GC pause or a stopped VM): it
// neither ticks nor handles messages, which wait in its socket buffers and
// are handled in order when it resumes, with the clock jumped forward.

import { assert, type SeededRandom } from '@raftka/common';
import type { MetadataImage } from '@raftka/metadata';
import {
  type LogEntry,
  type NodeId,
  type RaftConfig,
  type RaftMessage,
  RaftNode,
  type Ready,
  type Snapshot,
} from '@raftka/raft';
import { SimDisk } from '../disk.js';
import type { SimMessage, SimNode, World } from '../world.js';
import { type ControlPlaneMessage, isRaftMessage } from './messages.js';

export interface RaftProcessOptions {
  config: RaftConfig;
  random: SeededRandom;
  world: World;
  /** Take a snapshot once this many entries were applied since the last one. */
  snapshotEveryEntries: number;
}

const READIES_PER_EVENT_MAX = 10_000;
const PAUSED_MESSAGES_MAX = 100_000;
const PARTIAL_WRITEBACK_PROBABILITY = 0.3;

export abstract class RaftProcess implements SimNode {
  readonly nodeId: NodeId;
  readonly disk = new SimDisk();
  incarnation = 0;
  paused = false;
  readonly #pausedMessages: SimMessage[] = [];
  #raft: RaftNode | undefined;
  #appliedSinceSnapshot = 0;
  protected readonly options: RaftProcessOptions;
  protected readonly random: SeededRandom;

  constructor(options: RaftProcessOptions) {
    this.options = options;
    this.nodeId = options.config.nodeId;
    this.random = options.random;
  }

  get up(): boolean {
    return this.#raft !== undefined;
  }

  get raft(): RaftNode {
    assert(this.#raft !== undefined, () => `node ${this.nodeId} is down`);
    return this.#raft;
  }

  protected get world(): World {
    return this.options.world;
  }

  /** Starts the process (first boot or restart): fresh in-memory state, the core rebuilt from the disk. */
  start(nowMs: number): void {
    this.resetState(nowMs);
    this.#appliedSinceSnapshot = 0;
    this.#raft = new RaftNode(this.options.config, this.disk.load(), this.random.fork(), nowMs);
    this.drain(nowMs);
  }

  // --- What subclasses provide ---------------------------------------------------

  /** A process start: build the state machine and lifecycle state afresh. */
  protected abstract resetState(nowMs: number): void;
  protected abstract installSnapshot(snapshot: Snapshot, nowMs: number): void;
  protected abstract applyCommitted(entries: readonly LogEntry[], nowMs: number): void;
  /** A snapshot of the applied state, at or below the HW. */
  protected abstract takeSnapshot(): Snapshot | undefined;
  /** After every drained event: react to role changes, send what is due. */
  protected abstract afterEvent(nowMs: number): void;
  protected abstract receiveRequest(message: SimMessage, nowMs: number): void;
  protected abstract tickProcess(nowMs: number): void;
  protected abstract processDeadlineMs(): number;
  protected abstract peerGone(peer: NodeId, nowMs: number): void;
  /** The committed metadata image this process holds; undefined while down. */
  abstract committedMetadataImage(): MetadataImage | undefined;
  abstract describe(): string;

  // --- SimNode -----------------------------------------------------------------------

  receive(message: SimMessage, nowMs: number): void {
    if (this.paused) {
      assert(this.#pausedMessages.length < PAUSED_MESSAGES_MAX, 'paused process buffer overflow');
      this.#pausedMessages.push(message);
      return;
    }
    this.#handle(message, nowMs);
    this.drain(nowMs);
  }

  #handle(message: SimMessage, nowMs: number): void {
    if (isRaftMessage(message)) this.raft.step(message as RaftMessage, nowMs);
    else this.receiveRequest(message, nowMs);
  }

  tick(nowMs: number): void {
    if (this.paused) return;
    if (this.raft.nextDeadlineMs() <= nowMs) this.raft.tick(nowMs);
    this.tickProcess(nowMs);
    this.drain(nowMs);
  }

  nextDeadlineMs(): number {
    if (this.#raft === undefined || this.paused) return Number.POSITIVE_INFINITY;
    return Math.min(this.#raft.nextDeadlineMs(), this.processDeadlineMs());
  }

  peerDisconnected(peer: NodeId, nowMs: number): void {
    if (this.paused) return;
    this.raft.peerDisconnected(peer, nowMs);
    this.peerGone(peer, nowMs);
    this.drain(nowMs);
  }

  crash(random: SeededRandom): void {
    assert(this.up, () => `node ${this.nodeId} is already down`);
    this.#raft = undefined;
    this.incarnation++;
    this.paused = false;
    this.#pausedMessages.length = 0;
    const batches = this.disk.unsyncedBatches;
    const kept = batches > 0 && random.chance(PARTIAL_WRITEBACK_PROBABILITY) ? random.int(1, batches + 1) : 0;
    this.disk.crash(kept);
  }

  restart(nowMs: number): void {
    assert(!this.up, () => `node ${this.nodeId} is already up`);
    this.start(nowMs);
  }

  pause(): void {
    assert(this.up && !this.paused, () => `node ${this.nodeId} cannot pause`);
    this.paused = true;
  }

  /** Wakes up: handles what arrived meanwhile, in order, and catches up on its timers. */
  resume(nowMs: number): void {
    assert(this.up && this.paused, () => `node ${this.nodeId} is not paused`);
    this.paused = false;
    const waiting = this.#pausedMessages.splice(0);
    this.raft.tick(nowMs);
    this.tickProcess(nowMs);
    this.drain(nowMs);
    for (const message of waiting) {
      if (!this.up) return;
      this.#handle(message, nowMs);
      this.drain(nowMs);
    }
  }

  /** Sends a control-plane message through the simulated network. */
  protected send(message: ControlPlaneMessage): void {
    this.world.send(message);
  }

  /**
   * The driver loop: persist, send, apply, advance, until the core has
   * nothing more to say; then the subclass reacts (which may propose, so the
   * loop runs again).
   */
  protected drain(nowMs: number): void {
    const raft = this.raft;
    for (let round = 0; ; round++) {
      assert(round < 100, () => `node ${this.nodeId}: afterEvent keeps producing Readys`);
      for (let i = 0; raft.hasReady(); i++) {
        assert(i < READIES_PER_EVENT_MAX, () => `node ${this.nodeId}: hasReady() stays true`);
        const ready = raft.ready();
        this.#persist(ready);
        for (const message of ready.messages) this.world.send(message);
        if (ready.installSnapshot !== undefined) {
          this.installSnapshot(ready.installSnapshot, nowMs);
          this.#appliedSinceSnapshot = 0;
        }
        if (ready.committed.length > 0) {
          this.applyCommitted(ready.committed, nowMs);
          this.#appliedSinceSnapshot += ready.committed.length;
        }
        raft.advance(ready, nowMs);
        this.#maybeSnapshot(raft);
      }
      this.afterEvent(nowMs);
      if (!raft.hasReady()) return;
    }
  }

  #persist(ready: Ready): void {
    const disk = this.disk;
    disk.beginBatch();
    if (ready.quorumState !== undefined) disk.writeQuorumState(ready.quorumState);
    const problems: (string | undefined)[] = [];
    if (ready.truncateFrom !== undefined)
      problems.push(disk.write({ kind: 'truncate', fromOffset: ready.truncateFrom }));
    if (ready.snapshot !== undefined) problems.push(disk.write({ kind: 'snapshot', snapshot: ready.snapshot }));
    if (ready.deleteBefore !== undefined)
      problems.push(disk.write({ kind: 'deleteBefore', offset: ready.deleteBefore }));
    if (ready.entries.length > 0) problems.push(disk.write({ kind: 'append', entries: ready.entries }));
    const problem = problems.find((p) => p !== undefined);
    assert(problem === undefined, () => `node ${this.nodeId}: Ready cannot be persisted: ${problem}`);
    if (ready.mustSync) disk.sync();
  }

  #maybeSnapshot(raft: RaftNode): void {
    if (this.#appliedSinceSnapshot < this.options.snapshotEveryEntries) return;
    const snapshot = this.takeSnapshot();
    if (snapshot === undefined || snapshot.id.endOffset > raft.highWatermark) return;
    if (snapshot.id.endOffset <= (raft.snapshot?.id.endOffset ?? 0)) return;
    this.disk.saveSnapshot(snapshot);
    raft.snapshotTaken(snapshot);
    this.#appliedSinceSnapshot = 0;
  }
}
