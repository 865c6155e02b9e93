// The model controller of the data-plane simulation: one process that owns
// broker registrations and every partition's leader, ISR, leader epoch and
// partition epoch, with the real controller's rules but without a Raft log
// (the control-plane scenario tests that part). Elections go through the real
// `buildPartitionChange` from @raftka/metadata (keep the leader if it is in
// the ISR and may lead, else the first replica in assignment order that is in
// the ISR and may lead; the ISR never becomes empty; unclean election off).
// Brokers register with a new incarnation on every start, which fences the
// previous registration first (moving leadership and ISR membership away);
// they are unfenced by a heartbeat once they have the metadata; a broker whose
// connection closes, or that misses the session timeout, is fenced.
// AlterPartition is checked as QuorumController.alterPartition does: broker
// epoch, leader, leader epoch, partition epoch, and that every added replica
// is unfenced with the broker epoch it fetched with (KIP-903).
import type { ErrorName } from '@raftka/common';
import { buildPartitionChange, NO_LEADER, type PartitionRegistration } from '@raftka/metadata';
import type { World } from '../world.js';
import type { DataPlaneMessage, PartitionState } from './messages.js';

export const CONTROLLER_ID = 100;

export interface ControllerConfig {
  readonly brokerIds: readonly number[];
  readonly assignments: readonly (readonly number[])[];
  readonly sessionTimeoutMs: number;
  /** Mutant: elect a replica outside the ISR when no ISR member can lead. */
  readonly uncleanElection?: boolean;
}

interface BrokerRegistrationState {
  incarnation: number;
  brokerEpoch: number;
  fenced: boolean;
  lastContactMs: number;
}

export type PartitionChangeListener = (partition: number, registration: PartitionRegistration, why: string) => void;

const METADATA_RESEND_MS = 400;
const TICK_MS = 100;
/** leader.imbalance.check.interval.seconds, scaled down like the other timeouts. */
const PREFERRED_ELECTION_INTERVAL_MS = 3000;

export class ModelController {
  readonly nodeId = CONTROLLER_ID;
  readonly up = true;
  readonly incarnation = 0;
  readonly partitions: PartitionRegistration[];
  private readonly brokers = new Map<number, BrokerRegistrationState>();
  private nextBrokerEpoch = 1;
  private nextTickMs = 0;
  private nextResendMs = 0;
  private nextPreferredMs = PREFERRED_ELECTION_INTERVAL_MS;
  private readonly listeners: PartitionChangeListener[] = [];
  elections = 0;
  fencings = 0;
  isrChanges = 0;

  constructor(
    private readonly world: World,
    private readonly config: ControllerConfig,
  ) {
    this.partitions = config.assignments.map((replicas) => ({
      replicas: [...replicas],
      isr: [...replicas],
      // Offline until a replica registers and is unfenced (the topic is created before the brokers start).
      leader: NO_LEADER,
      leaderEpoch: 0,
      partitionEpoch: 0,
    }));
  }

  onPartitionChange(listener: PartitionChangeListener): void {
    this.listeners.push(listener);
  }

  /** Registered, unfenced: may lead and join ISRs. */
  isActive(brokerId: number): boolean {
    const b = this.brokers.get(brokerId);
    return b !== undefined && !b.fenced;
  }

  registration(brokerId: number): { incarnation: number; brokerEpoch: number; fenced: boolean } | undefined {
    return this.brokers.get(brokerId);
  }

  receive(message: DataPlaneMessage, nowMs: number): void {
    switch (message.type) {
      case 'BrokerRegistration':
        this.handleRegistration(message.from, message.incarnation, nowMs);
        return;
      case 'BrokerHeartbeat': {
        const b = this.brokers.get(message.from);
        if (b === undefined || b.brokerEpoch !== message.brokerEpoch) {
          this.send({
            type: 'BrokerHeartbeatResponse',
            from: this.nodeId,
            to: message.from,
            brokerEpoch: message.brokerEpoch,
            error: 'STALE_BROKER_EPOCH',
            fenced: true,
          });
          return;
        }
        b.lastContactMs = nowMs;
        if (b.fenced && message.caughtUp) {
          b.fenced = false;
          this.electOnUnfence(message.from);
          this.broadcast();
        }
        this.send({
          type: 'BrokerHeartbeatResponse',
          from: this.nodeId,
          to: message.from,
          brokerEpoch: b.brokerEpoch,
          error: 'NONE',
          fenced: b.fenced,
        });
        return;
      }
      case 'AlterPartition':
        this.handleAlterPartition(message);
        return;
      case 'MetadataRequest':
        this.send({
          type: 'MetadataResponse',
          from: this.nodeId,
          to: message.from,
          correlationId: message.correlationId,
          leaders: this.partitions.map((p) => p.leader),
        });
        return;
      default:
        return;
    }
  }

