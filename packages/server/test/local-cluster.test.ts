// The local cluster's layout (controllers 1..n, brokers 101.., ports) and
// the broker status it reads from a broker's /metrics.
import { describe, expect, it } from 'vitest';
import { LocalCluster, parseBrokerMetrics } from '../src/local-cluster.js';

describe('LocalCluster', () => {
  it('lays out controllers 1..n and brokers 101.. with their ports and data directories', () => {
    const c = new LocalCluster({
      dataDir: '/tmp/raftka-layout',
      brokers: 2,
      basePort: 30_091,
      baseMetricsPort: 30_191,
    });
    expect(c.controllers.map((n) => [n.nodeId, n.port, n.metricsPort])).toEqual([
      [1, 30_091, 30_191],
      [2, 30_092, 30_192],
      [3, 30_093, 30_193],
    ]);
    expect(c.brokers.map((n) => [n.nodeId, n.port, n.metricsPort, n.logFile])).toEqual([
      [101, 30_291, 30_391, '/tmp/raftka-layout/broker-101/broker.log'],
      [102, 30_292, 30_392, '/tmp/raftka-layout/broker-102/broker.log'],
    ]);
    // The quorum's endpoints are the controllers' only.
    expect(c.endpoints.map((e) => e.nodeId)).toEqual([1, 2, 3]);
    expect(c.brokerEndpoints).toEqual(['127.0.0.1:30291', '127.0.0.1:30292']);
    expect(new LocalCluster({ dataDir: '/tmp/raftka-layout' }).brokers).toEqual([]);
    // Combined nodes: the controllers are brokers too, with a client port each.
    const combined = new LocalCluster({ dataDir: '/tmp/raftka-layout', combined: true, basePort: 30_091 });
    expect(combined.brokerIds).toEqual([1, 2, 3]);
    expect(combined.brokerEndpoints).toEqual(['127.0.0.1:30291', '127.0.0.1:30292', '127.0.0.1:30293']);
    expect(combined.controllers.map((n) => n.port)).toEqual([30_091, 30_092, 30_093]);
  });

  it("reads a broker's state from its metrics", () => {
    const text = [
      '# HELP raftka_broker_state x',
      '# TYPE raftka_broker_state gauge',
      'raftka_broker_state{node_id="101"} 3',
      'raftka_broker_state_info{state="RUNNING",node_id="101"} 1',
      'raftka_broker_epoch{node_id="101"} 42',
      'raftka_broker_fenced{node_id="101"} 0',
      'raftka_broker_metadata_last_applied_offset{node_id="101"} 57',
      'raftka_broker_partition_count{node_id="101"} 6',
      'raftka_broker_leader_count{node_id="101"} 2',
      'raftka_broker_under_replicated_partitions{node_id="101"} 1',
    ].join('\n');
    expect(parseBrokerMetrics(101, text)).toEqual({
      brokerId: 101,
      state: 'RUNNING',
      brokerEpoch: 42,
      fenced: false,
      metadataOffset: 57,
      partitions: 6,
      leaders: 2,
      underReplicated: 1,
    });
    expect(parseBrokerMetrics(101, 'raftka_broker_state{node_id="101"} 6').state).toBe('PENDING_CONTROLLED_SHUTDOWN');
  });
});
