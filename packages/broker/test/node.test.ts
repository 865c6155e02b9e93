// Broker nodes in this process against real controller nodes: a broker-only
// node registers, is unfenced, hears its local replica changes and shuts down
// in a controlled way; admin calls work through its client port; a broker
// without a controller gives up after initial.broker.registration.timeout.ms;
// and a combined node (process.roles=broker,controller) runs both roles on one
// voter.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRaftkaError } from '@raftka/common';
import { type ControllerNode, startControllerNode, type VoterEndpoint } from '@raftka/controller';
import { silentLogger } from '@raftka/observability';
import { DEFAULT_RAFT_CONFIG } from '@raftka/raft';
import { AdminClient } from '@raftka/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { type BrokerNode, type BrokerNodeConfig, startBrokerNode } from '../src/broker-node.js';
import { startCombinedNode } from '../src/combined-node.js';
import type { MetadataUpdate } from '../src/metadata-publisher.js';

const RAFT = {
  ...DEFAULT_RAFT_CONFIG,
  electionTimeoutMs: 200,
  electionBackoffMaxMs: 200,
  fetchTimeoutMs: 400,
  requestTimeoutMs: 300,
  fetchMaxWaitMs: 100,
};
const CLUSTER_ID = 'broker-test';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'raftka-broker-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function oneController(): Promise<{ controller: ControllerNode; voters: VoterEndpoint[] }> {
  const voters = [{ nodeId: 1, host: '127.0.0.1', port: await freePort() }];
  const controller = await startControllerNode({
    nodeId: 1,
    clusterId: CLUSTER_ID,
    voters,
    listenHost: '127.0.0.1',
    listenPort: voters[0]?.port ?? 0,
    metadataLogDir: await tempDir(),
    metricsPort: null,
    raft: RAFT,
    appendLingerMs: 0,
    snapshotMaxBytesBetween: 1024 * 1024,
    logger: silentLogger(),
    brokerSessionTimeoutMs: 3000,
  });
  cleanups.push(() => controller.shutdown());
  return { controller, voters };
}

async function brokerConfig(nodeId: number, voters: VoterEndpoint[]): Promise<BrokerNodeConfig> {
  return {
    nodeId,
    clusterId: CLUSTER_ID,
    voters,
    listenHost: '127.0.0.1',
    listenPort: 0,
    rack: 'r1',
    metadataLogDir: await tempDir(),
    raft: RAFT,
    snapshotMaxBytesBetween: 1024 * 1024,
    heartbeatIntervalMs: 200,
    sessionTimeoutMs: 3000,
    initialRegistrationTimeoutMs: 10_000,
    metricsPort: null,
    logger: silentLogger(),
  };
}

