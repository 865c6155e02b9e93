// Generates deploy/grafana/dashboards/raftka.json, the Raftka Grafana
// dashboard, so its panels stay reviewable as code: `node
// deploy/grafana/dashboard.mjs deploy/grafana/dashboards/raftka.json`.
// Metric names are the ones the nodes export (raftka_controller_*,
// raftka_broker_*, raftka_raft_*, Kafka's metric names in snake case);
// tests/unit/deploy-files.test.ts checks every name used here exists in
// the sources.
import { writeFileSync } from 'node:fs';

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
const ds = { type: 'prometheus', uid: '${datasource}' };
let id = 0;
let y = 0;
const panels = [];
function row(title) {
  panels.push({ type: 'row', id: ++id, title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
  y += 1;
}
let x = 0;
function place(w, h) {
  if (x + w > 24) {
    x = 0;
    y += h;
  }
  const pos = { h, w, x, y };
  x += w;
  if (x >= 24) {
    x = 0;
    y += h;
  }
  return pos;
}
function flush(h) {
  if (x !== 0) {
    x = 0;
    y += h;
  }
}
function stat(title, description, expr, opts = {}) {
  panels.push({
    type: 'stat',
    id: ++id,
    title,
    description,
    datasource: ds,
    gridPos: place(4, 4),
    targets: [{ refId: 'A', datasource: ds, expr, legendFormat: opts.legend ?? '', instant: true }],
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'background',
      graphMode: 'none',
      textMode: opts.textMode ?? 'value',
      justifyMode: 'auto',
      orientation: 'auto',
    },
    fieldConfig: {
      defaults: {
        unit: 'short',
        decimals: 0,
        thresholds: {
          mode: 'absolute',
          steps: opts.steps ?? [
            { color: 'green', value: null },
            { color: 'red', value: 1 },
          ],
        },
        mappings: [],
        color: { mode: 'thresholds' },
      },
      overrides: [],
    },
  });
}
function ts(title, description, targets, opts = {}) {
  panels.push({
    type: 'timeseries',
    id: ++id,
    title,
    description,
    datasource: ds,
    gridPos: place(opts.w ?? 12, 8),
    targets: targets.map(([expr, legend], i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: ds,
      expr,
      legendFormat: legend,
    })),
    options: {
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    fieldConfig: {
      defaults: {
        unit: opts.unit ?? 'short',
        min: 0,
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: 10,
          showPoints: 'never',
          spanNulls: false,
          lineInterpolation: opts.step ? 'stepAfter' : 'linear',
        },
        color: { mode: 'palette-classic' },
      },
      overrides: [],
    },
  });
}
row('Cluster health');
stat(
  'Active controller',
  'Node id of the active controller (the metadata quorum leader). Empty: no active controller.',
  'max by (node_id) (raftka_controller_active_controller_count) == 1',
  { legend: 'controller {{node_id}}', textMode: 'name', steps: [{ color: 'green', value: null }] },
);
stat(
  'Active controllers',
  'ActiveControllerCount summed over the controllers: exactly 1 when healthy.',
  'sum(raftka_controller_active_controller_count)',
  {
    steps: [
      { color: 'red', value: null },
      { color: 'green', value: 1 },
      { color: 'red', value: 2 },
    ],
  },
);
stat(
  'Offline partitions',
  'OfflinePartitionsCount: partitions without a leader (unavailable for produce and fetch).',
  'max(raftka_controller_offline_partitions_count)',
);
stat(
  'Under-replicated partitions',
  'URP: partitions whose ISR is smaller than their replica set, summed over the leaders.',
  'sum(raftka_broker_under_replicated_partitions)',
  {
    steps: [
      { color: 'green', value: null },
      { color: 'orange', value: 1 },
    ],
  },
);
stat(
  'Under min ISR',
  'Partitions whose ISR is below min.insync.replicas: acks=all produces to them fail with NOT_ENOUGH_REPLICAS.',
  'sum(raftka_broker_under_min_isr_partitions)',
);
stat(
  'Fenced brokers',
  'FencedBrokerCount: registered brokers the active controller has fenced (they lead nothing and are in no ISR).',
  'max(raftka_controller_fenced_broker_count)',
  {
    steps: [
      { color: 'green', value: null },
      { color: 'orange', value: 1 },
    ],
  },
);
flush(4);
row('Partitions and ISR');
ts(
  'Under-replicated partitions by broker',
  'raftka_broker_under_replicated_partitions per leader broker.',
  [
    ['raftka_broker_under_replicated_partitions', 'broker {{node_id}}'],
    ['sum(raftka_broker_under_replicated_partitions)', 'total'],
  ],
  { step: true },
);
ts(
  'Offline partitions and offline replicas',
  'Partitions without a leader (active controller) and replicas hosted on offline log directories or fenced brokers.',
  [
    ['max(raftka_controller_offline_partitions_count)', 'offline partitions'],
    ['raftka_broker_offline_replicas', 'offline replicas, broker {{node_id}}'],
  ],
  { step: true },
);
ts(
  'Under-min-ISR partitions by broker',
  'raftka_broker_under_min_isr_partitions per leader broker.',
  [['raftka_broker_under_min_isr_partitions', 'broker {{node_id}}']],
  { step: true },
);
ts(
  'ISR shrinks and expands',
  'IsrShrinksPerSec / IsrExpandsPerSec: ISR changes committed for partitions each broker leads.',
  [
    ['sum by (node_id) (rate(raftka_broker_isr_shrinks_total[1m]))', 'shrinks, broker {{node_id}}'],
    ['sum by (node_id) (rate(raftka_broker_isr_expands_total[1m]))', 'expands, broker {{node_id}}'],
  ],
  { unit: 'ops' },
);
flush(8);
row('Leadership');
ts(
  'Leader elections',
  'Partition leader changes decided by the active controller (LeaderElectionRateAndTimeMs), and unclean ones.',
  [
    ['sum(rate(raftka_controller_leader_elections_total[1m]))', 'leader elections'],
    ['sum(rate(raftka_controller_unclean_leader_elections_total[1m]))', 'unclean'],
  ],
  { unit: 'ops' },
);
ts(
  'Leader election latency',
  'From the event (broker fenced, controlled shutdown, election request) until the election records committed.',
  [
    [
      'histogram_quantile(0.5, sum by (le) (rate(raftka_controller_leader_election_latency_seconds_bucket[5m])))',
      'p50',
    ],
    [
      'histogram_quantile(0.99, sum by (le) (rate(raftka_controller_leader_election_latency_seconds_bucket[5m])))',
      'p99',
    ],
  ],
  { unit: 's' },
);
ts(
  'Active controller',
  'raftka_controller_active_controller_count per controller: a step shows a controller failover. Brokers export the gauge too (always 0, as observers of the quorum); only voters are shown.',
  [
    [
      'raftka_controller_active_controller_count and on (node_id) (raftka_raft_current_state{state="observer"} == 0)',
      'controller {{node_id}}',
    ],
  ],
  { step: true },
);
ts(
  'Brokers',
  "Active (registered, unfenced) and fenced brokers as the active controller sees them, and each broker's state (3 = RUNNING).",
  [
    ['max(raftka_controller_active_broker_count)', 'active'],
    ['max(raftka_controller_fenced_broker_count)', 'fenced'],
    ['raftka_broker_state', 'state, broker {{node_id}}'],
  ],
  { step: true },
);
flush(8);
row('Requests');
ts(
  'Request latency p99',
  'Data-plane request latency at the broker (raftka_broker_request_duration_seconds) by API and acks.',
  [
    [
      'histogram_quantile(0.99, sum by (le, api, acks) (rate(raftka_broker_request_duration_seconds_bucket[1m])))',
      '{{api}} acks={{acks}} p99',
    ],
  ],
  { unit: 's' },
);
ts(
  'Request latency p50',
  'Median data-plane request latency by API and acks.',
  [
    [
      'histogram_quantile(0.5, sum by (le, api, acks) (rate(raftka_broker_request_duration_seconds_bucket[1m])))',
      '{{api}} acks={{acks}} p50',
    ],
  ],
  { unit: 's' },
);
ts(
  'Requests',
  'Data-plane requests per second by API and request-level error.',
  [['sum by (api, error) (rate(raftka_broker_requests_total[1m]))', '{{api}} {{error}}']],
  { unit: 'reqps' },
);
ts(
  'Bytes in and out',
  'Record bytes produced to and served from the brokers, and replication traffic.',
  [
    ['sum(rate(raftka_broker_bytes_in_total[1m]))', 'bytes in'],
    ['sum(rate(raftka_broker_bytes_out_total[1m]))', 'bytes out'],
    ['sum(rate(raftka_broker_replication_bytes_in_total[1m]))', 'replication in'],
  ],
  { unit: 'Bps' },
);
flush(8);
row('Metadata quorum');
ts(
  'Metadata commit latency',
  'Raft commit latency of the metadata log on the active controller. Only the quorum leader observes it; the idle series of the other nodes (NaN) are left out.',
  [
    [
      'histogram_quantile(0.99, sum by (le, node_id) (rate(raftka_raft_commit_latency_seconds_bucket[1m]))) >= 0',
      'p99, node {{node_id}}',
    ],
  ],
  { unit: 's' },
);
ts('Broker metadata lag', "How far each broker's applied metadata is behind the quorum's high watermark.", [
  ['raftka_broker_metadata_lag_offsets', 'broker {{node_id}}'],
]);
flush(8);