  private handleRegistration(brokerId: number, incarnation: number, nowMs: number): void {
    let b = this.brokers.get(brokerId);
    if (b !== undefined && incarnation < b.incarnation) return; // an old process's late request
    if (b === undefined || b.incarnation !== incarnation) {
      // A new life: the old registration is fenced first, so a restarted broker never leads or
      // stays in an ISR on the strength of its previous life (the last ISR member stays, as always).
      if (b !== undefined && !b.fenced) this.fence(brokerId, 'reregistered');
      b = { incarnation, brokerEpoch: this.nextBrokerEpoch++, fenced: true, lastContactMs: nowMs };
      this.brokers.set(brokerId, b);
    }
    this.send({
      type: 'BrokerRegistrationResponse',
      from: this.nodeId,
      to: brokerId,
      incarnation,
      brokerEpoch: b.brokerEpoch,
    });
    this.sendMetadata(brokerId);
  }

  private handleAlterPartition(m: Extract<DataPlaneMessage, { type: 'AlterPartition' }>): void {
    const current = this.partitions[m.partition];
    const answer = (error: ErrorName) => {
      // The partition as it is now (after the change, for a success).
      const now = this.partitions[m.partition];
      this.send({
        type: 'AlterPartitionResponse',
        from: this.nodeId,
        to: m.from,
        correlationId: m.correlationId,
        partition: m.partition,
        error,
        leaderEpoch: now?.leaderEpoch ?? -1,
        partitionEpoch: now?.partitionEpoch ?? -1,
        isr: now?.isr ?? [],
      });
    };
    if (current === undefined) {
      answer('UNKNOWN_TOPIC_OR_PARTITION');
      return;
    }
    const b = this.brokers.get(m.from);
    if (b === undefined || b.brokerEpoch !== m.brokerEpoch) {
      answer('STALE_BROKER_EPOCH');
      return;
    }
    if (current.leader !== m.from) {
      answer('NOT_LEADER_OR_FOLLOWER');
      return;
    }
    if (m.leaderEpoch !== current.leaderEpoch) {
      answer('FENCED_LEADER_EPOCH');
      return;
    }
    if (m.partitionEpoch !== current.partitionEpoch) {
      answer('INVALID_UPDATE_VERSION');
      return;
    }
    const newIsr = m.newIsr;
    if (newIsr.length === 0 || new Set(newIsr).size !== newIsr.length || !newIsr.includes(current.leader)) {
      answer('INVALID_REQUEST');
      return;
    }
    if (newIsr.some((id) => !current.replicas.includes(id))) {
      answer('INVALID_REQUEST');
      return;
    }
    const ineligible = newIsr.some((id, i) => {
      if (current.isr.includes(id)) return false;
      const r = this.brokers.get(id);
      return r === undefined || r.fenced || r.brokerEpoch !== m.newIsrBrokerEpochs[i];
    });
    if (ineligible) {
      answer('INELIGIBLE_REPLICA');
      return;
    }
    const changed = newIsr.length !== current.isr.length || newIsr.some((id, i) => current.isr[i] !== id);
    if (changed) {
      this.set(m.partition, { ...current, isr: [...newIsr], partitionEpoch: current.partitionEpoch + 1 }, 'alter');
      this.isrChanges += 1;
      this.broadcast();
    }
    answer('NONE');
  }

  private fence(brokerId: number, why: string): void {
    const b = this.brokers.get(brokerId);
    if (b === undefined || b.fenced) return;
    b.fenced = true;
    this.fencings += 1;
    // QuorumController.#moveAway: out of every ISR (the last member stays), new leaders elected.
    const mayLead = (id: number) => id !== brokerId && this.isActive(id);
    this.partitions.forEach((current, partition) => {
      if (!current.isr.includes(brokerId) && current.leader !== brokerId) return;
      this.applyChange(
        partition,
        buildPartitionChange({
          topicId: 'sim',
          partition,
          current,
          mayLead,
          targetIsr: current.isr.filter((id) => id !== brokerId),
          election: 'online',
          uncleanAllowed: this.config.uncleanElection === true,
        }),
        `fence ${brokerId} (${why})`,
      );
    });
    this.broadcast();
  }

