// The data plane's invariants (DESIGN.md 2-5), checked after every event and
// at the moments brokers append, truncate and crash:
//
// - AckedWritesKept: every batch a producer saw acknowledged with acks=all is,
//   at its offset, on every member of the controller's ISR that has not lost
//   data in a power loss since it (re)joined that ISR; no two acknowledged
//   writes share an offset.
// - ReplicasAgree: below its high watermark every replica holds exactly what
//   was first committed at each offset (so replicas agree below the HW and
//   committed data never changes), a replica never truncates below what it
//   had as committed, and no HW is above its log end.
// - MonotonicHighWatermark: a leader's HW never goes back (per leadership).
// - NoDuplicates: a record is in a replica's log at most once (idempotent
//   retries are not stored twice) and acknowledged at one offset only; an
//   idempotent producer's acknowledged batches have offsets in sequence order.
// - DenseOffsets: a replica appends only at its log end.
// - FencedLeaderAcceptsNoWrite: only a broker whose current registration's
//   metadata names it leader in the batch's epoch appends as leader.
//
// The guarantee behind AckedWritesKept is Kafka's: replication, not fsync.
// A power loss loses a broker's unflushed page cache, so a broker that lost
// data is *impaired* for that partition until the controller adds it back to
// the ISR on a fetch from its current life (KIP-903), which means it caught up.
// While at least one ISR member is unimpaired the acknowledged writes are
// safe. When every member of a partition's ISR is impaired (for RF 3 and
// min.insync.replicas 2 that takes more than RF - min.insync.replicas
// failures: for example the last ISR member losing its page cache, KIP-966's
// "last replica standing"), the guarantee no longer covers that partition: the
// checker says so in the run's summary (`voidedPartitions`) and stops checking
// that partition's data; the fault schedule makes this rare.
import type { LeaderPartitionState } from '@raftka/replication';
import type { World } from '../world.js';
import type { BrokerObserver, SimBroker } from './broker.js';
import type { ModelController } from './controller.js';
import type { SimBatch } from './partition-log.js';
import type { ProducerBatch, ProducerObserver, SimProducer } from './producer.js';

export const DATA_PLANE_INVARIANTS = [
  'AckedWritesKept',
  'ReplicasAgree',
  'MonotonicHighWatermark',
  'NoDuplicates',
  'DenseOffsets',
  'FencedLeaderAcceptsNoWrite',
] as const;

export interface AckedBatch {
  readonly partition: number;
  readonly baseOffset: number;
  readonly values: readonly string[];
  readonly acksAll: boolean;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly sequence: number;
}

export class DataPlaneInvariants implements BrokerObserver, ProducerObserver {
  readonly acked: AckedBatch[][];
  private readonly ackedAt: Map<number, string>[];
  private readonly ackedValueOffset = new Map<string, number>();
  private readonly bySequence = new Map<string, AckedBatch[]>();
  readonly impaired: Set<number>[];
  readonly voided: boolean[];
  private readonly history: string[][];
  private readonly verified = new Map<number, number[]>();
  private readonly leaderHw = new WeakMap<LeaderPartitionState, number>();
  private readonly dirty = new Set<number>();
  private fresh: AckedBatch[] = [];
  voidedPartitions = 0;
  powerLosses = 0;
  lostRecords = 0;

  constructor(
    private readonly world: World,
    private readonly controller: ModelController,
    private readonly brokers: readonly SimBroker[],
    partitions: number,
  ) {
    this.acked = Array.from({ length: partitions }, () => []);
    this.ackedAt = Array.from({ length: partitions }, () => new Map());
    this.impaired = Array.from({ length: partitions }, () => new Set());
    this.voided = Array.from({ length: partitions }, () => false);
    this.history = Array.from({ length: partitions }, () => []);
    for (const b of brokers)
      this.verified.set(
        b.nodeId,
        Array.from({ length: partitions }, () => 0),
      );
    const lastIsr = controller.partitions.map((r) => r.isr);
    controller.onPartitionChange((p, registration, why) => {
      this.dirty.add(p);
      const before = lastIsr[p]!;
      lastIsr[p] = registration.isr;
      if (why !== 'alter') return;
      // Back in the ISR through AlterPartition: the leader saw it caught up, in its current life.
      for (const id of registration.isr) {
        if (before.includes(id)) continue;
        const broker = this.broker(id);
        const reg = controller.registration(id);
        if (broker.up && reg !== undefined && reg.incarnation === broker.incarnation) this.impaired[p]!.delete(id);
      }
    });
    world.addCheck(() => this.check());
  }

  get anyImpaired(): boolean {
    return this.impaired.some((s) => s.size > 0);
  }

  private broker(id: number): SimBroker {
    const b = this.brokers.find((x) => x.nodeId === id);
    if (b === undefined) throw new Error(`no broker ${id}`);
    return b;
  }

