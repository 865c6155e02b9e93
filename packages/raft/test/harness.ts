// A tiny fixed network for the Raft core's tests and datadriven scenarios.
// Time moves only when a command says so, messages move only when a command
// delivers them, and each node's Ready is processed synchronously (persist to
// an in-memory disk, queue messages, apply to a toy state machine, advance).
// Invariants are checked after every event: one leader per epoch, committed
// data identical on every node, a leader's HW never going back, and durable
// before visible (a vote, a candidacy, a leadership or a fetch offset is on the
// sender's disk before the message that reveals it is queued).
// The fault-injecting simulator lives in packages/sim; this is deliberately small.

import { type Random, SeededRandom } from '@raftka/common';
import {
  DEFAULT_RAFT_CONFIG,
  type LogEntry,
  type NodeId,
  type PersistedState,
  type RaftConfig,
  type RaftMessage,
  RaftNode,
  type Ready,
  type Snapshot,
} from '../src/index.js';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export interface Disk {
  quorumState: PersistedState['quorumState'];
  snapshot: Snapshot | undefined;
  entries: LogEntry[];
}

export interface HarnessNode {
  id: NodeId;
  node: RaftNode;
  disk: Disk;
  running: boolean;
  /** The toy state machine: data records applied, in order, as strings. */
  applied: string[];
  /** Offset of the next entry the state machine expects. */
  appliedEnd: number;
  lastShown: string;
}

export interface ClusterOptions {
  voters: NodeId[];
  observers?: NodeId[];
  config?: Partial<Omit<RaftConfig, 'nodeId' | 'voters'>>;
  seed?: number;
  /** 'staggered' makes node k draw the k-th of n evenly spaced values: node 1 always times out first. */
  random?: 'seeded' | 'staggered';
  /** Start some nodes from these disks instead of empty ones. */
  disks?: Map<NodeId, Disk>;
  /** Chance that a message is lost in flight (seeded by `seed`). */
  dropProbability?: number;
  /** Chance that a message is delivered twice. */
  duplicateProbability?: number;
  /** Deliver each round's messages in a random order. */
  reorder?: boolean;
}

/** Deterministic, readable timing for scenarios: node k of n draws min + (k-1)/n of the range. */
export class StaggeredRandom implements Random {
  constructor(
    readonly position: number,
    readonly count: number,
  ) {}
  next(): number {
    return this.position / this.count;
  }
  int(min: number, max: number): number {
    return min + Math.floor(((max - min) * this.position) / this.count);
  }
}

export class Cluster {
  nowMs = 0;
  readonly nodes = new Map<NodeId, HarnessNode>();
  readonly voters: NodeId[];
  queue: RaftMessage[] = [];
  /** Pairs "a-b" that cannot talk (both directions). */
  readonly cut = new Set<string>();
  out: string[] = [];
  /** Print every delivered message (datadriven 'deliver'/'stabilize'); 'run' turns it off. */
  traceMessages = true;
  /** When set, only messages whose printed form contains this are traced. */
  traceFilter: string | undefined;
  readonly config: Omit<RaftConfig, 'nodeId' | 'voters'>;
  readonly #seed: number;
  readonly #random: 'seeded' | 'staggered';
  /** Chance that a message is lost in flight; may be changed between steps. */
  dropProbability: number;
  duplicateProbability: number;
  reorder: boolean;
  readonly #network: SeededRandom;
  /** epoch -> leader seen, for the single-leader invariant. */
  readonly #leaders = new Map<number, NodeId>();
  /** offset -> committed entry text, the first ever applied anywhere. */
  readonly #committed = new Map<number, string>();
  readonly #leaderHw = new Map<NodeId, { epoch: number; hw: number }>();

