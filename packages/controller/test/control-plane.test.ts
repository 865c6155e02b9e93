// The control plane in processes' clothing: three controllers in this process
// running the metadata state machine over real gRPC and level, fake brokers
// speaking the BrokerLifecycle protos, and the Admin service through the
// active controller and through a standby.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes } from '@raftka/common';
import { createLogger, type LogLevel } from '@raftka/observability';
import { AdminClient, BrokerLifecycleClient } from '@raftka/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { type ControllerNode, FakeBroker } from '../src/index.js';
import { TEST_RAFT, TestCluster, waitFor } from './helpers.js';

const SESSION_TIMEOUT_MS = 1500;
const logLevel = (process.env.RAFTKA_TEST_LOG ?? 'silent') as LogLevel;

let cluster: TestCluster | undefined;
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await cluster?.destroy();
  cluster = undefined;
});

async function startCluster(): Promise<TestCluster> {
  cluster = await TestCluster.create(3, {
    stateMachine: 'metadata',
    brokerSessionTimeoutMs: SESSION_TIMEOUT_MS,
    maxIdleIntervalMs: 100,
    clusterDefaults: { 'default.replication.factor': '3' },
  });
  await cluster.startAll();
  await cluster.waitForLeader();
  return cluster;
}

function active(c: TestCluster): ControllerNode {
  return waitForSync(() => [...c.nodes.values()].find((n) => n.controlPlane?.engine.isActive));
}

function waitForSync<T>(probe: () => T | undefined): T {
  const value = probe();
  if (value === undefined) throw new Error('no active controller');
  return value;
}

async function activeController(c: TestCluster): Promise<ControllerNode> {
  return waitFor(() => [...c.nodes.values()].find((n) => n.controlPlane?.engine.isActive), 'an active controller');
}

function standbyEndpoint(c: TestCluster): string {
  const leader = active(c);
  const standby = c.voters.find((v) => v.nodeId !== leader.nodeId)!;
  return `${standby.host}:${standby.port}`;
}

function broker(c: TestCluster, brokerId: number): FakeBroker {
  const b = new FakeBroker({
    brokerId,
    clusterId: c.clusterId,
    voters: c.voters,
    heartbeatIntervalMs: 100,
    logger: createLogger({ nodeId: brokerId, role: 'broker', level: logLevel }),
  });
  closers.push(() => b.stop());
  return b;
}

/** Registered, caught up and unfenced. */
async function runningBroker(c: TestCluster, brokerId: number): Promise<FakeBroker> {
  const b = broker(c, brokerId);
  await b.start();
  b.setMetadataOffset(b.brokerEpoch);
  await b.until((x) => !x.isFenced);
  return b;
}

function admin(c: TestCluster, endpoints = c.endpoints): AdminClient {
  const client = new AdminClient({ clusterId: c.clusterId, bootstrapEndpoints: endpoints });
  closers.push(() => client.close());
  return client;
}

/** Polls an async probe until it returns something truthy. */
async function eventually<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function metric(node: ControllerNode, name: string): Promise<number> {
  const text = await node.metrics.metrics.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return Number(line?.split(' ').pop() ?? Number.NaN);
}

