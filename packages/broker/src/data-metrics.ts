// Metrics of one broker's data plane, named after Kafka's ReplicaManager,
// Partition, ReplicaFetcherManager and RequestChannel metrics with a
// `raftka_broker_` prefix: URP and ISR health gauges (recomputed from the
// partitions once a second, never per request), ISR change counters,
// purgatory sizes, replication bytes, and request latency per API and acks.
import { type Counter, type Gauge, type Histogram, LATENCY_BUCKETS_SECONDS, type Metrics } from '@raftka/observability';

export class DataPlaneMetrics {
  readonly partitionCount: Gauge;
  readonly leaderCount: Gauge;
  readonly underReplicatedPartitions: Gauge;
  readonly underMinIsrPartitions: Gauge;
  readonly atMinIsrPartitions: Gauge;
  readonly offlineReplicas: Gauge;
  readonly isrShrinks: Counter;
  readonly isrExpands: Counter;
  readonly failedIsrUpdates: Counter;
  readonly producePurgatorySize: Gauge;
  readonly fetchPurgatorySize: Gauge;
  readonly replicationBytesIn: Counter;
  readonly replicationBytesOut: Counter;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly messagesIn: Counter;
  readonly maxFollowerLag: Gauge;
  readonly requests: Counter<'api' | 'error'>;
  readonly partitionErrors: Counter<'api' | 'error'>;
  readonly requestDuration: Histogram<'api' | 'acks'>;

  constructor(m: Metrics) {
    this.partitionCount = m.gauge(
      'raftka_broker_partition_count',
      'Partition replicas on this broker (PartitionCount)',
    );
    this.leaderCount = m.gauge('raftka_broker_leader_count', 'Partitions this broker leads (LeaderCount)');
    this.underReplicatedPartitions = m.gauge(
      'raftka_broker_under_replicated_partitions',
      'Partitions led here whose ISR is smaller than their replica set (UnderReplicatedPartitions)',
    );
    this.underMinIsrPartitions = m.gauge(
      'raftka_broker_under_min_isr_partitions',
      'Partitions led here whose ISR is below min.insync.replicas: acks=all produce fails (UnderMinIsrPartitionCount)',
    );
    this.atMinIsrPartitions = m.gauge(
      'raftka_broker_at_min_isr_partitions',
      'Partitions led here whose ISR is exactly min.insync.replicas: one more failure stops acks=all (AtMinIsrPartitionCount)',
    );
    this.offlineReplicas = m.gauge(
      'raftka_broker_offline_replicas',
      'Replicas on this broker whose partition has no leader, or whose log is offline (OfflineReplicaCount)',
    );
    this.isrShrinks = m.counter('raftka_broker_isr_shrinks_total', 'ISR shrinks committed for partitions led here');
    this.isrExpands = m.counter('raftka_broker_isr_expands_total', 'ISR expansions committed for partitions led here');
    this.failedIsrUpdates = m.counter(
      'raftka_broker_failed_isr_updates_total',
      'AlterPartition proposals the controller refused or that failed (FailedIsrUpdatesPerSec)',
    );
    this.producePurgatorySize = m.gauge(
      'raftka_broker_produce_purgatory_size',
      'acks=all produce requests waiting for the high watermark',
    );
    this.fetchPurgatorySize = m.gauge(
      'raftka_broker_fetch_purgatory_size',
      'Fetch requests long-polling for data (followers and consumers)',
    );
    this.replicationBytesIn = m.counter(
      'raftka_broker_replication_bytes_in_total',
      'Bytes this broker fetched as a follower (ReplicationBytesInPerSec)',
    );
    this.replicationBytesOut = m.counter(
      'raftka_broker_replication_bytes_out_total',
      'Bytes this broker served to followers (ReplicationBytesOutPerSec)',
    );
    this.bytesIn = m.counter(
      'raftka_broker_bytes_in_total',
      'Record bytes produced to partitions led here (BytesInPerSec)',
    );
    this.bytesOut = m.counter('raftka_broker_bytes_out_total', 'Record bytes served to consumers (BytesOutPerSec)');
    this.messagesIn = m.counter('raftka_broker_messages_in_total', 'Records produced to partitions led here');
    this.maxFollowerLag = m.gauge(
      'raftka_broker_replica_max_lag',
      'Largest lag in offsets of a partition this broker follows behind its leader (ReplicaFetcherManager MaxLag)',
    );
    this.requests = m.counter('raftka_broker_requests_total', 'Data-plane requests, by API and request-level error', [
      'api',
      'error',
    ]);
    this.partitionErrors = m.counter(
      'raftka_broker_partition_errors_total',
      'Per-partition errors answered, by API and Kafka error name',
      ['api', 'error'],
    );
    this.requestDuration = m.histogram(
      'raftka_broker_request_duration_seconds',
      'Time from a data-plane request arriving to its answer, by API and acks (TotalTimeMs)',
      LATENCY_BUCKETS_SECONDS,
      ['api', 'acks'],
    );
  }
}