  constructor(options: ClusterOptions) {
    this.voters = [...options.voters];
    this.config = { ...DEFAULT_RAFT_CONFIG, ...options.config };
    this.#seed = options.seed ?? 1;
    this.#random = options.random ?? 'seeded';
    this.dropProbability = options.dropProbability ?? 0;
    this.duplicateProbability = options.duplicateProbability ?? 0;
    this.reorder = options.reorder ?? false;
    this.#network = new SeededRandom(this.#seed * 7919 + 17);
    for (const id of [...options.voters, ...(options.observers ?? [])]) {
      const given = options.disks?.get(id);
      const disk: Disk =
        given === undefined
          ? { quorumState: { epoch: 0, votedId: -1, leaderId: -1 }, snapshot: undefined, entries: [] }
          : { quorumState: { ...given.quorumState }, snapshot: given.snapshot, entries: [...given.entries] };
      this.nodes.set(id, {
        id,
        node: this.#newNode(id, disk),
        disk,
        running: true,
        applied: [],
        appliedEnd: 0,
        lastShown: '',
      });
    }
    for (const h of this.nodes.values()) {
      h.lastShown = this.describe(h);
      this.process(h);
    }
  }

  #newNode(id: NodeId, disk: Disk): RaftNode {
    const persisted: PersistedState = {
      quorumState: { ...disk.quorumState },
      entries: [...disk.entries],
      ...(disk.snapshot === undefined ? {} : { snapshot: disk.snapshot }),
    };
    return new RaftNode(
      { ...this.config, nodeId: id, voters: this.voters },
      persisted,
      this.#random === 'seeded'
        ? new SeededRandom(this.#seed * 1000 + id)
        : new StaggeredRandom(Math.max(0, this.voters.indexOf(id)), this.voters.length),
      this.nowMs,
    );
  }

  get(id: NodeId): HarnessNode {
    const h = this.nodes.get(id);
    if (h === undefined) throw new Error(`no node ${id}`);
    return h;
  }

  describe(h: HarnessNode): string {
    if (!h.running) return 'crashed';
    const n = h.node;
    return `${n.role}${n.isObserver ? `(${n.state})` : ''} epoch=${n.epoch} leader=${n.leaderId}`;
  }

  /** Drain a node's Ready: persist, queue messages, apply, advance. */
  process(h: HarnessNode): void {
    for (let i = 0; i < 1000 && h.running && h.node.hasReady(); i++) {
      const ready = h.node.ready();
      for (const m of ready.earlyMessages ?? []) this.queue.push(m);
      this.#persist(h, ready);
      for (const m of ready.messages) {
        this.#checkDurableBeforeVisible(h, m);
        this.queue.push(m);
      }
      this.#apply(h, ready);
      h.node.advance(ready, this.nowMs);
    }
    this.#showChange(h);
    this.#checkInvariants();
  }

