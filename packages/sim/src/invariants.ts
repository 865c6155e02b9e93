// Safety invariants of the controller quorum, checked after every simulated
// event and at the driver-loop hooks (after persist, before apply). They are
// Kafka's RaftEventSimulationTest invariants plus the Ready contract:
//
// - SingleLeader: at most one leader per epoch over the whole run, from each
//   node's persisted election state and from the cores' roles.
// - SingleVote: a voter grants its vote to at most one candidate per epoch,
//   over the whole run and across crashes (what a lost vote would break).
// - MonotonicEpoch: a node's durable epoch never decreases (across crashes),
//   and its in-memory epoch equals the written one once its Readies are drained.
// - MonotonicHighWatermark: a leader's HW never goes back within its epoch.
// - MajorityReachedHighWatermark: a majority of voters hold, durably, every
//   offset below a leader's HW.
// - DurableBeforeVisible: a new quorum state (epoch, vote, leader), and a
//   voter's fetch offset, are on disk (synced) before any message of the same
//   Ready leaves the node.
// - ConsistentCommittedData: every entry a node holds below its HW, applies or
//   receives in a snapshot equals the first one ever committed at that offset;
//   committed client values are ones the client sent, each at one offset only.
// - StateMachinePrefix: each state machine applies committed entries in order,
//   with no gap, and never below what it already applied (no truncation there).
// - LeaderNeverLoadsSnapshot.
// - SnapshotAtLogStart: a node whose log no longer starts at 0 has a snapshot
//   on disk reaching at least its log start (else lagging nodes are stuck).

import type { LogEntry, NodeId, Ready, Snapshot } from '@raftka/raft';
import { imageEndOffset, imageEntryAt, imageStartOffset } from './disk.js';
import type { RaftControllerNode, RaftDriverObserver } from './raft-node.js';
import { decodeRecord, hashEntry, KvStateMachine } from './state-machine.js';

export type InvariantName =
  | 'SingleLeader'
  | 'SingleVote'
  | 'MonotonicEpoch'
  | 'MonotonicHighWatermark'
  | 'MajorityReachedHighWatermark'
  | 'DurableBeforeVisible'
  | 'ConsistentCommittedData'
  | 'StateMachinePrefix'
  | 'LeaderNeverLoadsSnapshot'
  | 'SnapshotAtLogStart';

export const ALL_INVARIANTS: readonly InvariantName[] = [
  'SingleLeader',
  'SingleVote',
  'MonotonicEpoch',
  'MonotonicHighWatermark',
  'MajorityReachedHighWatermark',
  'DurableBeforeVisible',
  'ConsistentCommittedData',
  'StateMachinePrefix',
  'LeaderNeverLoadsSnapshot',
  'SnapshotAtLogStart',
];

interface CommittedRecord {
  epoch: number;
  kind: LogEntry['kind'];
  data: string;
  /** State machine history hash after applying this entry, once some node applied it. */
  historyHash: number | undefined;
  firstSeenBy: NodeId;
}

function bytesKey(data: Uint8Array): string {
  let key = '';
  for (const byte of data) key += String.fromCharCode(byte);
  return key;
}

export class RaftInvariants implements RaftDriverObserver {
  readonly enabled: Set<InvariantName>;
  readonly #fail: (invariant: InvariantName, detail: string) => never;
  readonly #nodes: RaftControllerNode[] = [];
  readonly #voterCount: number;
  readonly leaderByEpoch = new Map<number, NodeId>();
  /** `voter:epoch` -> the candidate it voted for. */
  readonly #voteByVoterEpoch = new Map<string, NodeId>();
  readonly #durableEpoch = new Map<NodeId, number>();
  readonly #leaderHighWatermark = new Map<string, number>();
  readonly #committed = new Map<number, CommittedRecord>();
  readonly #offsetOfValue = new Map<string, number>();
  readonly #checkedUpTo = new Map<NodeId, number>();
  /** Values the client proposed; committed data must come from here. Undefined: do not check. */
  proposedValues: Set<string> | undefined;
  highestCommittedOffset = -1;