describe('control plane: broker lifecycle', () => {
  it('a broker registers fenced, is unfenced once caught up, and a standby redirects it', async () => {
    const c = await startCluster();
    await activeController(c);
    // Registration through a standby's endpoint first: NOT_CONTROLLER names the active controller.
    const client = new BrokerLifecycleClient({
      clusterId: c.clusterId,
      bootstrapEndpoints: [standbyEndpoint(c)],
    });
    closers.push(() => client.close());
    const b = broker(c, 1);
    await b.start();
    expect(b.brokerEpoch).toBeGreaterThan(0);
    // Registering the same incarnation again (a retry) through the standby returns the same epoch.
    const retry = await client.registerBroker({
      brokerId: 1,
      incarnationId: b.incarnationId,
      rack: null,
      listeners: b.listeners,
    });
    expect(retry.brokerEpoch).toBe(b.brokerEpoch);
    expect(client.activeEndpoint).toBe(`127.0.0.1:${active(c).port}`);

    // Not caught up: stays fenced, however many heartbeats.
    await b.until((x) => x.last !== undefined);
    for (let i = 0; i < 3; i++) {
      b.heartbeatNow();
      await new Promise((r) => setTimeout(r, 100));
      expect(b.last?.isFenced).toBe(true);
      expect(b.last?.isCaughtUp).toBe(false);
    }
    b.setMetadataOffset(b.brokerEpoch);
    await b.until((x) => x.last?.isFenced === false);
    expect(b.last?.isCaughtUp).toBe(true);

    // A different incarnation while the first is alive: DUPLICATE_BROKER_REGISTRATION.
    await expect(
      client.registerBroker({ brokerId: 1, incarnationId: 'another', rack: null, listeners: b.listeners }),
    ).rejects.toMatchObject({ errorName: 'DUPLICATE_BROKER_REGISTRATION' });
  });

  it('fences at once when the heartbeat stream breaks, and moves the leaders away', async () => {
    const c = await startCluster();
    const brokers = [await runningBroker(c, 1), await runningBroker(c, 2), await runningBroker(c, 3)];
    const a = admin(c);
    const [created] = await a.createTopics([{ name: 'events', numPartitions: 6, replicationFactor: 3 }]);
    expect(created?.error).toBeNull();
    const victim = brokers[0]!;
    const before = (await a.describeTopics(['events']))[0]!;
    const led = before.partitions.filter((p) => p.leader === victim.brokerId).length;
    expect(led).toBeGreaterThan(0);

    const leader = active(c);
    const timedOutBefore = await metric(leader, 'raftka_controller_timed_out_broker_heartbeats_total');
    await victim.crash();
    await eventually(async () => {
      const d = (await a.describeTopics(['events']))[0]!;
      return d.partitions.every((p) => p.leader !== victim.brokerId && !p.isr.includes(victim.brokerId));
    }, 'the crashed broker to lose every leadership and ISR slot');
    const after = (await a.describeTopics(['events']))[0]!;
    for (const p of after.partitions) {
      expect(p.leader).toBeGreaterThan(0);
      expect(p.offlineReplicas).toContain(victim.brokerId);
    }
    const cluster = await a.describeCluster();
    expect(cluster.brokers.find((x) => x.brokerId === victim.brokerId)?.state).toBe('fenced');
    // The stream's end did it, not the session timeout.
    expect(await metric(leader, 'raftka_controller_broker_connections_lost_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(leader, 'raftka_controller_timed_out_broker_heartbeats_total')).toBe(timedOutBefore);
    expect(await metric(leader, 'raftka_controller_leader_elections_total')).toBeGreaterThanOrEqual(led);
    expect(await metric(leader, 'raftka_controller_leader_election_latency_seconds_count')).toBeGreaterThanOrEqual(1);
    // Image gauges (refreshed each second) on the active controller only.
    await eventually(
      async () => (await metric(leader, 'raftka_controller_fenced_broker_count')) === 1,
      'the fenced broker gauge',
    );
    expect(await metric(leader, 'raftka_controller_active_broker_count')).toBe(2);
    expect(await metric(leader, 'raftka_controller_global_partition_count')).toBe(6);
    expect(await metric(leader, 'raftka_controller_offline_partitions_count')).toBe(0);
    let activeSum = 0;
    for (const node of c.nodes.values()) {
      activeSum += await metric(node, 'raftka_controller_active_controller_count');
      if (node !== leader) expect(await metric(node, 'raftka_controller_global_partition_count')).toBe(0);
    }
    expect(activeSum).toBe(1);
  });

  it('fences a broker that stops heartbeating after broker.session.timeout.ms', async () => {
    const c = await startCluster();
    const b = await runningBroker(c, 1);
    await runningBroker(c, 2);
    const leader = active(c);
    const a = admin(c);
    b.pause();
    const pausedAt = Date.now();
    await eventually(
      async () => (await a.describeCluster()).brokers.find((x) => x.brokerId === 1)?.state === 'fenced',
      'the silent broker to be fenced',
      SESSION_TIMEOUT_MS * 5,
    );
    console.log(
      `fenced ${Date.now() - pausedAt} ms after the last heartbeat (session timeout ${SESSION_TIMEOUT_MS} ms)`,
    );
    await eventually(
      async () => (await metric(leader, 'raftka_controller_timed_out_broker_heartbeats_total')) >= 1,
      'the timed-out heartbeat to be counted',
    );
    expect((await a.describeCluster()).brokers.find((x) => x.brokerId === 2)?.state).toBe('unfenced');
  });

  it('controlled shutdown moves leadership away before the broker may exit', async () => {
    const c = await startCluster();
    const brokers = [await runningBroker(c, 1), await runningBroker(c, 2), await runningBroker(c, 3)];
    const a = admin(c);
    await a.createTopics([{ name: 'orders', numPartitions: 6, replicationFactor: 3 }]);
    const leaving = brokers[1]!;
    // The others keep reporting the latest offset, so the shutdown offset is reached.
    const hw = () => active(c).status().highWatermark;
    const follow = setInterval(() => {
      for (const b of brokers) b.setMetadataOffset(hw());
    }, 20);
    closers.push(() => clearInterval(follow));
    await leaving.controlledShutdown();
    const d = (await a.describeTopics(['orders']))[0]!;
    for (const p of d.partitions) {
      expect(p.leader).not.toBe(leaving.brokerId);
      expect(p.isr).not.toContain(leaving.brokerId);
    }
    expect((await a.describeCluster()).brokers.find((x) => x.brokerId === leaving.brokerId)?.state).toBe('fenced');
  });

  it('a controller failover keeps brokers unfenced; their streams move to the new active controller', async () => {
    const c = await startCluster();
    const brokers = [await runningBroker(c, 1), await runningBroker(c, 2)];
    const old = active(c);
    await c.stop(old.nodeId);
    const next = await activeController(c);
    expect(next.nodeId).not.toBe(old.nodeId);
    for (const b of brokers) {
      await waitFor(() => b.streamErrors.length > 0, 'the old stream to end');
      b.heartbeatNow();
    }
    const a = admin(
      c,
      c.endpoints.filter((e) => e !== `127.0.0.1:${old.port}`),
    );
    await eventually(async () => {
      const d = await a.describeCluster();
      return d.controllerId === next.nodeId && d.brokers.every((x) => x.lastContactMs !== null) ? d : undefined;
    }, 'brokers heartbeating to the new active controller');
    const d = await a.describeCluster();
    expect(d.brokers.map((x) => x.state)).toEqual(['unfenced', 'unfenced']);
  });
});

describe('control plane: admin', () => {
  it('creates, describes, alters and deletes through the active controller and a standby, with Kafka error codes', async () => {
    const c = await startCluster();
    await runningBroker(c, 1);
    await runningBroker(c, 2);
    await runningBroker(c, 3);
    const viaStandby = admin(c, [standbyEndpoint(c)]);

    // Cluster default from the node configuration (clusterDefaults): RF 3 when none is given.
    const created = await viaStandby.createTopics([
      { name: 'a', numPartitions: 3, replicationFactor: -1, configs: { 'min.insync.replicas': '2' } },
      { name: 'bad/name', numPartitions: 1, replicationFactor: 1 },
      { name: 'too-wide', numPartitions: 1, replicationFactor: 4 },
    ]);
    expect(created[0]).toMatchObject({ name: 'a', numPartitions: 3, replicationFactor: 3, error: null });
    expect(created[1]?.error?.code).toBe(ErrorCodes.INVALID_TOPIC_EXCEPTION.code);
    expect(created[2]?.error?.code).toBe(ErrorCodes.INVALID_REPLICATION_FACTOR.code);
    const again = await viaStandby.createTopics([{ name: 'a', numPartitions: 1, replicationFactor: 1 }]);
    expect(again[0]?.error?.code).toBe(ErrorCodes.TOPIC_ALREADY_EXISTS.code);

    const [described, unknown] = await viaStandby.describeTopics(['a', 'nope']);
    expect(described?.partitions).toHaveLength(3);
    for (const p of described!.partitions) {
      expect(p.replicas).toHaveLength(3);
      expect(p.isr).toHaveLength(3);
      expect(p.leader).toBe(p.replicas[0]);
    }
    expect(unknown?.error?.code).toBe(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code);
    expect((await viaStandby.listTopics()).map((t) => t.name)).toEqual(['a']);

    const grown = await viaStandby.createPartitions([{ name: 'a', count: 5 }]);
    expect(grown[0]?.error).toBeNull();
    expect((await viaStandby.describeTopics(['a']))[0]?.partitions).toHaveLength(5);

    const [configs] = await viaStandby.describeConfigs([{ resourceType: 'topic', resourceName: 'a' }]);
    expect(configs?.entries.find((e) => e.name === 'min.insync.replicas')).toMatchObject({
      value: '2',
      source: 'topic',
    });
    const altered = await viaStandby.alterConfigs([
      { resourceType: 'topic', resourceName: 'a', ops: [{ name: 'retention.ms', op: 'set', value: '1000' }] },
      { resourceType: 'topic', resourceName: 'a', ops: [{ name: 'min.insync.replicas', op: 'set', value: '0' }] },
      { resourceType: 'cluster', resourceName: '', ops: [{ name: 'bogus.key', op: 'set', value: '1' }] },
    ]);
    expect(altered[0]?.error).toBeNull();
    expect(altered[1]?.error?.code).toBe(ErrorCodes.INVALID_CONFIG.code);
    expect(altered[2]?.error?.message).toMatch(/bogus\.key/);
    const [after] = await viaStandby.describeConfigs([{ resourceType: 'topic', resourceName: 'a' }]);
    expect(after?.entries.find((e) => e.name === 'retention.ms')?.value).toBe('1000');
    const [cluster] = await viaStandby.describeConfigs([{ resourceType: 'cluster', resourceName: '' }]);
    expect(cluster?.entries.find((e) => e.name === 'default.replication.factor')).toMatchObject({
      value: '3',
      source: 'cluster',
    });

    const elect = await viaStandby.electLeaders({
      electionType: 'preferred',
      partitions: [{ topic: 'a', partition: 0 }],
    });
    expect(elect[0]?.error?.code).toBe(ErrorCodes.ELECTION_NOT_NEEDED.code);

    const deleted = await viaStandby.deleteTopics(['a', 'nope']);
    expect(deleted[0]?.error).toBeNull();
    expect(deleted[1]?.error?.code).toBe(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code);
    expect(await viaStandby.listTopics()).toEqual([]);

    const description = await viaStandby.describeCluster();
    expect(description.controllerId).toBe(active(c).nodeId);
    expect(description.controllers.filter((x) => x.leader).map((x) => x.nodeId)).toEqual([active(c).nodeId]);
    expect(description.brokers.map((b) => b.brokerId)).toEqual([1, 2, 3]);

    // Another cluster id: refused with INVALID_CLUSTER_ID in the trailers.
    const stranger = new AdminClient({ clusterId: 'other', bootstrapEndpoints: c.endpoints });
    closers.push(() => stranger.close());
    await expect(stranger.listTopics()).rejects.toMatchObject({ errorName: 'INVALID_CLUSTER_ID' });
  });

  it('brokers that observe the metadata log report its offsets and are unfenced by them', async () => {
    const c = await startCluster();
    const dirs: string[] = [];
    closers.push(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
    dirs.push(await mkdtemp(join(tmpdir(), 'raftka-fake-broker-')));
    const observing = new FakeBroker({
      brokerId: 8,
      clusterId: c.clusterId,
      voters: c.voters,
      heartbeatIntervalMs: 100,
      logger: createLogger({ nodeId: 8, role: 'broker', level: logLevel }),
      observer: {
        metadataLogDir: dirs[0]!,
        raft: TEST_RAFT,
        snapshotMaxBytesBetween: 20 * 1024 * 1024,
        appendLingerMs: 2,
      },
    });
    closers.push(() => observing.stop());
    await observing.start();
    await observing.until((x) => !x.isFenced);
    expect(observing.metadataOffset).toBeGreaterThanOrEqual(observing.brokerEpoch);
  });
});