  #persist(h: HarnessNode, ready: Ready): void {
    const disk = h.disk;
    if (ready.quorumState !== undefined) {
      if (ready.quorumState.epoch < disk.quorumState.epoch) throw new Error(`node ${h.id}: persisted epoch went back`);
      disk.quorumState = { ...ready.quorumState };
    }
    if (ready.truncateFrom !== undefined) disk.entries = disk.entries.filter((e) => e.offset < ready.truncateFrom!);
    if (ready.snapshot !== undefined) {
      disk.snapshot = ready.snapshot;
      disk.entries = [];
    }
    if (ready.deleteBefore !== undefined) disk.entries = disk.entries.filter((e) => e.offset >= ready.deleteBefore!);
    for (const e of ready.entries) {
      const expected = disk.entries.length > 0 ? disk.entries.at(-1)!.offset + 1 : (disk.snapshot?.id.endOffset ?? 0);
      if (e.offset !== expected) throw new Error(`node ${h.id}: Ready entry at ${e.offset}, disk expects ${expected}`);
      disk.entries.push(e);
    }
  }

  /** What a message tells others must already be on the sender's disk. */
  #checkDurableBeforeVisible(h: HarnessNode, m: RaftMessage): void {
    const disk = h.disk;
    const diskEnd = disk.entries.length > 0 ? disk.entries.at(-1)!.offset + 1 : (disk.snapshot?.id.endOffset ?? 0);
    const fail = (what: string): never => {
      throw new Error(`node ${h.id} sent ${formatMessage(m)} before persisting ${what}`);
    };
    switch (m.type) {
      case 'VoteResponse':
        if (m.voteGranted && !m.preVote) {
          if (disk.quorumState.epoch !== m.candidateEpoch || disk.quorumState.votedId !== m.to) fail('its vote');
        }
        break;
      case 'VoteRequest':
        if (!m.preVote && (disk.quorumState.epoch !== m.candidateEpoch || disk.quorumState.votedId !== h.id)) {
          fail('its candidacy');
        }
        break;
      case 'BeginQuorumEpochRequest':
        if (disk.quorumState.epoch !== m.leaderEpoch || disk.quorumState.leaderId !== h.id) fail('its leadership');
        break;
      case 'FetchRequest':
        if (diskEnd < m.fetchOffset) fail(`entries up to ${m.fetchOffset} (disk ends at ${diskEnd})`);
        break;
      default:
        break;
    }
  }

  #apply(h: HarnessNode, ready: Ready): void {
    if (ready.installSnapshot !== undefined) {
      h.applied = JSON.parse(decoder.decode(ready.installSnapshot.data)) as string[];
      h.appliedEnd = ready.installSnapshot.id.endOffset;
    }
    for (const e of ready.committed) {
      if (e.offset !== h.appliedEnd) throw new Error(`node ${h.id}: applied ${e.offset}, expected ${h.appliedEnd}`);
      h.appliedEnd++;
      const text = entryText(e);
      const first = this.#committed.get(e.offset);
      if (first === undefined) this.#committed.set(e.offset, text);
      else if (first !== text) throw new Error(`node ${h.id}: committed ${text} at ${e.offset}, others ${first}`);
      if (e.kind === 'data') h.applied.push(decoder.decode(e.data));
    }
  }

  #showChange(h: HarnessNode): void {
    const now = this.describe(h);
    if (now !== h.lastShown) {
      this.out.push(`  n${h.id}: ${now}`);
      h.lastShown = now;
    }
  }

  #checkInvariants(): void {
    for (const h of this.nodes.values()) {
      if (!h.running) continue;
      const n = h.node;
      if (n.role === 'leader') {
        const seen = this.#leaders.get(n.epoch);
        if (seen !== undefined && seen !== h.id)
          throw new Error(`two leaders in epoch ${n.epoch}: ${seen} and ${h.id}`);
        this.#leaders.set(n.epoch, h.id);
        const last = this.#leaderHw.get(h.id);
        if (last !== undefined && last.epoch === n.epoch && n.highWatermark < last.hw) {
          throw new Error(`leader ${h.id} HW went back from ${last.hw} to ${n.highWatermark}`);
        }
        this.#leaderHw.set(h.id, { epoch: n.epoch, hw: n.highWatermark });
      }
    }
  }

  canTalk(a: NodeId, b: NodeId): boolean {
    return !this.cut.has(`${a}-${b}`);
  }

  /** Deliver what is queued now (one hop); returns how many were delivered. */
  deliver(filter?: (m: RaftMessage) => boolean): number {
    const batch = this.queue;
    this.queue = [];
    if (this.duplicateProbability > 0) {
      for (const m of [...batch]) if (this.#network.chance(this.duplicateProbability)) batch.push(m);
    }
    if (this.reorder) {
      for (let i = batch.length - 1; i > 0; i--) {
        const j = this.#network.int(0, i + 1);
        [batch[i], batch[j]] = [batch[j]!, batch[i]!];
      }
    }
    let delivered = 0;
    for (const m of batch) {
      if (filter !== undefined && !filter(m)) {
        this.queue.push(m);
        continue;
      }
      const to = this.nodes.get(m.to);
      const dropped =
        to === undefined ||
        !to.running ||
        !this.canTalk(m.from, m.to) ||
        (this.dropProbability > 0 && this.#network.chance(this.dropProbability));
      const shown =
        this.traceMessages || (this.traceFilter !== undefined && formatMessage(m).includes(this.traceFilter));
      if (shown) this.out.push(`${formatMessage(m)}${dropped ? '  (dropped)' : ''}`);
      if (dropped) continue;
      delivered++;
      to.node.step(m, this.nowMs);
      this.process(to);
    }
    return delivered;
  }

  stabilize(): void {
    for (let round = 0; this.queue.length > 0; round++) {
      if (round > 10_000) throw new Error('stabilize did not settle');
      this.deliver();
    }
  }

  /** Fire every timer due up to `untilMs` without delivering messages. */
  tickTo(untilMs: number, deliverBetween: boolean): void {
    for (let i = 0; ; i++) {
      if (i > 200_000) throw new Error('tickTo did not settle');
      if (deliverBetween) this.stabilize();
      let next = Number.POSITIVE_INFINITY;
      for (const h of this.nodes.values()) if (h.running) next = Math.min(next, h.node.nextDeadlineMs());
      if (next > untilMs) break;
      this.nowMs = Math.max(this.nowMs, next);
      for (const h of this.nodes.values()) {
        if (h.running && h.node.nextDeadlineMs() <= this.nowMs) {
          h.node.tick(this.nowMs);
          this.process(h);
        }
      }
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }

  /** Let time pass with a working network (messages delivered instantly). */
  run(ms: number, traceFilter?: string): void {
    const trace = this.traceMessages;
    this.traceMessages = false;
    this.traceFilter = traceFilter;
    try {
      this.tickTo(this.nowMs + ms, true);
      this.stabilize();
    } finally {
      this.traceMessages = trace;
      this.traceFilter = undefined;
    }
  }

  leader(): HarnessNode | undefined {
    let best: HarnessNode | undefined;
    for (const h of this.nodes.values()) {
      if (h.running && h.node.role === 'leader' && (best === undefined || h.node.epoch > best.node.epoch)) best = h;
    }
    return best;
  }

  propose(id: NodeId, values: string[]): void {
    const h = this.get(id);
    const result = h.node.propose(
      values.map((v) => encoder.encode(v)),
      this.nowMs,
    );
    this.out.push(
      result.ok
        ? `  ok epoch=${result.epoch} offsets=${result.firstOffset}..${result.lastOffset}`
        : `  ${result.errorName} leader=${result.leaderId} epoch=${result.epoch}`,
    );
    this.process(h);
  }

  crash(id: NodeId, notifyPeers: boolean): void {
    const h = this.get(id);
    h.running = false;
    this.#showChange(h);
    if (!notifyPeers) return;
    for (const other of this.nodes.values()) {
      if (other.running && other.id !== id && this.canTalk(id, other.id)) {
        other.node.peerDisconnected(id, this.nowMs);
        this.process(other);
      }
    }
  }

  restart(id: NodeId): void {
    const h = this.get(id);
    h.node = this.#newNode(id, h.disk);
    h.running = true;
    h.applied = [];
    h.appliedEnd = 0;
    this.process(h);
  }

  partition(groups: NodeId[][]): void {
    this.cut.clear();
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cut.add(`${x}-${y}`);
      }
    }
  }

  /** The toy state machine snapshots what it applied. */
  snapshot(id: NodeId): Snapshot {
    const h = this.get(id);
    const epoch =
      h.appliedEnd === h.node.logStartOffset ? h.node.snapshot!.id.epoch : h.node.entryAt(h.appliedEnd - 1).epoch;
    const snapshot: Snapshot = {
      id: { endOffset: h.appliedEnd, epoch },
      data: encoder.encode(JSON.stringify(h.applied)),
    };
    // The driver stores its own snapshot; the core then lets it drop the log before it.
    h.disk.snapshot = snapshot;
    h.node.snapshotTaken(snapshot);
    this.process(h);
    return snapshot;
  }

  status(): string[] {
    const lines: string[] = [];
    for (const h of this.nodes.values()) {
      const n = h.node;
      lines.push(
        h.running
          ? `  n${h.id}: ${this.describe(h)} voted=${n.votedId} start=${n.logStartOffset} leo=${n.logEndOffset} hw=${n.highWatermark} applied=[${h.applied.join(',')}]`
          : `  n${h.id}: crashed`,
      );
    }
    return lines;
  }

  logOf(id: NodeId): string {
    const n = this.get(id).node;
    const parts: string[] = [];
    for (let o = n.logStartOffset; o < n.logEndOffset; o++) parts.push(entryText(n.entryAt(o)));
    const snap = n.snapshot === undefined ? '' : `snapshot(${n.snapshot.id.endOffset}@${n.snapshot.id.epoch}) `;
    return `${snap}[${parts.join(' ')}]`;
  }
}

