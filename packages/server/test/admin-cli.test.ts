// The admin commands against three in-process controllers and three fake
// brokers: aligned tables by default, one JSON object with --json, per-item
// errors marked as a failure, and a bootstrap list that names only a standby.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ControllerNode, FakeBroker, startControllerNode } from '@raftka/controller';
import { createLogger } from '@raftka/observability';
import { DEFAULT_RAFT_CONFIG } from '@raftka/raft';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AdminIo,
  clusterDescribe,
  configsAlter,
  configsDescribe,
  electLeaders,
  formatTable,
  parseReplicaAssignment,
  topicsAlter,
  topicsCreate,
  topicsDelete,
  topicsDescribe,
  topicsList,
} from '../src/commands/admin.js';

const CLUSTER_ID = 'admin-cli-test';
const RAFT = {
  ...DEFAULT_RAFT_CONFIG,
  electionTimeoutMs: 200,
  electionBackoffMaxMs: 200,
  fetchTimeoutMs: 400,
  requestTimeoutMs: 300,
  fetchMaxWaitMs: 100,
};

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

const nodes: ControllerNode[] = [];
const brokers: FakeBroker[] = [];
const dirs: string[] = [];
let voters: { nodeId: number; host: string; port: number }[] = [];

beforeAll(async () => {
  voters = [];
  for (let id = 1; id <= 3; id++) voters.push({ nodeId: id, host: '127.0.0.1', port: await freePort() });
  for (const v of voters) {
    const dir = await mkdtemp(join(tmpdir(), `raftka-admin-cli-${v.nodeId}-`));
    dirs.push(dir);
    nodes.push(
      await startControllerNode({
        nodeId: v.nodeId,
        clusterId: CLUSTER_ID,
        voters,
        listenHost: v.host,
        listenPort: v.port,
        metadataLogDir: dir,
        metricsPort: null,
        raft: RAFT,
        appendLingerMs: 2,
        snapshotMaxBytesBetween: 20 * 1024 * 1024,
        logger: createLogger({ nodeId: v.nodeId, role: 'controller', level: 'silent' }),
        maxIdleIntervalMs: 100,
      }),
    );
  }
  for (const brokerId of [1, 2, 3]) {
    const b = new FakeBroker({
      brokerId,
      clusterId: CLUSTER_ID,
      voters,
      heartbeatIntervalMs: 100,
      rack: `rack-${brokerId}`,
      logger: createLogger({ nodeId: brokerId, role: 'broker', level: 'silent' }),
    });
    brokers.push(b);
    await b.start();
    b.setMetadataOffset(b.brokerEpoch);
    await b.until((x) => !x.isFenced);
  }
});

