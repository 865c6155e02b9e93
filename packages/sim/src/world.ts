// The simulator's generic event loop. A World owns the clock (an EventQueue),
// the network and a set of nodes behind the `SimNode` adapter interface, and
// knows nothing about Raft: a controller core, and later a broker or a client,
// plugs in by implementing SimNode. After every event the world reschedules
// each node's timer at its next deadline and runs every registered check; a
// check that finds a broken invariant throws a SimulationFailure naming it.
//
// Determinism: one seeded random stream per purpose, nodes kept in an array in
// id order, ties in the event queue broken by insertion order, and no clock or
// randomness from the host. The trace hash folds every event that ran, so two
// runs of the same seed can be compared cheaply.

import { assert, SeededRandom } from '@raftka/common';
import type { NodeId } from '@raftka/raft';
import { type Addressed, SimNetwork } from './network.js';
import { EventQueue } from './scheduler.js';

export interface SimMessage extends Addressed {
  type: string;
}

/** What the world needs from a simulated process. */
export interface SimNode {
  readonly nodeId: NodeId;
  readonly up: boolean;
  /** Bumped on every crash, so messages to a dead incarnation are never delivered to its successor. */
  readonly incarnation: number;
  receive(message: SimMessage, nowMs: number): void;
  tick(nowMs: number): void;
  /** When tick() must run next at the latest; Infinity when nothing is due (or the node is down). */
  nextDeadlineMs(): number;
  peerDisconnected(peer: NodeId, nowMs: number): void;
  /** The process dies; `random` decides what its disk keeps of the writes it never synced. */
  crash(random: SeededRandom): void;
  restart(nowMs: number): void;
  /** One line of state for failure messages. */
  describe?(): string;
}

type SimEvent =
  | { kind: 'deliver'; message: SimMessage; toIncarnation: number }
  | { kind: 'timer'; nodeId: NodeId; generation: number }
  | { kind: 'disconnect'; nodeId: NodeId; peer: NodeId; incarnation: number }
  | { kind: 'action'; label: string; run: (nowMs: number) => void };

/** An invariant broke, or the system did something the simulator cannot accept. */
export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
  constructor(
    readonly invariant: string,
    readonly detail: string,
    readonly atMs: number,
  ) {
    super(`${invariant} violated at t=${atMs}ms: ${detail}`);
  }
}

export interface WorldOptions {
  seed: number;
  trace: boolean;
  /** A run that needs more events than this is stuck in a loop. */
  eventsMax: number;
  /** Delay before the survivors notice a crashed process's connections closed. */
  disconnectDelayMaxMs: number;
  describeMessage?: (message: SimMessage) => string;
}

interface TimerSlot {
  dueMs: number;
  generation: number;
  /** Ticks at the same millisecond: a core whose deadline never moves past now would spin forever. */
  sameTimeTicks: number;
  lastTickMs: number;
}

const SAME_TIME_TICKS_MAX = 1000;
const TRACE_LINES_MAX = 200_000;

export class World {
  readonly queue = new EventQueue<SimEvent>();
  readonly network: SimNetwork;
  readonly random: SeededRandom;
  readonly nodes: SimNode[] = [];
  readonly #byId = new Map<NodeId, SimNode>();
  readonly #timers = new Map<NodeId, TimerSlot>();
  readonly #checks: (() => void)[] = [];
  readonly options: WorldOptions;
  readonly traceLines: string[] = [];
  events = 0;
  #inEvent = false;
  #traceHash = 0x811c9dc5;
  readonly #typeCodes = new Map<string, number>();

  constructor(options: WorldOptions) {
    this.options = options;
    this.random = new SeededRandom(options.seed);
    this.network = new SimNetwork(this.random.fork());
  }

  get nowMs(): number {
    return this.queue.nowMs;
  }