export function entryText(e: LogEntry): string {
  const body = e.kind === 'data' ? decoder.decode(e.data) : e.kind === 'leader-change' ? 'LC' : 'V';
  return `${e.offset}/${e.epoch}:${body}`;
}

export function formatMessage(m: RaftMessage): string {
  const head = `${m.from}->${m.to}`;
  switch (m.type) {
    case 'VoteRequest':
      return `${head} ${m.preVote ? 'PreVote' : 'Vote'} candidateEpoch=${m.candidateEpoch} last=${m.lastOffset}@${m.lastOffsetEpoch}`;
    case 'VoteResponse':
      return `${head} ${m.preVote ? 'PreVote' : 'Vote'}Response ${m.voteGranted ? 'granted' : 'rejected'} candidateEpoch=${m.candidateEpoch} epoch=${m.epoch} leader=${m.leaderId}`;
    case 'BeginQuorumEpochRequest':
      return `${head} BeginQuorumEpoch epoch=${m.leaderEpoch}`;
    case 'BeginQuorumEpochResponse':
      return `${head} BeginQuorumEpochResponse epoch=${m.epoch} leader=${m.leaderId}`;
    case 'EndQuorumEpochRequest':
      return `${head} EndQuorumEpoch epoch=${m.leaderEpoch} successors=[${m.preferredSuccessors.join(',')}]`;
    case 'EndQuorumEpochResponse':
      return `${head} EndQuorumEpochResponse epoch=${m.epoch} leader=${m.leaderId}`;
    case 'FetchRequest':
      return `${head} Fetch epoch=${m.currentLeaderEpoch} offset=${m.fetchOffset} lastEpoch=${m.lastFetchedEpoch}`;
    case 'FetchResponse': {
      const parts = [`${head} FetchResponse`];
      if (m.errorCode !== 0) parts.push(`error=${m.errorCode}`);
      parts.push(`epoch=${m.epoch} leader=${m.leaderId} offset=${m.fetchOffset} hw=${m.highWatermark}`);
      if (m.divergingEpoch !== undefined)
        parts.push(`diverging=${m.divergingEpoch.endOffset}@${m.divergingEpoch.epoch}`);
      if (m.snapshotId !== undefined) parts.push(`snapshot=${m.snapshotId.endOffset}@${m.snapshotId.epoch}`);
      if (m.entries.length > 0) parts.push(`entries=[${m.entries.map(entryText).join(' ')}]`);
      return parts.join(' ');
    }
    case 'FetchSnapshotRequest':
      return `${head} FetchSnapshot epoch=${m.currentLeaderEpoch} id=${m.snapshotId.endOffset}@${m.snapshotId.epoch} position=${m.position}`;
    case 'FetchSnapshotResponse':
      return `${head} FetchSnapshotResponse${m.errorCode !== 0 ? ` error=${m.errorCode}` : ''} epoch=${m.epoch} position=${m.position} size=${m.size} chunk=${m.chunk.length}`;
  }
}