afterAll(async () => {
  for (const b of brokers) await b.stop();
  await Promise.all(nodes.map((n) => n.shutdown()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function io(): AdminIo & { text: () => string } {
  const lines: string[] = [];
  return { out: (t) => lines.push(t), failed: false, text: () => lines.join('\n') };
}

function options(json = false) {
  const active = nodes.find((n) => n.controlPlane?.engine.isActive);
  // A standby only: the call is forwarded to the active controller.
  const standby = voters.find((v) => v.nodeId !== active?.nodeId)!;
  return { bootstrap: `${standby.host}:${standby.port}`, clusterId: CLUSTER_ID, json, timeoutMs: 10_000 };
}

describe('admin CLI', () => {
  it('creates and describes topics as aligned tables', async () => {
    const create = io();
    await topicsCreate(create, { ...options(), partitions: 3, replicationFactor: 3, config: ['retention.ms=60000'] }, [
      'clicks',
      'views',
    ]);
    expect(create.failed).toBe(false);
    const lines = create.text().split('\n');
    expect(lines[0]).toMatch(/^TOPIC\s+TOPIC ID\s+PARTITIONS\s+RF\s+RESULT$/);
    expect(lines[1]).toMatch(/^clicks\s+\S+\s+3\s+3\s+created$/);
    // Columns line up: each column starts at the same offset in every row.
    for (const name of ['TOPIC ID', 'PARTITIONS', 'RF', 'RESULT']) {
      const at = lines[0]!.indexOf(name);
      for (const row of lines.slice(1)) expect(row.slice(at - 2, at + 1)).toMatch(/^ {2}\S$/);
    }

    const describe = io();
    await topicsDescribe(describe, options(), ['clicks']);
    const rows = describe.text().split('\n');
    expect(rows[0]).toMatch(/^TOPIC\s+PARTITION\s+LEADER\s+EPOCH\s+REPLICAS\s+ISR\s+OFFLINE\s+ERROR$/);
    expect(rows).toHaveLength(4);
    const headerAt = rows[0]!.indexOf('REPLICAS');
    for (const row of rows.slice(1)) expect(row.slice(headerAt).split(/\s+/)[0]).toMatch(/^\d,\d,\d$/);

    const again = io();
    await topicsCreate(again, { ...options(), partitions: 1, replicationFactor: 1, config: [] }, ['clicks']);
    expect(again.failed).toBe(true);
    expect(again.text()).toMatch(/TOPIC_ALREADY_EXISTS \(36\)/);
  });

  it('prints one JSON object with --json, cluster describe with brokers and controllers', async () => {
    const out = io();
    await clusterDescribe(out, options(true));
    const d = JSON.parse(out.text()) as {
      brokers: { id: number; state: string; rack: string | null; epoch: number; endpoints: unknown[] }[];
      controllers: { id: number; leader: boolean; epoch: number; lag: number }[];
    };
    expect(d.brokers.map((b) => [b.id, b.state, b.rack])).toEqual([
      [1, 'unfenced', 'rack-1'],
      [2, 'unfenced', 'rack-2'],
      [3, 'unfenced', 'rack-3'],
    ]);
    expect(d.brokers.every((b) => b.epoch > 0 && b.endpoints.length === 1)).toBe(true);
    expect(d.controllers).toHaveLength(3);
    expect(d.controllers.filter((c) => c.leader)).toHaveLength(1);
    expect(d.controllers.every((c) => c.epoch > 0 && c.lag >= 0)).toBe(true);

    const table = io();
    await clusterDescribe(table, options());
    expect(table.text()).toMatch(/^BROKER\s+STATE\s+RACK\s+EPOCH\s+ENDPOINTS\s+METADATA OFFSET$/m);
    expect(table.text()).toMatch(/^CONTROLLER\s+ENDPOINT\s+ROLE\s+LOG END OFFSET\s+LAG$/m);
    expect(table.text().match(/^\d+\s+\S+\s+active\s/gm)).toHaveLength(1);
    expect(table.text().match(/^\d+\s+\S+\s+standby\s/gm)).toHaveLength(2);

    const listed = io();
    await topicsList(listed, options(true));
    expect((JSON.parse(listed.text()) as { topics: { name: string }[] }).topics.map((t) => t.name)).toContain('clicks');
  });

  it('alters configs and partitions, elects leaders, deletes topics', async () => {
    await topicsCreate(io(), { ...options(), partitions: 2, replicationFactor: 2, config: [] }, ['orders']);
    const alter = io();
    await configsAlter(alter, { ...options(), topic: 'orders', set: ['min.insync.replicas=2'], delete: [] });
    expect(alter.failed).toBe(false);
    const bad = io();
    await configsAlter(bad, { ...options(), topic: 'orders', set: ['min.insync.replicas=0'], delete: [] });
    expect(bad.failed).toBe(true);
    expect(bad.text()).toMatch(/INVALID_CONFIG \(40\)/);
    const described = io();
    await configsDescribe(described, { ...options(), topic: 'orders' });
    expect(described.text()).toMatch(/^min\.insync\.replicas\s+2\s+topic\s+count$/m);
    expect(described.text()).toMatch(/^retention\.ms\s+604800000\s+default\s+ms$/m);

    const grow = io();
    await topicsAlter(grow, { ...options(), partitions: 4 }, 'orders');
    expect(grow.failed).toBe(false);

    const elect = io();
    await electLeaders(elect, { ...options(), preferred: true });
    expect(elect.failed).toBe(false);
    expect(elect.text()).toMatch(/leader\(s\) elected, \d+ already in place, 0 failed/);

    const del = io();
    await topicsDelete(del, options(), ['orders', 'missing']);
    expect(del.failed).toBe(true);
    expect(del.text()).toMatch(/^orders\s+ok$/m);
    expect(del.text()).toMatch(/^missing\s+UNKNOWN_TOPIC_OR_PARTITION \(3\)/m);
  });

  it('formats tables and parses replica assignments', () => {
    expect(formatTable(['A', 'LONGER'], [['xyz', '1']])).toBe('A    LONGER\nxyz  1');
    expect(parseReplicaAssignment('1:2:3,2:3:1')).toEqual([
      [1, 2, 3],
      [2, 3, 1],
    ]);
    expect(() => parseReplicaAssignment('1:x')).toThrow(/not a broker id/);
  });
});
