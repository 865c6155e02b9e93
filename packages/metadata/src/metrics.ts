// Controller metrics as plain numbers, named after Kafka's
// kafka.controller:type=KafkaController and ControllerStats metrics. Gauges
// are computed from an image on demand; counters are bumped by the quorum
// controller as its handlers decide. The driver copies them into prom-client;
// this package stays free of it.
import { type MetadataImage, NO_LEADER } from './image.js';

export interface ControllerImageGauges {
  /** ActiveBrokerCount: registered and unfenced (including those shutting down). */
  readonly activeBrokerCount: number;
  /** FencedBrokerCount. */
  readonly fencedBrokerCount: number;
  /** ControlledShutdownBrokerCount. */
  readonly controlledShutdownBrokerCount: number;
  /** GlobalTopicCount. */
  readonly globalTopicCount: number;
  /** GlobalPartitionCount. */
  readonly globalPartitionCount: number;
  /** OfflinePartitionsCount: partitions with no leader. */
  readonly offlinePartitionsCount: number;
  /** PreferredReplicaImbalanceCount: partitions not led by their first replica. */
  readonly preferredReplicaImbalanceCount: number;
}

export function controllerImageGauges(image: MetadataImage): ControllerImageGauges {
  let active = 0;
  let fenced = 0;
  let shuttingDown = 0;
  for (const b of image.brokers.values()) {
    if (b.fenced) fenced++;
    else active++;
    if (b.inControlledShutdown && !b.fenced) shuttingDown++;
  }
  let partitions = 0;
  let offline = 0;
  let imbalance = 0;
  for (const topic of image.topicsById.values()) {
    for (const p of topic.partitions) {
      partitions++;
      if (p.leader === NO_LEADER) offline++;
      if (p.leader !== p.replicas[0]) imbalance++;
    }
  }
  return {
    activeBrokerCount: active,
    fencedBrokerCount: fenced,
    controlledShutdownBrokerCount: shuttingDown,
    globalTopicCount: image.topicsById.size,
    globalPartitionCount: partitions,
    offlinePartitionsCount: offline,
    preferredReplicaImbalanceCount: imbalance,
  };
}

/** Counters since this controller object was created; only the active controller bumps them. */
export class ControllerCounters {
  /** TimedOutBrokerHeartbeatCount: brokers fenced for missing their session timeout. */
  timedOutBrokerHeartbeats = 0;
  /** UncleanLeaderElectionsPerSec (as a count). */
  uncleanLeaderElections = 0;
  /** LeaderElectionRateAndTimeMs (count part): leader changes decided, including to no leader. */
  leaderElections = 0;
  /** LeaderElectionRateAndTimeMs (time part), fed by the driver when the election's records commit. */
  leaderElectionLatencyCount = 0;
  leaderElectionLatencySumMs = 0;
  leaderElectionLatencyMaxMs = 0;
  /** NewActiveControllersCount on this node. */
  newActiveControllers = 0;

  recordLeaderElectionLatency(latencyMs: number): void {
    this.leaderElectionLatencyCount++;
    this.leaderElectionLatencySumMs += latencyMs;
    if (latencyMs > this.leaderElectionLatencyMaxMs) this.leaderElectionLatencyMaxMs = latencyMs;
  }
}
