// The control plane's metrics, named after Kafka's
// kafka.controller:type=KafkaController and ControllerStats metrics with a
// `raftka_controller_` prefix and Prometheus units. Gauges come from the
// committed image and are reported by the active controller only (0 on a
// standby, as Kafka does, so a cluster-wide sum counts each thing once);
// counters copy the engine's counters as deltas, so a scrape of every
// controller adds up to the cluster's totals.
//
// ActiveControllerCount and NewActiveControllersCount are RaftMetrics'
// (metrics.ts): they follow the Raft role.

import { type ControllerCounters, controllerImageGauges, type MetadataImage } from '@raftka/metadata';
import { type Counter, type Gauge, type Histogram, LATENCY_BUCKETS_SECONDS, type Metrics } from '@raftka/observability';

export class ControllerMetrics {
  readonly offlinePartitions: Gauge;
  readonly fencedBrokers: Gauge;
  readonly activeBrokers: Gauge;
  readonly controlledShutdownBrokers: Gauge;
  readonly globalTopics: Gauge;
  readonly globalPartitions: Gauge;
  readonly preferredReplicaImbalance: Gauge;
  readonly timedOutBrokerHeartbeats: Counter;
  readonly leaderElections: Counter;
  readonly uncleanLeaderElections: Counter;
  readonly leaderElectionLatency: Histogram;
  readonly brokerConnectionsLost: Counter;
  readonly heartbeatStreams: Gauge;
  #seen = { timedOut: 0, elections: 0, unclean: 0 };

  constructor(m: Metrics) {
    this.offlinePartitions = m.gauge(
      'raftka_controller_offline_partitions_count',
      'OfflinePartitionsCount: partitions without a leader (active controller only)',
    );
    this.fencedBrokers = m.gauge('raftka_controller_fenced_broker_count', 'FencedBrokerCount (active controller only)');
    this.activeBrokers = m.gauge(
      'raftka_controller_active_broker_count',
      'ActiveBrokerCount: registered and unfenced brokers (active controller only)',
    );
    this.controlledShutdownBrokers = m.gauge(
      'raftka_controller_controlled_shutdown_broker_count',
      'ControlledShutdownBrokerCount (active controller only)',
    );
    this.globalTopics = m.gauge('raftka_controller_global_topic_count', 'GlobalTopicCount (active controller only)');
    this.globalPartitions = m.gauge(
      'raftka_controller_global_partition_count',
      'GlobalPartitionCount (active controller only)',
    );
    this.preferredReplicaImbalance = m.gauge(
      'raftka_controller_preferred_replica_imbalance_count',
      'PreferredReplicaImbalanceCount: partitions not led by their first replica (active controller only)',
    );
    this.timedOutBrokerHeartbeats = m.counter(
      'raftka_controller_timed_out_broker_heartbeats_total',
      'TimedOutBrokerHeartbeatCount: brokers fenced for missing broker.session.timeout.ms',
    );
    this.leaderElections = m.counter(
      'raftka_controller_leader_elections_total',
      'LeaderElectionRateAndTimeMs (rate part): partition leader changes decided, including to no leader',
    );
    this.uncleanLeaderElections = m.counter(
      'raftka_controller_unclean_leader_elections_total',
      'UncleanLeaderElectionsPerSec: leaders elected from outside the ISR',
    );
    this.leaderElectionLatency = m.histogram(
      'raftka_controller_leader_election_latency_seconds',
      'LeaderElectionRateAndTimeMs (time part): from the event (fence, shutdown, election request) until the election records committed',
      LATENCY_BUCKETS_SECONDS,
    );
    this.brokerConnectionsLost = m.counter(
      'raftka_controller_broker_connections_lost_total',
      'Raftka-only: heartbeat streams that broke, each fencing its broker at once',
    );
    this.heartbeatStreams = m.gauge(
      'raftka_controller_heartbeat_streams',
      'Raftka-only: open broker heartbeat streams',
    );
  }

  /** Copies the engine's counters as deltas (cheap: call after every engine call). */
  syncCounters(counters: ControllerCounters): void {
    const seen = this.#seen;
    if (counters.timedOutBrokerHeartbeats > seen.timedOut) {
      this.timedOutBrokerHeartbeats.inc(counters.timedOutBrokerHeartbeats - seen.timedOut);
    }
    if (counters.leaderElections > seen.elections) this.leaderElections.inc(counters.leaderElections - seen.elections);
    if (counters.uncleanLeaderElections > seen.unclean) {
      this.uncleanLeaderElections.inc(counters.uncleanLeaderElections - seen.unclean);
    }
    this.#seen = {
      timedOut: counters.timedOutBrokerHeartbeats,
      elections: counters.leaderElections,
      unclean: counters.uncleanLeaderElections,
    };
  }

  /** Image gauges; `image` null on a standby (all zero). Costs a pass over the partitions. */
  setImageGauges(image: MetadataImage | null): void {
    const g = image === null ? null : controllerImageGauges(image);
    this.offlinePartitions.set(g?.offlinePartitionsCount ?? 0);
    this.fencedBrokers.set(g?.fencedBrokerCount ?? 0);
    this.activeBrokers.set(g?.activeBrokerCount ?? 0);
    this.controlledShutdownBrokers.set(g?.controlledShutdownBrokerCount ?? 0);
    this.globalTopics.set(g?.globalTopicCount ?? 0);
    this.globalPartitions.set(g?.globalPartitionCount ?? 0);
    this.preferredReplicaImbalance.set(g?.preferredReplicaImbalanceCount ?? 0);
  }
}