  private electOnUnfence(brokerId: number): void {
    const mayLead = (id: number) => id === brokerId || this.isActive(id);
    this.partitions.forEach((current, partition) => {
      if (current.leader !== NO_LEADER || !current.replicas.includes(brokerId)) return;
      this.applyChange(
        partition,
        buildPartitionChange({
          topicId: 'sim',
          partition,
          current,
          mayLead,
          election: 'online',
          uncleanAllowed: this.config.uncleanElection === true,
        }),
        `unfence ${brokerId}`,
      );
    });
  }

  private applyChange(partition: number, outcome: ReturnType<typeof buildPartitionChange>, why: string): void {
    const current = this.partitions[partition]!;
    if (outcome.record === null) return;
    if (outcome.leaderChanged) this.elections += 1;
    this.set(
      partition,
      {
        replicas: current.replicas,
        isr: [...outcome.isr],
        leader: outcome.leader,
        leaderEpoch: outcome.leaderChanged ? current.leaderEpoch + 1 : current.leaderEpoch,
        partitionEpoch: current.partitionEpoch + 1,
      },
      why,
    );
  }

  private set(partition: number, registration: PartitionRegistration, why: string): void {
    this.partitions[partition] = registration;
    this.world.record(
      `controller p${partition} leader=${registration.leader} e${registration.leaderEpoch} pe${registration.partitionEpoch} isr=[${registration.isr}] (${why})`,
      40,
      partition,
      registration.partitionEpoch,
    );
    for (const l of this.listeners) l(partition, registration, why);
  }

  tick(nowMs: number): void {
    if (nowMs >= this.nextTickMs) {
      this.nextTickMs = nowMs + TICK_MS;
      for (const [id, b] of this.brokers) {
        if (!b.fenced && nowMs - b.lastContactMs > this.config.sessionTimeoutMs) this.fence(id, 'session timeout');
      }
    }
    if (nowMs >= this.nextPreferredMs) {
      this.nextPreferredMs = nowMs + PREFERRED_ELECTION_INTERVAL_MS;
      this.electPreferred();
    }
    if (nowMs >= this.nextResendMs) {
      // The metadata log is pulled by brokers in Kafka; resending the state stands in for that (lost messages heal).
      this.nextResendMs = nowMs + METADATA_RESEND_MS;
      this.broadcast();
    }
  }

  nextDeadlineMs(): number {
    return Math.min(this.nextTickMs, this.nextResendMs, this.nextPreferredMs);
  }

  /** Auto leader rebalancing: the preferred replica leads again where it is in the ISR and may lead. */
  private electPreferred(): void {
    let changed = false;
    this.partitions.forEach((current, partition) => {
      const preferred = current.replicas[0]!;
      if (current.leader === preferred || !current.isr.includes(preferred) || !this.isActive(preferred)) return;
      const before = current.partitionEpoch;
      this.applyChange(
        partition,
        buildPartitionChange({
          topicId: 'sim',
          partition,
          current,
          mayLead: (id) => this.isActive(id),
          election: 'preferred',
          uncleanAllowed: false,
        }),
        'preferred election',
      );
      changed ||= this.partitions[partition]!.partitionEpoch !== before;
    });
    if (changed) this.broadcast();
  }

  /** The connection to a crashed broker closed: fence it now (QuorumController.brokerConnectionLost). */
  peerDisconnected(peer: number): void {
    if (this.brokers.has(peer)) this.fence(peer, 'connection closed');
  }

  crash(): void {
    throw new Error('the model controller does not crash');
  }
  restart(): void {}

  describe(): string {
    const brokers = [...this.brokers].map(([id, b]) => `${id}:e${b.brokerEpoch}${b.fenced ? 'F' : ''}`).join(' ');
    const parts = this.partitions
      .map((p, i) => `p${i}:L${p.leader}e${p.leaderEpoch}pe${p.partitionEpoch}[${p.isr}]`)
      .join(' ');
    return `controller brokers ${brokers} ${parts}`;
  }

  private broadcast(): void {
    for (const id of this.brokers.keys()) this.sendMetadata(id);
  }

  private sendMetadata(brokerId: number): void {
    const b = this.brokers.get(brokerId);
    if (b === undefined) return;
    const partitions: PartitionState[] = this.partitions.map((p, partition) => ({ partition, ...p }));
    const activeBrokers = this.config.brokerIds.filter((id) => this.isActive(id));
    this.send({
      type: 'UpdateMetadata',
      from: this.nodeId,
      to: brokerId,
      brokerEpoch: b.brokerEpoch,
      partitions,
      activeBrokers,
    });
  }

  private send(message: DataPlaneMessage): void {
    this.world.send(message);
  }
}