describe('broker node', () => {
  it('registers, is unfenced, hears its local changes and shuts down in a controlled way', async () => {
    const { voters } = await oneController();
    const updates: MetadataUpdate[] = [];
    const broker: BrokerNode = await startBrokerNode({
      ...(await brokerConfig(101, voters)),
      listeners: [{ onMetadataUpdate: (u) => updates.push(u) }],
    });
    cleanups.push(() => broker.close());
    await waitFor(() => broker.status().state === 'RUNNING' && !broker.status().fenced, 'RUNNING');
    expect(broker.status().brokerEpoch).toBeGreaterThanOrEqual(0);

    // Admin through the broker's client port, forwarded to the controller.
    const admin = new AdminClient({ clusterId: CLUSTER_ID, bootstrapEndpoints: [`127.0.0.1:${broker.port}`] });
    cleanups.push(async () => admin.close());
    const [created] = await admin.createTopics([{ name: 't', numPartitions: 2, replicationFactor: 1 }]);
    expect(created?.error).toBeNull();
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((b) => [b.brokerId, b.state, b.rack])).toEqual([[101, 'unfenced', 'r1']]);
    expect(cluster.brokers[0]?.endpoints[0]?.port).toBe(broker.port);

    await waitFor(
      () => updates.some((u) => u.changes.leaders.length === 2),
      'the broker to learn it leads both partitions',
    );
    const lead = updates.find((u) => u.changes.leaders.length === 2);
    expect(lead?.changes.leaders.map((p) => `${p.topicName}-${p.partition}`)).toEqual(['t-0', 't-1']);

    // The data path's calls: a producer id block, and an ISR change of a partition it leads.
    const ids = await broker.allocateProducerIds();
    expect(ids.producerIdLen).toBeGreaterThan(0);
    const p0 = broker.metadata.image.topicByName('t')?.partitions[0];
    const topicId = broker.metadata.image.topicByName('t')?.topicId ?? '';
    const altered = await broker.alterPartition({
      topicId,
      partition: 0,
      leaderEpoch: p0?.leaderEpoch ?? -1,
      partitionEpoch: p0?.partitionEpoch ?? -1,
      newIsr: [101],
    });
    expect([altered.leader, altered.isr]).toEqual([101, [101]]);
    expect(altered.partitionEpoch).toBeGreaterThanOrEqual(p0?.partitionEpoch ?? 0);
    await expect(
      broker.alterPartition({ topicId, partition: 0, leaderEpoch: 99, partitionEpoch: 0, newIsr: [101] }),
    ).rejects.toMatchObject({ errorName: 'FENCED_LEADER_EPOCH' });

    const { controlled } = await broker.shutdown();
    expect(controlled).toBe(true);
    expect(broker.status().state).toBe('SHUTTING_DOWN');
    await expect(broker.allocateProducerIds()).rejects.toMatchObject({ errorName: 'BROKER_NOT_AVAILABLE' });
    const direct = new AdminClient({ clusterId: CLUSTER_ID, bootstrapEndpoints: [`127.0.0.1:${voters[0]?.port}`] });
    cleanups.push(async () => direct.close());
    const after = await direct.describeCluster();
    expect(after.brokers[0]?.state).toBe('fenced');
  });

  it('gives up registering after initial.broker.registration.timeout.ms when no controller answers', async () => {
    const voters = [{ nodeId: 1, host: '127.0.0.1', port: await freePort() }];
    let failure: unknown;
    const broker = await startBrokerNode({
      ...(await brokerConfig(101, voters)),
      initialRegistrationTimeoutMs: 500,
      onFatalError: (err) => {
        failure = err;
      },
    });
    cleanups.push(() => broker.close());
    await waitFor(() => failure, 'the registration timeout');
    expect(isRaftkaError(failure) && failure.errorName).toBe('REQUEST_TIMED_OUT');
    expect(String((failure as Error).message)).toContain('initial.broker.registration.timeout.ms=500');
    expect(broker.status().state).toBe('STARTING');
  });

  it('runs both roles in one process (process.roles=broker,controller)', async () => {
    const voters = [{ nodeId: 1, host: '127.0.0.1', port: await freePort() }];
    const node = await startCombinedNode({
      ...(await brokerConfig(1, voters)),
      controllerHost: '127.0.0.1',
      controllerPort: voters[0]?.port ?? 0,
      appendLingerMs: 0,
    });
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await node.shutdown();
    });
    await waitFor(() => node.broker.status().state === 'RUNNING', 'the combined node to be RUNNING');
    expect(node.raft.raft.role).toBe('leader');
    const admin = new AdminClient({ clusterId: CLUSTER_ID, bootstrapEndpoints: [`127.0.0.1:${voters[0]?.port}`] });
    cleanups.push(async () => admin.close());
    const [created] = await admin.createTopics([{ name: 'c', numPartitions: 1, replicationFactor: 1 }]);
    expect(created?.error).toBeNull();
    await waitFor(() => node.broker.metadata.image.topicByName('c')?.partitions[0]?.leader === 1, 'the broker part');
    const { controlled } = await node.shutdown();
    stopped = true;
    expect(controlled).toBe(true);
  });
});