/**
 * Runs a datadriven script. Each non-comment line is a command; the
 * transcript echoes it, then its output, then a blank line.
 */
export function runScript(script: string): string {
  let cluster: Cluster | undefined;
  const transcript: string[] = [];
  const need = (): Cluster => {
    if (cluster === undefined) throw new Error('no cluster: start with "nodes"');
    return cluster;
  };
  for (const raw of script.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      if (line.startsWith('#')) transcript.push(line);
      continue;
    }
    const [cmd, ...args] = line.split(/\s+/);
    const nums = (): number[] => args.map(Number).filter((n) => Number.isInteger(n));
    transcript.push(`> ${line}`);
    const c = cluster;
    if (c !== undefined) c.out = [];
    let output: string[] = [];
    switch (cmd) {
      case 'nodes': {
        const sep = args.indexOf('observers');
        const voters = (sep < 0 ? args : args.slice(0, sep)).map(Number);
        const observers = sep < 0 ? [] : args.slice(sep + 1).map(Number);
        cluster = new Cluster({ voters, observers, config: { snapshotChunkBytes: 32 }, random: 'staggered' });
        output = cluster.status();
        break;
      }
      case 'tick': {
        // tick <ms>: timers fire, nothing is delivered.
        const cl = need();
        cl.tickTo(cl.nowMs + Number(args[0]), false);
        output = [...cl.out, `  t=${cl.nowMs} queued=${cl.queue.length}`];
        break;
      }
      case 'run': {
        const cl = need();
        // run <ms> [trace=<text>]: a working network; trace= prints the messages containing <text>.
        const trace = args[1]?.startsWith('trace=') ? args[1].slice('trace='.length) : undefined;
        cl.run(Number(args[0]), trace);
        output = [...cl.out, `  t=${cl.nowMs}`];
        break;
      }
      case 'deliver': {
        const cl = need();
        cl.deliver();
        output = cl.out;
        break;
      }
      case 'stabilize': {
        const cl = need();
        cl.stabilize();
        output = cl.out;
        break;
      }
      case 'propose': {
        const cl = need();
        cl.propose(Number(args[0]), args.slice(1));
        output = cl.out;
        break;
      }
      case 'partition': {
        const cl = need();
        const groups = args
          .join(' ')
          .split('|')
          .map((g) => g.trim().split(/\s+/).map(Number));
        cl.partition(groups);
        output = cl.out;
        break;
      }
      case 'heal': {
        const cl = need();
        cl.cut.clear();
        break;
      }
      case 'crash': {
        // crash <id> [silent]: silent = no peer sees the connection close (power loss, cut cable).
        const cl = need();
        cl.crash(Number(args[0]), args[1] !== 'silent');
        output = cl.out;
        break;
      }
      case 'restart': {
        const cl = need();
        cl.restart(Number(args[0]));
        output = cl.out;
        break;
      }
      case 'resign': {
        const cl = need();
        const h = cl.get(Number(args[0]));
        h.node.resign(cl.nowMs);
        cl.process(h);
        output = cl.out;
        break;
      }
      case 'snapshot': {
        const cl = need();
        const s = cl.snapshot(Number(args[0]));
        output = [...cl.out, `  snapshot ${s.id.endOffset}@${s.id.epoch} bytes=${s.data.length}`];
        break;
      }
      case 'status':
        output = need().status();
        break;
      case 'log': {
        const cl = need();
        output = nums().map((id) => `  n${id}: ${cl.logOf(id)}`);
        break;
      }
      case 'expect': {
        // expect <id> key=value ...: fails the scenario when the node disagrees.
        const cl = need();
        const n = cl.get(Number(args[0])).node;
        const actual: Record<string, string> = {
          role: n.role,
          state: n.state,
          epoch: String(n.epoch),
          leader: String(n.leaderId),
          hw: String(n.highWatermark),
          leo: String(n.logEndOffset),
          start: String(n.logStartOffset),
          voted: String(n.votedId),
          log: cl.logOf(Number(args[0])),
        };
        for (const kv of args.slice(1)) {
          const at = kv.indexOf('=');
          const key = kv.slice(0, at);
          const want = kv.slice(at + 1);
          if (actual[key] !== want) throw new Error(`line "${line}": ${key} is ${actual[key]}, expected ${want}`);
        }
        output = ['  ok'];
        break;
      }
      case 'expect-same-log': {
        const cl = need();
        const ids = nums();
        const first = cl.logOf(ids[0]!);
        for (const id of ids) {
          const log = cl.logOf(id);
          if (log.replace(/^snapshot\S+ /, '') !== first.replace(/^snapshot\S+ /, '') && !sameTail(first, log)) {
            throw new Error(`line "${line}": n${id} log ${log} differs from n${ids[0]} log ${first}`);
          }
        }
        output = ['  ok'];
        break;
      }
      default:
        throw new Error(`unknown command "${cmd}" in line "${line}"`);
    }
    transcript.push(...output, '');
  }
  return `${transcript.join('\n')}\n`;
}

/** Two logs agree where both have entries (a snapshot may cut one's head). */
function sameTail(a: string, b: string): boolean {
  const entries = (s: string): Map<string, string> => {
    const inner = s.slice(s.indexOf('[') + 1, s.lastIndexOf(']'));
    const map = new Map<string, string>();
    for (const part of inner.split(' ').filter((p) => p !== '')) map.set(part.slice(0, part.indexOf('/')), part);
    return map;
  };
  const ea = entries(a);
  const eb = entries(b);
  const lastA = [...ea.keys()].at(-1);
  const lastB = [...eb.keys()].at(-1);
  if (lastA !== lastB) return false;
  for (const [offset, text] of eb) if (ea.has(offset) && ea.get(offset) !== text) return false;
  return true;
}
