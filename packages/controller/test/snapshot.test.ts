// Snapshots through the driver: a small snapshotMaxBytesBetween makes every
// node snapshot its key-value map and delete the log below it; a follower
// whose directory is wiped rejoins from the leader's snapshot (FetchSnapshot)
// plus the log after it. Also checks that /metrics serves the raft metrics.
import { rm } from 'node:fs/promises';
import { QuorumClient } from '@raftka/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { kv, record, TestCluster, waitFor } from './helpers.js';

let cluster: TestCluster | undefined;
let client: QuorumClient | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await cluster?.destroy();
  cluster = undefined;
});

function snapshotsTaken(text: string): number {
  const line = text.split('\n').find((l) => l.startsWith('raftka_raft_snapshots_total'));
  return Number(line?.split(' ').pop() ?? 0);
}

describe('controller snapshots', () => {
  it('snapshots, deletes the log below, and rebuilds a wiped follower from the snapshot', async () => {
    cluster = await TestCluster.create(3, { snapshotMaxBytesBetween: 4 * 1024 });
    await cluster.startAll();
    const leader = await cluster.waitForLeader();
    client = new QuorumClient({ clusterId: cluster.clusterId, bootstrapEndpoints: cluster.endpoints });

    const value = 'x'.repeat(100);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => client!.append([record(`key${batch * 10 + i}=${value}`)])),
      );
    }
    for (const node of cluster.nodes.values()) {
      await waitFor(() => kv(node).size === 100, `node ${node.nodeId} to apply 100 keys`);
    }
    expect(snapshotsTaken(await leader.metrics.metrics.text())).toBeGreaterThan(0);
    const page = await leader.readCommitted(0, 10_000);
    expect(page.logStartOffset).toBeGreaterThan(0);

    // Wipe a follower: it comes back empty and must fetch the snapshot.
    const follower = [...cluster.nodes.values()].find((n) => n.nodeId !== leader.nodeId)!;
    await cluster.stop(follower.nodeId);
    await rm(`${cluster.dirOf(follower.nodeId)}/__cluster_metadata-0`, { recursive: true, force: true });
    await client.append([record('late=1')]);
    const rebuilt = await cluster.start(follower.nodeId);
    await waitFor(() => kv(rebuilt).get('late') === '1', 'the wiped follower to rebuild', 15_000);
    expect(kv(rebuilt).size).toBe(101);
    expect(kv(rebuilt).get('key0')).toBe(value);
    expect(kv(rebuilt).get('key99')).toBe(value);
  });

  it('serves raft metrics on /metrics', async () => {
    cluster = await TestCluster.create(1, { metricsPort: 0 });
    await cluster.startAll();
    const node = await cluster.waitForLeader();
    await node.append([record('a=1')]);
    expect(node.metricsPort).toBeGreaterThan(0);
    const body = await (await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`)).text();
    expect(body).toContain('raftka_raft_current_state{state="leader",node_id="1"} 1');
    expect(body).toContain('raftka_raft_current_leader{node_id="1"} 1');
    expect(body).toContain('raftka_controller_active_controller_count{node_id="1"} 1');
    expect(body).toMatch(/raftka_raft_commit_latency_seconds_count\{node_id="1"\} [1-9]/);
    expect(body).toMatch(/raftka_raft_append_records_total\{node_id="1"\} 1/);
    expect(body).toMatch(/raftka_raft_high_watermark\{node_id="1"\} [1-9]/);
  });
});
