// Metrics of one controller's Raft node, named after Kafka's raft-metrics
// (kafka.server:type=raft-metrics) and KafkaController with a `raftka_`
// prefix and Prometheus units. Gauges are refreshed once per driver loop
// iteration, counters per Ready, never per record.
import { type Counter, type Gauge, type Histogram, LATENCY_BUCKETS_SECONDS, Metrics } from '@raftka/observability';
import type { RaftRole } from '@raftka/raft';

const ROLES: readonly RaftRole[] = [
  'unattached',
  'follower',
  'prospective',
  'candidate',
  'leader',
  'resigned',
  'observer',
];

export class RaftMetrics {
  readonly metrics: Metrics;
  readonly currentState: Gauge<'state'>;
  readonly currentLeader: Gauge;
  readonly currentEpoch: Gauge;
  readonly currentVote: Gauge;
  readonly highWatermark: Gauge;
  readonly logEndOffset: Gauge;
  readonly logStartOffset: Gauge;
  readonly lastAppliedRecordOffset: Gauge;
  readonly activeControllerCount: Gauge;
  readonly electionLatency: Histogram;
  readonly commitLatency: Histogram;
  readonly appendRecords: Counter;
  readonly fetchRecords: Counter;
  readonly newActiveControllers: Counter;
  readonly peerDisconnects: Counter<'peer'>;
  readonly droppedRequests: Counter<'peer'>;
  readonly snapshots: Counter;
  readonly readyIterations: Counter;

  /** `metrics`: an existing registry to register in (a broker's); a new one labelled with the node id by default. */
  constructor(nodeId: number, metrics?: Metrics) {
    const m = metrics ?? new Metrics({ defaultLabels: { node_id: String(nodeId) } });
    this.metrics = m;
    this.currentState = m.gauge('raftka_raft_current_state', 'Raft role of this node: 1 for the current state', [
      'state',
    ]);
    this.currentLeader = m.gauge('raftka_raft_current_leader', 'Leader id this node knows, -1 if none');
    this.currentEpoch = m.gauge('raftka_raft_current_epoch', 'Current quorum epoch');
    this.currentVote = m.gauge('raftka_raft_current_vote', 'Voted-for id in the current epoch, -1 if none');
    this.highWatermark = m.gauge('raftka_raft_high_watermark', 'High watermark of the metadata log');
    this.logEndOffset = m.gauge('raftka_raft_log_end_offset', 'Log end offset of the metadata log');
    this.logStartOffset = m.gauge('raftka_raft_log_start_offset', 'Log start offset (after the latest snapshot)');
    this.lastAppliedRecordOffset = m.gauge(
      'raftka_controller_last_applied_record_offset',
      'Last offset applied to the state machine',
    );
    this.activeControllerCount = m.gauge(
      'raftka_controller_active_controller_count',
      '1 on the active controller (the Raft leader), else 0; the cluster sum must be 1',
    );
    this.electionLatency = m.histogram(
      'raftka_raft_election_latency_seconds',
      'From losing the leader (or starting without one) until a leader is known again',
      LATENCY_BUCKETS_SECONDS,
    );
    this.commitLatency = m.histogram(
      'raftka_raft_commit_latency_seconds',
      'On the leader: from appending an entry until the high watermark passed it',
      LATENCY_BUCKETS_SECONDS,
    );
    this.appendRecords = m.counter('raftka_raft_append_records_total', 'Records appended by this node as leader');
    this.fetchRecords = m.counter('raftka_raft_fetch_records_total', 'Records this node fetched from the leader');
    this.newActiveControllers = m.counter(
      'raftka_controller_new_active_controllers_total',
      'Times this node became the active controller',
    );
    this.peerDisconnects = m.counter('raftka_raft_peer_disconnects_total', 'Connections to peers that closed', [
      'peer',
    ]);
    this.droppedRequests = m.counter(
      'raftka_raft_dropped_requests_total',
      'Raft requests dropped because the peer had too many calls in flight',
      ['peer'],
    );
    this.snapshots = m.counter('raftka_raft_snapshots_total', 'Snapshots this node took of its state machine');
    this.readyIterations = m.counter('raftka_raft_ready_total', 'Ready batches persisted and applied');
  }

  setRole(role: RaftRole): void {
    for (const r of ROLES) this.currentState.set({ state: r }, r === role ? 1 : 0);
    this.activeControllerCount.set(role === 'leader' ? 1 : 0);
  }
}