  // --- hooks ---------------------------------------------------------------------------------

  leaderAppend(broker: SimBroker, p: number, batch: SimBatch): void {
    const role = broker.roles[p];
    const view = broker.view[p];
    const reg = this.controller.registration(broker.nodeId);
    if (
      role?.kind !== 'leader' ||
      role.state.leaderEpoch !== batch.epoch ||
      view?.leader !== broker.nodeId ||
      view.leaderEpoch !== batch.epoch ||
      reg === undefined ||
      reg.incarnation !== broker.incarnation ||
      reg.brokerEpoch !== broker.brokerEpoch
    ) {
      this.world.fail(
        'FencedLeaderAcceptsNoWrite',
        `broker ${broker.nodeId} (incarnation ${broker.incarnation}, broker epoch ${broker.brokerEpoch}) appends to p${p} in epoch ${batch.epoch}, but its metadata says leader ${view?.leader} epoch ${view?.leaderEpoch} and the controller has incarnation ${reg?.incarnation} broker epoch ${reg?.brokerEpoch}`,
      );
    }
    this.checkAppend(broker, p, batch);
  }

  followerAppend(broker: SimBroker, p: number, batch: SimBatch): void {
    this.checkAppend(broker, p, batch);
  }

  private checkAppend(broker: SimBroker, p: number, batch: SimBatch): void {
    const log = broker.logs[p]!;
    if (batch.baseOffset !== log.logEndOffset) {
      this.world.fail(
        'DenseOffsets',
        `broker ${broker.nodeId} p${p}: batch at ${batch.baseOffset}, log end ${log.logEndOffset}`,
      );
    }
    // Only idempotent batches: a non-idempotent producer's request duplicated in flight is stored twice, as in Kafka.
    if (batch.producerId < 0) return;
    for (const v of batch.values) {
      const at = log.offsetOfValue(v);
      if (at !== undefined) {
        this.world.fail(
          'NoDuplicates',
          `broker ${broker.nodeId} p${p}: record ${v} appended at ${batch.baseOffset} is already at offset ${at} (producer ${batch.producerId} epoch ${batch.producerEpoch} seq ${batch.baseSequence})`,
        );
      }
    }
  }

  truncated(broker: SimBroker, p: number, offset: number): void {
    const verified = this.verified.get(broker.nodeId)!;
    if (!this.voided[p] && offset < verified[p]!) {
      this.world.fail(
        'ReplicasAgree',
        `broker ${broker.nodeId} truncates p${p} to ${offset}, below the committed offset ${verified[p]} it held (HW ${broker.hw[p]})`,
      );
    }
    verified[p] = Math.min(verified[p]!, offset);
    this.dirty.add(p);
  }

  /** After a power loss: which partitions lost data on that broker. */
  poweredOff(broker: SimBroker, logEndsBefore: readonly number[]): void {
    this.powerLosses += 1;
    const verified = this.verified.get(broker.nodeId)!;
    broker.logs.forEach((log, p) => {
      if (log.logEndOffset < logEndsBefore[p]!) {
        this.impaired[p]!.add(broker.nodeId);
        this.lostRecords += logEndsBefore[p]! - log.logEndOffset;
      }
      verified[p] = Math.min(verified[p]!, log.logEndOffset);
      this.dirty.add(p);
    });
  }

  acknowledged(producer: SimProducer, p: number, batch: ProducerBatch, baseOffset: number): void {
    const acked: AckedBatch = {
      partition: p,
      baseOffset,
      values: batch.values,
      acksAll: producer.config.acks === -1,
      producerId: producer.config.producerId,
      producerEpoch: batch.producerEpoch,
      sequence: batch.sequence,
    };
    this.world.record(
      `ack p${p} offset=${baseOffset} n=${batch.values.length} by ${producer.nodeId}`,
      42,
      p,
      baseOffset,
    );
    this.acked[p]!.push(acked);
    // acks=1 writes may be lost and overwritten, and written twice by a duplicated request: not checked.
    if (this.voided[p] || !acked.acksAll) return;
    batch.values.forEach((v, i) => {
      const offset = baseOffset + i;
      const at = this.ackedValueOffset.get(v);
      if (at !== undefined && at !== offset) {
        this.world.fail('NoDuplicates', `record ${v} acknowledged at offsets ${at} and ${offset} of p${p}`);
      }
      this.ackedValueOffset.set(v, offset);
      const other = this.ackedAt[p]!.get(offset);
      if (other !== undefined && other !== v) {
        this.world.fail('AckedWritesKept', `p${p} offset ${offset} acknowledged for both ${other} and ${v}`);
      }
      this.ackedAt[p]!.set(offset, v);
    });
    {
      const key = `${acked.producerId}/${acked.producerEpoch}/${p}`;
      const list = this.bySequence.get(key) ?? [];
      for (const o of list) {
        if (o.sequence < acked.sequence !== o.baseOffset < acked.baseOffset) {
          this.world.fail(
            'NoDuplicates',
            `producer ${acked.producerId} p${p}: sequence ${o.sequence} at offset ${o.baseOffset} but sequence ${acked.sequence} at ${acked.baseOffset} (acknowledged out of order)`,
          );
        }
      }
      list.push(acked);
      this.bySequence.set(key, list);
      this.fresh.push(acked);
    }
  }