row('Broker processes');
ts(
  'CPU',
  "CPU time per second of each broker process (prom-client's process metrics, raftka_ prefix).",
  [['rate(raftka_process_cpu_seconds_total[1m])', 'broker {{node_id}}']],
  { unit: 'percentunit', w: 8 },
);
ts(
  'Resident memory',
  'Resident set size of each broker process.',
  [['raftka_process_resident_memory_bytes', 'broker {{node_id}}']],
  { unit: 'bytes', w: 8 },
);
ts(
  'Event-loop lag p99',
  'How late timers and I/O callbacks run: a busy event loop delays heartbeats and fetches.',
  [['raftka_nodejs_eventloop_lag_p99_seconds', 'broker {{node_id}}']],
  { unit: 's', w: 8 },
);
flush(8);

const dashboard = {
  uid: 'raftka-cluster',
  title: 'Raftka cluster',
  description:
    'Kafka-style health of a Raftka cluster: active controller, offline and under-replicated partitions, ISR changes, leader elections and request latency.',
  tags: ['raftka', 'kafka'],
  timezone: 'browser',
  schemaVersion: 39,
  version: 1,
  editable: true,
  graphTooltip: 1,
  refresh: '10s',
  time: { from: 'now-30m', to: 'now' },
  templating: {
    list: [
      {
        name: 'datasource',
        label: 'Data source',
        type: 'datasource',
        query: 'prometheus',
        current: { text: 'Prometheus', value: 'raftka-prometheus' },
        hide: 0,
        refresh: 1,
        regex: '',
        includeAll: false,
        multi: false,
      },
    ],
  },
  annotations: { list: [] },
  links: [],
  panels,
};
writeFileSync(process.argv[2], `${JSON.stringify(dashboard, null, 2)}\n`);
console.log(panels.length, 'panels');