  constructor(
    voterCount: number,
    enabled: Iterable<InvariantName>,
    fail: (invariant: InvariantName, detail: string) => never,
  ) {
    this.#voterCount = voterCount;
    this.enabled = new Set(enabled);
    this.#fail = fail;
  }

  watch(node: RaftControllerNode): void {
    this.#nodes.push(node);
  }

  get committedEntries(): number {
    return this.#committed.size;
  }

  #check(invariant: InvariantName, ok: boolean, detail: () => string): void {
    if (!ok && this.enabled.has(invariant)) this.#fail(invariant, detail());
  }

  /** After every event. */
  checkAll(): void {
    for (const node of this.#nodes) {
      this.#checkDurableEpoch(node);
      if (!node.up) continue;
      const core = node.core;
      const written = node.disk.written.quorumState;
      this.#check(
        'MonotonicEpoch',
        core.epoch === written.epoch,
        () => `node ${node.nodeId} runs epoch ${core.epoch} but its written quorum state says ${written.epoch}`,
      );
      if (written.leaderId >= 0) this.#recordLeader(written.epoch, written.leaderId, node.nodeId);
      if (core.role === 'leader') {
        this.#recordLeader(core.epoch, node.nodeId, node.nodeId);
        this.#checkLeaderHighWatermark(node);
      }
      this.#checkCommittedLog(node);
      this.#checkSnapshotAtLogStart(node);
    }
  }

  #checkSnapshotAtLogStart(node: RaftControllerNode): void {
    const logStartOffset = node.core.logStartOffset;
    if (logStartOffset === 0) return;
    const snapshotEnd = node.disk.written.snapshot?.id.endOffset ?? 0;
    this.#check(
      'SnapshotAtLogStart',
      snapshotEnd >= logStartOffset,
      () => `node ${node.nodeId}'s log starts at ${logStartOffset} but its latest snapshot ends at ${snapshotEnd}`,
    );
  }

  #checkDurableEpoch(node: RaftControllerNode): void {
    const durableEpoch = node.disk.durable.quorumState.epoch;
    const previous = this.#durableEpoch.get(node.nodeId) ?? 0;
    this.#check(
      'MonotonicEpoch',
      durableEpoch >= previous,
      () => `node ${node.nodeId}'s durable epoch went from ${previous} back to ${durableEpoch}`,
    );
    this.#durableEpoch.set(node.nodeId, Math.max(previous, durableEpoch));
  }

  #recordLeader(epoch: number, leaderId: NodeId, reportedBy: NodeId): void {
    const known = this.leaderByEpoch.get(epoch);
    if (known === undefined) {
      this.leaderByEpoch.set(epoch, leaderId);
      return;
    }
    this.#check(
      'SingleLeader',
      known === leaderId,
      () => `epoch ${epoch} has two leaders: ${known} and ${leaderId} (seen on node ${reportedBy})`,
    );
  }

  #checkLeaderHighWatermark(node: RaftControllerNode): void {
    const core = node.core;
    const key = `${node.nodeId}:${node.incarnation}:${core.epoch}`;
    const previous = this.#leaderHighWatermark.get(key) ?? -1;
    const hw = core.highWatermark;
    this.#check(
      'MonotonicHighWatermark',
      hw >= previous,
      () => `leader ${node.nodeId} in epoch ${core.epoch} moved its HW back from ${previous} to ${hw}`,
    );
    this.#leaderHighWatermark.set(key, hw);
    if (hw <= 0) return;
    let holders = 0;
    for (const other of this.#nodes) {
      if (other.isVoter && imageEndOffset(other.disk.durable) >= hw) holders++;
    }
    this.#check(
      'MajorityReachedHighWatermark',
      holders > this.#voterCount / 2,
      () =>
        `leader ${node.nodeId} (epoch ${core.epoch}) has HW ${hw} but only ${holders} of ${this.#voterCount} voters hold it durably (durable LEOs: ${this.#nodes
          .filter((n) => n.isVoter)
          .map((n) => `${n.nodeId}:${imageEndOffset(n.disk.durable)}`)
          .join(' ')})`,
    );
  }

  /** Entries a node holds below its HW, checked once each (incrementally). */
  #checkCommittedLog(node: RaftControllerNode): void {
    const image = node.disk.written;
    const end = Math.min(node.core.highWatermark, imageEndOffset(image));
    let offset = Math.max(this.#checkedUpTo.get(node.nodeId) ?? 0, imageStartOffset(image));
    for (; offset < end; offset++) {
      const entry = imageEntryAt(image, offset);
      if (entry === undefined) break;
      this.#compareCommitted(entry, node.nodeId, 'log');
    }
    this.#checkedUpTo.set(node.nodeId, Math.max(this.#checkedUpTo.get(node.nodeId) ?? 0, offset));
  }

  #compareCommitted(entry: LogEntry, nodeId: NodeId, where: string): CommittedRecord {
    const data = bytesKey(entry.data);
    const first = this.#committed.get(entry.offset);
    if (first === undefined) {
      const record: CommittedRecord = {
        epoch: entry.epoch,
        kind: entry.kind,
        data,
        historyHash: undefined,
        firstSeenBy: nodeId,
      };
      this.#committed.set(entry.offset, record);
      this.highestCommittedOffset = Math.max(this.highestCommittedOffset, entry.offset);
      if (entry.kind === 'data') this.#checkNewValue(entry, nodeId);
      return record;
    }
    this.#check(
      'ConsistentCommittedData',
      first.epoch === entry.epoch && first.kind === entry.kind && first.data === data,
      () =>
        `node ${nodeId}'s ${where} has offset ${entry.offset} = (epoch ${entry.epoch}, ${entry.kind}, ${JSON.stringify(data)}) but node ${first.firstSeenBy} committed (epoch ${first.epoch}, ${first.kind}, ${JSON.stringify(first.data)}) there first`,
    );
    return first;
  }

  #checkNewValue(entry: LogEntry, nodeId: NodeId): void {
    const { value } = decodeRecord(entry.data);
    const elsewhere = this.#offsetOfValue.get(value);
    this.#check(
      'ConsistentCommittedData',
      elsewhere === undefined,
      () => `value ${value} committed twice, at offsets ${elsewhere} and ${entry.offset} (seen on node ${nodeId})`,
    );
    this.#offsetOfValue.set(value, entry.offset);
    const proposed = this.proposedValues;
    this.#check(
      'ConsistentCommittedData',
      proposed === undefined || proposed.has(value),
      () => `node ${nodeId} committed value ${value} at offset ${entry.offset}, which no client sent`,
    );
  }

  // --- Driver-loop hooks ----------------------------------------------------

  #recordVote(voter: NodeId, epoch: number, candidate: NodeId): void {
    const key = `${voter}:${epoch}`;
    const known = this.#voteByVoterEpoch.get(key);
    if (known === undefined) {
      this.#voteByVoterEpoch.set(key, candidate);
      return;
    }
    this.#check(
      'SingleVote',
      known === candidate,
      () => `voter ${voter} voted for both ${known} and ${candidate} in epoch ${epoch}`,
    );
  }

  /** Only a leader's fetch answers may leave before the Ready is durable: they promise nothing about this disk. */
  sendingEarly(node: RaftControllerNode, ready: Ready): void {
    for (const message of ready.earlyMessages ?? []) {
      this.#check(
        'DurableBeforeVisible',
        (message.type === 'FetchResponse' || message.type === 'FetchSnapshotResponse') && node.core.role === 'leader',
        () => `node ${node.nodeId} (${node.core.role}) sends an early ${message.type}, ahead of its fsync`,
      );
    }
  }

  persisted(node: RaftControllerNode, ready: Ready): void {
    const durable = node.disk.durable;
    const durableEnd = imageEndOffset(durable);
    const quorumState = ready.quorumState;
    if (quorumState !== undefined && quorumState.votedId >= 0 && node.isVoter) {
      this.#recordVote(node.nodeId, quorumState.epoch, quorumState.votedId);
    }
    if (quorumState !== undefined && ready.messages.length > 0) {
      const synced = durable.quorumState;
      this.#check(
        'DurableBeforeVisible',
        synced.epoch === quorumState.epoch &&
          synced.votedId === quorumState.votedId &&
          synced.leaderId === quorumState.leaderId,
        () =>
          `node ${node.nodeId} sends ${ready.messages.length} messages before its new quorum state ${JSON.stringify(quorumState)} is synced (mustSync=${ready.mustSync})`,
      );
    }
    for (const message of ready.messages) {
      if (message.type === 'VoteResponse' && message.voteGranted && !message.preVote) {
        this.#recordVote(node.nodeId, message.candidateEpoch, message.to);
        this.#check(
          'DurableBeforeVisible',
          durable.quorumState.epoch === message.candidateEpoch && durable.quorumState.votedId === message.to,
          () =>
            `node ${node.nodeId} granted its vote in epoch ${message.candidateEpoch} to ${message.to} before syncing it (durable quorum state ${JSON.stringify(durable.quorumState)})`,
        );
      }
      if (message.type === 'FetchRequest' && node.isVoter) {
        this.#check(
          'DurableBeforeVisible',
          message.fetchOffset <= durableEnd,
          () =>
            `voter ${node.nodeId} fetches from offset ${message.fetchOffset} but only ${durableEnd} is synced (mustSync=${ready.mustSync})`,
        );
      }
    }
  }

  truncated(node: RaftControllerNode, fromOffset: number): void {
    this.#check(
      'StateMachinePrefix',
      fromOffset >= node.stateMachine.nextOffset,
      () =>
        `node ${node.nodeId} truncates its log from ${fromOffset}, below what it applied (${node.stateMachine.nextOffset})`,
    );
    this.#checkedUpTo.set(node.nodeId, Math.min(this.#checkedUpTo.get(node.nodeId) ?? 0, fromOffset));
  }

  installing(node: RaftControllerNode, snapshot: Snapshot): void {
    this.#check(
      'LeaderNeverLoadsSnapshot',
      node.core.role !== 'leader',
      () => `leader ${node.nodeId} loads a snapshot ending at ${snapshot.id.endOffset}`,
    );
    const endOffset = snapshot.id.endOffset;
    if (endOffset <= 0) return;
    const known = this.#committed.get(endOffset - 1)?.historyHash;
    const hash = KvStateMachine.fromSnapshot(snapshot).historyHash;
    this.#check(
      'ConsistentCommittedData',
      known === undefined || known === hash,
      () => `node ${node.nodeId} loads a snapshot at ${endOffset} whose history differs from the committed log`,
    );
  }

  applying(node: RaftControllerNode, entry: LogEntry): void {
    const machine = node.stateMachine;
    this.#check(
      'StateMachinePrefix',
      entry.offset === machine.nextOffset,
      () => `node ${node.nodeId} applies offset ${entry.offset}, but its state machine is at ${machine.nextOffset}`,
    );
    this.#check(
      'StateMachinePrefix',
      entry.offset < node.core.highWatermark,
      () => `node ${node.nodeId} applies offset ${entry.offset}, at or above its HW ${node.core.highWatermark}`,
    );
    const record = this.#compareCommitted(entry, node.nodeId, 'state machine');
    const hash = hashEntry(machine.historyHash, entry);
    if (record.historyHash === undefined) record.historyHash = hash;
    this.#check(
      'ConsistentCommittedData',
      record.historyHash === hash,
      () => `node ${node.nodeId}'s state machine history at offset ${entry.offset} differs from the committed one`,
    );
  }

  restarted(node: RaftControllerNode): void {
    this.#checkedUpTo.set(node.nodeId, 0);
  }
}