  get traceHash(): string {
    return (this.#traceHash >>> 0).toString(16).padStart(8, '0');
  }

  addNode(node: SimNode): void {
    assert(!this.#byId.has(node.nodeId), () => `duplicate node id ${node.nodeId}`);
    this.nodes.push(node);
    this.#byId.set(node.nodeId, node);
    this.#timers.set(node.nodeId, { dueMs: Number.POSITIVE_INFINITY, generation: 0, sameTimeTicks: 0, lastTickMs: -1 });
  }

  node(nodeId: NodeId): SimNode {
    const node = this.#byId.get(nodeId);
    assert(node !== undefined, () => `no node ${nodeId}`);
    return node;
  }

  /** Registers a check to run after every event. */
  addCheck(check: () => void): void {
    this.#checks.push(check);
  }

  fail(invariant: string, detail: string): never {
    throw new SimulationFailure(invariant, detail, this.nowMs);
  }

  /** Hands a message to the network; called by node adapters. */
  send(message: SimMessage): void {
    for (const timeMs of this.network.route(message, this.nowMs)) {
      const to = this.#byId.get(message.to);
      if (to === undefined) continue;
      this.queue.schedule(timeMs, { kind: 'deliver', message, toIncarnation: to.incarnation });
    }
  }

  /** Runs `run` at `timeMs` as an event of its own (client requests, faults, scenario steps). */
  at(timeMs: number, label: string, run: (nowMs: number) => void): void {
    this.queue.schedule(Math.max(timeMs, this.nowMs), { kind: 'action', label, run });
  }

  crash(nodeId: NodeId): void {
    const node = this.node(nodeId);
    assert(node.up, () => `node ${nodeId} is already down`);
    const incarnation = node.incarnation;
    node.crash(this.random);
    this.record(`crash ${nodeId}`, 1, nodeId, 0);
    // A dead process's TCP connections close, and its peers notice shortly after.
    for (const peer of this.nodes) {
      if (peer.nodeId === nodeId || !peer.up) continue;
      const delayMs = this.random.int(1, this.options.disconnectDelayMaxMs + 1);
      this.queue.schedule(this.nowMs + delayMs, {
        kind: 'disconnect',
        nodeId: peer.nodeId,
        peer: nodeId,
        incarnation,
      });
    }
    if (!this.#inEvent) this.#afterEvent();
  }

  restart(nodeId: NodeId): void {
    const node = this.node(nodeId);
    assert(!node.up, () => `node ${nodeId} is already up`);
    node.restart(this.nowMs);
    this.record(`restart ${nodeId}`, 2, nodeId, 0);
    if (!this.#inEvent) this.#afterEvent();
  }

  /** Processes one event. Returns false when the queue is empty. */
  step(): boolean {
    const event = this.queue.pop();
    if (event === undefined) return false;
    this.#inEvent = true;
    try {
      if (!this.#run(event)) return true;
    } finally {
      this.#inEvent = false;
    }
    this.#afterEvent();
    return true;
  }

  /** Runs one event; false when it turned out to be a no-op (stale timer, message to a dead node). */
  #run(event: SimEvent): boolean {
    const nowMs = this.nowMs;
    switch (event.kind) {
      case 'deliver': {
        const { message } = event;
        const to = this.#byId.get(message.to);
        // Lost in flight: the receiver died (its connection with it), or a partition started meanwhile.
        if (to === undefined || !to.up || to.incarnation !== event.toIncarnation) return false;
        if (this.network.isBlocked(message.from, message.to)) return false;
        this.record(this.options.trace ? this.#describe(message) : '', 3, message.from, message.to, message.type);
        to.receive(message, nowMs);
        break;
      }
      case 'timer': {
        const slot = this.#timers.get(event.nodeId) as TimerSlot;
        if (slot.generation !== event.generation) return false;
        slot.dueMs = Number.POSITIVE_INFINITY;
        const node = this.node(event.nodeId);
        if (!node.up) return false;
        this.#guardSpin(event.nodeId, slot, nowMs);
        this.record(this.options.trace ? `tick ${event.nodeId}` : '', 4, event.nodeId, 0);
        node.tick(nowMs);
        break;
      }
      case 'disconnect': {
        const node = this.node(event.nodeId);
        if (!node.up) return false;
        this.record(this.options.trace ? `disconnect ${event.nodeId} sees ${event.peer} gone` : '', 5, event.nodeId, 0);
        node.peerDisconnected(event.peer, nowMs);
        break;
      }
      case 'action':
        this.record(this.options.trace ? event.label : '', 6, 0, 0, event.label);
        event.run(nowMs);
        break;
    }
    return true;
  }

  #guardSpin(nodeId: NodeId, slot: TimerSlot, nowMs: number): void {
    if (slot.lastTickMs === nowMs) slot.sameTimeTicks++;
    else slot.sameTimeTicks = 0;
    slot.lastTickMs = nowMs;
    if (slot.sameTimeTicks > SAME_TIME_TICKS_MAX) {
      const node = this.node(nodeId);
      this.fail(
        'Progress',
        `node ${nodeId} ticked ${SAME_TIME_TICKS_MAX} times at t=${nowMs}: nextDeadlineMs() stays at ${node.nextDeadlineMs()} after tick() (${node.describe?.() ?? ''})`,
      );
    }
  }

  #afterEvent(): void {
    this.events++;
    if (this.events > this.options.eventsMax) this.fail('Progress', `more than ${this.options.eventsMax} events`);
    this.#scheduleTimers();
    for (const check of this.#checks) check();
  }

  /** Arms the nodes' first timers; call after adding the nodes. The checks run from the first event on. */
  start(): void {
    this.#scheduleTimers();
  }

  #scheduleTimers(): void {
    for (const node of this.nodes) {
      if (!node.up) continue;
      const slot = this.#timers.get(node.nodeId) as TimerSlot;
      const dueMs = Math.max(node.nextDeadlineMs(), this.nowMs);
      if (!(dueMs < slot.dueMs) || !Number.isFinite(dueMs)) continue;
      slot.dueMs = dueMs;
      slot.generation++;
      this.queue.schedule(dueMs, { kind: 'timer', nodeId: node.nodeId, generation: slot.generation });
    }
  }

  /** Processes events until `done()` holds (true) or simulated time reaches `untilMs` (false). */
  runUntil(done: () => boolean, untilMs: number): boolean {
    while (!done()) {
      if (this.queue.peekTimeMs() > untilMs) {
        if (untilMs > this.nowMs) this.queue.advanceTo(untilMs);
        return done();
      }
      this.step();
    }
    return true;
  }

  runFor(durationMs: number): void {
    this.runUntil(() => false, this.nowMs + durationMs);
  }

  /** Folds an event into the trace hash (always) and the trace text (with --trace). */
  record(line: string, kindCode: number, a: number, b: number, type?: string): void {
    let h = this.#traceHash;
    const mix = (n: number): void => {
      h = Math.imul(h ^ (n & 0xffff), 0x01000193) >>> 0;
      h = Math.imul(h ^ ((n >>> 16) & 0xffff), 0x01000193) >>> 0;
    };
    mix(this.nowMs);
    mix(kindCode);
    mix(a);
    mix(b);
    if (type !== undefined) mix(this.#typeCode(type));
    this.#traceHash = h;
    if (this.options.trace && this.traceLines.length < TRACE_LINES_MAX) {
      this.traceLines.push(`${String(this.nowMs).padStart(7)} ${line}`);
    }
  }

  #typeCode(type: string): number {
    let code = this.#typeCodes.get(type);
    if (code === undefined) {
      code = 0;
      for (let i = 0; i < type.length; i++) code = (Math.imul(code, 31) + type.charCodeAt(i)) >>> 0;
      this.#typeCodes.set(type, code);
    }
    return code;
  }

  #describe(message: SimMessage): string {
    const detail = this.options.describeMessage?.(message) ?? '';
    return `${message.from}->${message.to} ${message.type}${detail === '' ? '' : ` ${detail}`}`;
  }
}
