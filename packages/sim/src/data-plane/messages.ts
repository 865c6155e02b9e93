// The messages of the data-plane simulation, as plain objects on the
// simulated network: broker registration and heartbeats, the controller's
// partition states (what a broker learns from the metadata log), AlterPartition,
// follower Fetch, Produce and producers' metadata lookups. Field names follow
// Kafka's requests.
import type { ErrorName } from '@raftka/common';
import type { EpochEndOffset } from '@raftka/replication';
import type { SimBatch } from './partition-log.js';

export interface PartitionState {
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
}

interface Base {
  from: number;
  to: number;
}

export type DataPlaneMessage =
  | (Base & { type: 'BrokerRegistration'; incarnation: number })
  | (Base & { type: 'BrokerRegistrationResponse'; incarnation: number; brokerEpoch: number })
  | (Base & { type: 'BrokerHeartbeat'; brokerEpoch: number; caughtUp: boolean })
  | (Base & { type: 'BrokerHeartbeatResponse'; brokerEpoch: number; error: ErrorName; fenced: boolean })
  | (Base & {
      type: 'UpdateMetadata';
      /** The registration this is meant for; another incarnation ignores it. */
      brokerEpoch: number;
      partitions: readonly PartitionState[];
      /** Brokers that may join an ISR (registered, unfenced). */
      activeBrokers: readonly number[];
    })
  | (Base & {
      type: 'AlterPartition';
      correlationId: number;
      brokerEpoch: number;
      partition: number;
      leaderEpoch: number;
      partitionEpoch: number;
      newIsr: readonly number[];
      /** KIP-903: the broker epoch each replica fetched with, so a restarted replica cannot join on its old life's fetch. */
      newIsrBrokerEpochs: readonly number[];
    })
  | (Base & {
      type: 'AlterPartitionResponse';
      correlationId: number;
      partition: number;
      error: ErrorName;
      leaderEpoch: number;
      partitionEpoch: number;
      isr: readonly number[];
    })
  | (Base & {
      type: 'Fetch';
      correlationId: number;
      brokerEpoch: number;
      partition: number;
      currentLeaderEpoch: number;
      fetchOffset: number;
      lastFetchedEpoch: number;
    })
  | (Base & {
      type: 'FetchResponse';
      correlationId: number;
      partition: number;
      error: ErrorName;
      highWatermark: number;
      divergingEpoch?: EpochEndOffset;
      batches: readonly SimBatch[];
    })
  | (Base & {
      type: 'Produce';
      correlationId: number;
      partition: number;
      acks: number;
      producerId: number;
      producerEpoch: number;
      baseSequence: number;
      values: readonly string[];
      timeoutMs: number;
    })
  | (Base & { type: 'ProduceResponse'; correlationId: number; partition: number; error: ErrorName; baseOffset: number })
  | (Base & { type: 'MetadataRequest'; correlationId: number })
  | (Base & { type: 'MetadataResponse'; correlationId: number; leaders: readonly number[] });

export function describeDataPlaneMessage(m: DataPlaneMessage): string {
  switch (m.type) {
    case 'BrokerRegistration':
      return `inc=${m.incarnation}`;
    case 'BrokerRegistrationResponse':
      return `inc=${m.incarnation} brokerEpoch=${m.brokerEpoch}`;
    case 'BrokerHeartbeat':
      return `brokerEpoch=${m.brokerEpoch} caughtUp=${m.caughtUp}`;
    case 'BrokerHeartbeatResponse':
      return `brokerEpoch=${m.brokerEpoch} err=${m.error} fenced=${m.fenced}`;
    case 'UpdateMetadata':
      return `brokerEpoch=${m.brokerEpoch} active=[${m.activeBrokers}] ${m.partitions
        .map((p) => `p${p.partition}:L${p.leader}e${p.leaderEpoch}pe${p.partitionEpoch}[${p.isr}]`)
        .join(' ')}`;
    case 'AlterPartition':
      return `p${m.partition} e${m.leaderEpoch} pe${m.partitionEpoch} isr=[${m.newIsr}] epochs=[${m.newIsrBrokerEpochs}]`;
    case 'AlterPartitionResponse':
      return `p${m.partition} err=${m.error} e${m.leaderEpoch} pe${m.partitionEpoch} isr=[${m.isr}]`;
    case 'Fetch':
      return `p${m.partition} #${m.correlationId} e${m.currentLeaderEpoch} offset=${m.fetchOffset} lastEpoch=${m.lastFetchedEpoch}`;
    case 'FetchResponse':
      return `p${m.partition} #${m.correlationId} err=${m.error} hw=${m.highWatermark}${
        m.divergingEpoch === undefined ? '' : ` diverging=${m.divergingEpoch.endOffset}@${m.divergingEpoch.leaderEpoch}`
      } batches=${m.batches.map((b) => `${b.baseOffset}+${b.values.length}@${b.epoch}`).join(',')}`;
    case 'Produce':
      return `p${m.partition} #${m.correlationId} acks=${m.acks} pid=${m.producerId}/${m.producerEpoch} seq=${m.baseSequence} n=${m.values.length}`;
    case 'ProduceResponse':
      return `p${m.partition} #${m.correlationId} err=${m.error} offset=${m.baseOffset}`;
    case 'MetadataRequest':
      return `#${m.correlationId}`;
    case 'MetadataResponse':
      return `#${m.correlationId} leaders=[${m.leaders}]`;
  }
}
