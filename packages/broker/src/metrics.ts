// Metrics of one broker's control plane, after Kafka's broker-metadata-metrics
// (last-applied-record-offset, last-applied-record-lag-ms) and BrokerState,
// with a `raftka_` prefix. Refreshed by the driver after each metadata apply
// and heartbeat, never per record.
import { type Counter, type Gauge, Metrics } from '@raftka/observability';
import { BROKER_STATE_VALUE, type BrokerState } from './lifecycle.js';

export class BrokerMetrics {
  readonly metrics: Metrics;
  readonly state: Gauge;
  readonly stateByName: Gauge<'state'>;
  readonly metadataLastAppliedOffset: Gauge;
  readonly metadataLagMs: Gauge;
  readonly metadataLagOffsets: Gauge;
  readonly metadataHighWatermark: Gauge;
  readonly brokerEpoch: Gauge;
  readonly fenced: Gauge;
  readonly heartbeats: Counter<'result'>;
  readonly registrations: Counter<'result'>;
  readonly controllerChanges: Counter;

  constructor(nodeId: number) {
    // Process CPU, memory and event-loop lag (raftka_process_*, raftka_nodejs_*), so a
    // benchmark or a dashboard can tell what each broker costs.
    const m = new Metrics({ defaultLabels: { node_id: String(nodeId) }, collectProcessMetrics: true });
    this.metrics = m;
    this.state = m.gauge(
      'raftka_broker_state',
      "Kafka's BrokerState: 0 NOT_RUNNING, 1 STARTING, 2 RECOVERY, 3 RUNNING, 6 PENDING_CONTROLLED_SHUTDOWN, 7 SHUTTING_DOWN",
    );
    this.stateByName = m.gauge('raftka_broker_state_info', 'Broker state: 1 for the current state', ['state']);
    this.metadataLastAppliedOffset = m.gauge(
      'raftka_broker_metadata_last_applied_offset',
      'Offset of the last committed metadata entry this broker applied (last-applied-record-offset)',
    );
    this.metadataLagMs = m.gauge(
      'raftka_broker_metadata_lag_ms',
      'Now minus the append time of the last applied metadata entry (last-applied-record-lag-ms); the controller appends a NoOp every 500 ms',
    );
    this.metadataLagOffsets = m.gauge(
      'raftka_broker_metadata_lag_offsets',
      'Committed metadata entries this broker knows of (the high watermark it learned) but has not applied yet',
    );
    this.metadataHighWatermark = m.gauge(
      'raftka_broker_metadata_high_watermark',
      'High watermark of the metadata log as this broker learned it from the active controller',
    );
    this.brokerEpoch = m.gauge(
      'raftka_broker_epoch',
      'Broker epoch of this incarnation (offset of its registration), -1 if none',
    );
    this.fenced = m.gauge(
      'raftka_broker_fenced',
      '1 while the active controller has this broker fenced, per its last answer',
    );
    this.heartbeats = m.counter(
      'raftka_broker_heartbeats_total',
      'Heartbeats sent to the active controller, by result',
      ['result'],
    );
    this.registrations = m.counter('raftka_broker_registrations_total', 'Registration attempts, by result', ['result']);
    this.controllerChanges = m.counter(
      'raftka_broker_controller_changes_total',
      'Times this broker switched its lifecycle channel to another active controller',
    );
    this.setState('NOT_RUNNING');
    this.brokerEpoch.set(-1);
    this.fenced.set(1);
    this.metadataLastAppliedOffset.set(-1);
  }

  setState(state: BrokerState): void {
    this.state.set(BROKER_STATE_VALUE[state]);
    for (const s of Object.keys(BROKER_STATE_VALUE) as BrokerState[]) {
      this.stateByName.set({ state: s }, s === state ? 1 : 0);
    }
  }
}
