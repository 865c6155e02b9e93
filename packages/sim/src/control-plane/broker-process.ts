// A simulated broker process, control plane only: a Raft *observer* of the
// metadata log that replays committed records into a MetadataLoader, and the
// broker lifecycle of KIP-631 against the active controller. It registers
// with a new incarnation id on every start, heartbeats every
// `broker.heartbeat.interval.ms` with the offset it has applied (which gets
// it unfenced once it has caught up to its own registration), re-registers
// when told its epoch is stale, and can shut down in a controlled way
// (heartbeats with WantShutDown until the controller says ShouldShutDown).
// The active controller is the Raft leader this observer follows; without
// one it asks the voters in turn.
//
// There is no data plane, so a leader "sees" a follower catch up at once: it
// proposes, with AlterPartition, to add every active replica missing from
// the ISR, and now and then drops a follower (a lagging replica), so ISR
// changes, partition epochs and the controller's AlterPartition checks are
// exercised.

import {
  decodeRecord,
  type LocalReplicaChanges,
  localChanges,
  type MetadataImage,
  MetadataLoader,
  type MetadataRecord,
} from '@raftka/metadata';
import type { LogEntry, NodeId, Snapshot } from '@raftka/raft';
import type { SimMessage } from '../world.js';
import type { ControlPlaneRequest, ControlPlaneResponse } from './messages.js';
import { RaftProcess, type RaftProcessOptions } from './raft-process.js';

export interface BrokerProcessOptions extends RaftProcessOptions {
  voterIds: readonly NodeId[];
  /** broker.heartbeat.interval.ms */
  heartbeatIntervalMs: number;
  /** broker.session.timeout.ms; a request unanswered for half of it is given up (KAFKA-14392). */
  sessionTimeoutMs: number;
  retryBackoffMs: number;
  /** How often a leader looks at its partitions' ISRs. */
  isrCheckIntervalMs: number;
  /** Chance per check and led partition that the leader drops a follower from the ISR. */
  isrShrinkProbability: number;
  /** The controller told this broker to shut down; the cluster stops (and later restarts) the process. */
  onShutdown: (brokerId: NodeId) => void;
}

export type BrokerLifecycle = 'registering' | 'registered' | 'pending-controlled-shutdown' | 'shut-down';

interface Inflight {
  correlationId: number;
  sentMs: number;
  to: NodeId;
}

export class BrokerProcess extends RaftProcess {
  loader = new MetadataLoader();
  lifecycle: BrokerLifecycle = 'registering';
  incarnationId = '';
  brokerEpoch = -1;
  /** What the last heartbeat answer said. */
  fencedByController = true;
  /** Partitions this broker leads, as its local changes said (the data path would act on them). */
  readonly ledPartitions = new Set<string>();
  #appliedOffset = -1;
  #appliedEpoch = 0;
  #wantShutDown = false;
  #lifecycleInflight: Inflight | undefined;
  #nextCommunicationMs = 0;
  #caughtUpNudged = false;
  readonly #alterInflight = new Map<string, Inflight>();
  #nextIsrCheckMs = 0;
  #nextCorrelationId = 1;
  #voterCursor = 0;
  /** Controllers whose connection closed and that have not been heard from since: not worth asking. */
  readonly #unreachable = new Set<NodeId>();
  readonly #brokerOptions: BrokerProcessOptions;

  constructor(options: BrokerProcessOptions, nowMs: number) {
    super(options);
    this.#brokerOptions = options;
    this.start(nowMs);
  }

  committedMetadataImage(): MetadataImage | undefined {
    return this.up ? this.loader.image : undefined;
  }

  get appliedOffset(): number {
    return this.#appliedOffset;
  }

  protected resetState(nowMs: number): void {
    this.loader = new MetadataLoader();
    this.loader.addPublisher((delta, image) => this.#publish(localChanges(delta, image, this.nodeId)));
    this.ledPartitions.clear();
    this.lifecycle = 'registering';
    this.incarnationId = `broker-${this.nodeId}-${this.incarnation}`;
    this.brokerEpoch = -1;
    this.fencedByController = true;
    this.#appliedOffset = -1;
    this.#appliedEpoch = 0;
    this.#wantShutDown = false;
    this.#lifecycleInflight = undefined;
    this.#nextCommunicationMs = nowMs;
    this.#caughtUpNudged = false;
    this.#alterInflight.clear();
    this.#unreachable.clear();
    this.#nextIsrCheckMs = nowMs + this.#brokerOptions.isrCheckIntervalMs;
  }

  #publish(changes: LocalReplicaChanges): void {
    for (const p of changes.leaders) this.ledPartitions.add(`${p.topicId}:${p.partition}`);
    for (const p of changes.followers) this.ledPartitions.delete(`${p.topicId}:${p.partition}`);
    for (const p of changes.deletes) this.ledPartitions.delete(`${p.topicId}:${p.partition}`);
  }