  // --- after every event ---------------------------------------------------------------------

  check(): void {
    const partitions = this.controller.partitions;
    partitions.forEach((reg, p) => {
      if (this.voided[p]) return;
      if (reg.isr.every((id) => this.impaired[p]!.has(id))) {
        this.voided[p] = true;
        this.voidedPartitions += 1;
        this.world.record(
          `p${p}: every ISR member [${reg.isr}] lost unflushed data; beyond the guarantee, no longer checked`,
          43,
          p,
          0,
        );
      }
    });
    for (const p of this.dirty) for (const a of this.acked[p]!) if (a.acksAll) this.checkHeld(a);
    for (const a of this.fresh) if (!this.dirty.has(a.partition)) this.checkHeld(a);
    this.dirty.clear();
    this.fresh = [];

    for (const broker of this.brokers) {
      if (!broker.up) continue;
      const verified = this.verified.get(broker.nodeId)!;
      broker.roles.forEach((role, p) => {
        if (role.kind === 'leader') {
          const last = this.leaderHw.get(role.state);
          if (last !== undefined && role.state.highWatermark < last) {
            this.world.fail(
              'MonotonicHighWatermark',
              `leader ${broker.nodeId} of p${p} epoch ${role.state.leaderEpoch}: HW ${last} -> ${role.state.highWatermark}`,
            );
          }
          this.leaderHw.set(role.state, role.state.highWatermark);
        }
        if (this.voided[p]) return;
        const log = broker.logs[p]!;
        const hw = broker.hw[p]!;
        if (hw > log.logEndOffset) {
          this.world.fail(
            'ReplicasAgree',
            `broker ${broker.nodeId} p${p}: HW ${hw} above its log end ${log.logEndOffset}`,
          );
        }
        const history = this.history[p]!;
        for (let o = verified[p]!; o < hw; o++) {
          const v = log.valueAt(o)!;
          const first = history[o];
          if (first === undefined) {
            if (o !== history.length) {
              this.world.fail('ReplicasAgree', `p${p}: offset ${o} committed before offset ${history.length}`);
            }
            history.push(v);
          } else if (first !== v) {
            this.world.fail(
              'ReplicasAgree',
              `broker ${broker.nodeId} p${p} holds ${v} at offset ${o} below its HW ${hw}, but ${first} was committed there`,
            );
          }
        }
        verified[p] = hw;
      });
    }
  }

  private checkHeld(a: AckedBatch): void {
    const p = a.partition;
    if (this.voided[p]) return;
    const reg = this.controller.partitions[p]!;
    for (const id of reg.isr) {
      if (this.impaired[p]!.has(id)) continue;
      const log = this.broker(id).logs[p]!;
      for (let i = 0; i < a.values.length; i++) {
        const held = log.valueAt(a.baseOffset + i);
        if (held !== a.values[i]) {
          this.world.fail(
            'AckedWritesKept',
            `acknowledged ${a.values[i]} (acks=all, p${p} offset ${a.baseOffset + i}) is not on ISR member ${id} (it holds ${held ?? 'nothing'}; ISR [${reg.isr}], impaired [${[...this.impaired[p]!]}])`,
          );
        }
      }
    }
  }

  /** At the end, after healing: every acknowledged acks=all write on every replica; acks=1 losses counted. */
  finalCheck(): { lostAcksOneRecords: number; lostBeyondBoundRecords: number } {
    let lostAcksOne = 0;
    let lostBeyondBound = 0;
    this.acked.forEach((list, p) => {
      for (const a of list) {
        for (const broker of this.brokers) {
          if (!this.controller.partitions[p]!.replicas.includes(broker.nodeId)) continue;
          const log = broker.logs[p]!;
          const missing = a.values.some((v, i) => log.valueAt(a.baseOffset + i) !== v);
          if (!missing) continue;
          if (!a.acksAll) {
            lostAcksOne += a.values.length;
            break;
          }
          if (this.voided[p]) {
            lostBeyondBound += a.values.length;
            break;
          }
          this.world.fail(
            'AckedWritesKept',
            `after healing, acknowledged ${a.values[0]} (p${p} offset ${a.baseOffset}) is missing on broker ${broker.nodeId}`,
          );
        }
      }
    });
    return { lostAcksOneRecords: lostAcksOne, lostBeyondBoundRecords: lostBeyondBound };
  }
}