  /** Starts a controlled shutdown: heartbeats ask to shut down until the controller agrees. */
  beginControlledShutdown(nowMs: number): boolean {
    if (this.lifecycle !== 'registered') return false;
    this.lifecycle = 'pending-controlled-shutdown';
    this.#wantShutDown = true;
    if (this.#lifecycleInflight === undefined) this.#nextCommunicationMs = nowMs;
    return true;
  }

  // --- Metadata -------------------------------------------------------------------

  protected installSnapshot(snapshot: Snapshot): void {
    this.loader.loadSnapshot(snapshot.data);
    this.#appliedOffset = snapshot.id.endOffset - 1;
    this.#appliedEpoch = snapshot.id.epoch;
  }

  protected applyCommitted(entries: readonly LogEntry[]): void {
    let batch: MetadataRecord[] = [];
    let base = -1;
    const flush = () => {
      if (batch.length > 0) this.loader.handleCommit(batch, base);
      batch = [];
    };
    for (const entry of entries) {
      if (entry.kind === 'data') {
        if (batch.length === 0) base = entry.offset;
        batch.push(decodeRecord(entry.data));
      } else {
        flush();
      }
      this.#appliedOffset = entry.offset;
      this.#appliedEpoch = entry.epoch;
    }
    flush();
  }

  protected takeSnapshot(): Snapshot | undefined {
    if (this.#appliedOffset < 0) return undefined;
    return {
      id: { endOffset: this.#appliedOffset + 1, epoch: this.#appliedEpoch },
      data: this.loader.image.toBytes(),
    };
  }

  // --- Lifecycle -------------------------------------------------------------------

  protected afterEvent(nowMs: number): void {
    // Caught up to our own registration while fenced: ask to be unfenced now rather than at the next interval.
    if (
      this.lifecycle === 'registered' &&
      this.fencedByController &&
      !this.#caughtUpNudged &&
      this.brokerEpoch >= 0 &&
      this.#appliedOffset >= this.brokerEpoch &&
      this.#lifecycleInflight === undefined
    ) {
      this.#caughtUpNudged = true;
      this.#nextCommunicationMs = nowMs;
    }
    if (this.#lifecycleInflight === undefined && nowMs >= this.#nextCommunicationMs) this.#communicate(nowMs);
  }

  protected tickProcess(nowMs: number): void {
    if (this.lifecycle === 'shut-down') return;
    const timeoutMs = this.#brokerOptions.sessionTimeoutMs / 2;
    const inflight = this.#lifecycleInflight;
    if (inflight !== undefined && nowMs - inflight.sentMs >= timeoutMs) {
      this.#lifecycleInflight = undefined;
      this.#nextCommunicationMs = nowMs;
    }
    if (this.#lifecycleInflight === undefined && nowMs >= this.#nextCommunicationMs) this.#communicate(nowMs);
    if (nowMs >= this.#nextIsrCheckMs) {
      this.#nextIsrCheckMs = nowMs + this.#brokerOptions.isrCheckIntervalMs;
      for (const [key, alter] of this.#alterInflight) {
        if (nowMs - alter.sentMs >= timeoutMs) this.#alterInflight.delete(key);
      }
      this.#checkIsrs(nowMs);
    }
  }

  protected processDeadlineMs(): number {
    if (this.lifecycle === 'shut-down') return Number.POSITIVE_INFINITY;
    const inflight = this.#lifecycleInflight;
    const lifecycleMs =
      inflight === undefined ? this.#nextCommunicationMs : inflight.sentMs + this.#brokerOptions.sessionTimeoutMs / 2;
    return Math.min(lifecycleMs, this.#nextIsrCheckMs);
  }

  override receive(message: SimMessage, nowMs: number): void {
    if (!this.paused) this.#unreachable.delete(message.from);
    super.receive(message, nowMs);
  }

  /** The controller we asked is gone: ask again (the Raft observer will find the new leader). */
  protected peerGone(peer: NodeId, nowMs: number): void {
    if (this.#brokerOptions.voterIds.includes(peer)) this.#unreachable.add(peer);
    if (this.#lifecycleInflight?.to === peer) {
      this.#lifecycleInflight = undefined;
      this.#nextCommunicationMs = nowMs + this.#brokerOptions.retryBackoffMs;
    }
    for (const [key, alter] of this.#alterInflight) if (alter.to === peer) this.#alterInflight.delete(key);
  }

  /** The Raft leader this observer follows, else the next voter whose connection is not known to be closed. */
  #controller(): NodeId {
    const leader = this.raft.leaderId;
    const voters = this.#brokerOptions.voterIds;
    if (voters.includes(leader) && !this.#unreachable.has(leader)) return leader;
    const reachable = voters.filter((id) => !this.#unreachable.has(id));
    const candidates = reachable.length > 0 ? reachable : voters;
    return candidates[this.#voterCursor++ % candidates.length] as NodeId;
  }

  #communicate(nowMs: number): void {
    if (this.lifecycle === 'shut-down') return;
    const correlationId = this.#nextCorrelationId++;
    const to = this.#controller();
    this.#lifecycleInflight = { correlationId, sentMs: nowMs, to };
    if (this.lifecycle === 'registering') {
      this.send({
        type: 'BrokerRegistrationRequest',
        from: this.nodeId,
        to,
        correlationId,
        request: {
          brokerId: this.nodeId,
          incarnationId: this.incarnationId,
          rack: null,
          listeners: [{ name: 'PLAINTEXT', host: `broker-${this.nodeId}`, port: 9092 }],
        },
      } satisfies ControlPlaneRequest);
      return;
    }
    this.send({
      type: 'BrokerHeartbeatRequest',
      from: this.nodeId,
      to,
      correlationId,
      request: {
        brokerId: this.nodeId,
        brokerEpoch: this.brokerEpoch,
        currentMetadataOffset: this.#appliedOffset,
        wantFence: false,
        wantShutDown: this.#wantShutDown,
      },
    } satisfies ControlPlaneRequest);
  }

  protected receiveRequest(raw: SimMessage, nowMs: number): void {
    const message = raw as ControlPlaneResponse;
    const options = this.#brokerOptions;
    switch (message.type) {
      case 'BrokerRegistrationResponse':
      case 'BrokerHeartbeatResponse': {
        if (this.#lifecycleInflight?.correlationId !== message.correlationId) return;
        this.#lifecycleInflight = undefined;
        if (this.lifecycle === 'shut-down') return;
        const outcome = message.outcome;
        if (!outcome.ok) {
          const name = outcome.error.errorName;
          if (name === 'STALE_BROKER_EPOCH') {
            this.lifecycle = 'registering';
            this.#wantShutDown = false;
            this.brokerEpoch = -1;
            this.fencedByController = true;
          }
          const backoffMs =
            name === 'DUPLICATE_BROKER_REGISTRATION' ? options.heartbeatIntervalMs : options.retryBackoffMs;
          this.#nextCommunicationMs = nowMs + backoffMs;
          return;
        }
        if (message.type === 'BrokerRegistrationResponse') {
          if (this.lifecycle !== 'registering') return;
          this.lifecycle = 'registered';
          this.brokerEpoch = (outcome.response as { brokerEpoch: number }).brokerEpoch;
          this.#caughtUpNudged = false;
          this.#nextCommunicationMs = nowMs;
          return;
        }
        const response = outcome.response as { isFenced: boolean; shouldShutDown: boolean };
        this.fencedByController = response.isFenced;
        if (response.shouldShutDown && this.lifecycle === 'pending-controlled-shutdown') {
          this.lifecycle = 'shut-down';
          options.onShutdown(this.nodeId);
          return;
        }
        this.#nextCommunicationMs = nowMs + options.heartbeatIntervalMs;
        return;
      }
      case 'AlterPartitionResponse':
        for (const [key, alter] of this.#alterInflight) {
          if (alter.correlationId === message.correlationId) this.#alterInflight.delete(key);
        }
        return;
      default:
        return;
    }
  }

  /** As a leader: propose adding active replicas missing from the ISR, or now and then drop a follower. */
  #checkIsrs(nowMs: number): void {
    if (this.lifecycle !== 'registered' || this.fencedByController || this.brokerEpoch < 0) return;
    const image = this.loader.image;
    if (image.broker(this.nodeId)?.brokerEpoch !== this.brokerEpoch) return;
    for (const topic of image.topicsById.values()) {
      topic.partitions.forEach((p, partition) => {
        if (p.leader !== this.nodeId) return;
        const key = `${topic.topicId}:${partition}`;
        if (this.#alterInflight.has(key)) return;
        const missing = p.replicas.filter((id) => !p.isr.includes(id) && image.isActiveBroker(id));
        let newIsr: number[] | undefined;
        if (missing.length > 0) {
          newIsr = [...p.isr, ...missing];
        } else if (p.isr.length > 1 && this.random.chance(this.#brokerOptions.isrShrinkProbability)) {
          const followers = p.isr.filter((id) => id !== this.nodeId);
          const dropped = this.random.pick(followers);
          newIsr = p.isr.filter((id) => id !== dropped);
        }
        if (newIsr === undefined) return;
        const correlationId = this.#nextCorrelationId++;
        const to = this.#controller();
        this.#alterInflight.set(key, { correlationId, sentMs: nowMs, to });
        this.send({
          type: 'AlterPartitionRequest',
          from: this.nodeId,
          to,
          correlationId,
          request: {
            brokerId: this.nodeId,
            brokerEpoch: this.brokerEpoch,
            topicId: topic.topicId,
            partition,
            leaderEpoch: p.leaderEpoch,
            partitionEpoch: p.partitionEpoch,
            newIsr,
          },
        } satisfies ControlPlaneRequest);
      });
    }
  }

  describe(): string {
    if (!this.up) return `${this.nodeId}:down`;
    return `${this.nodeId}:broker ${this.lifecycle}${this.fencedByController ? ' fenced' : ''}${this.paused ? ' (paused)' : ''} epoch=${this.brokerEpoch} applied=${this.#appliedOffset} leader=${this.raft.leaderId}`;
  }
}
