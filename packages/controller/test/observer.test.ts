// A RaftDriver as an observer (the way a broker follows the metadata log): no
// server of its own, it fetches from the voters, applies what they commit and
// follows the leader to a new one after a handover.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type LogLevel } from '@raftka/observability';
import { QuorumClient } from '@raftka/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyValueStateMachine, RaftDriver, type RaftRoleChange } from '../src/index.js';
import { record, TEST_RAFT, TestCluster, waitFor } from './helpers.js';

let cluster: TestCluster | undefined;
let client: QuorumClient | undefined;
let observer: RaftDriver | undefined;
let dir: string | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await observer?.shutdown();
  observer = undefined;
  await cluster?.destroy();
  cluster = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('RaftDriver as an observer', () => {
  it('fetches committed records from the voters and follows a new leader', async () => {
    cluster = await TestCluster.create(3);
    await cluster.startAll();
    const leader = await cluster.waitForLeader();
    client = new QuorumClient({ clusterId: cluster.clusterId, bootstrapEndpoints: cluster.endpoints });
    await client.append([record('before=1')]);

    dir = await mkdtemp(join(tmpdir(), 'raftka-observer-'));
    const changes: RaftRoleChange[] = [];
    const machine = new KeyValueStateMachine();
    observer = new RaftDriver(
      {
        nodeId: 100,
        clusterId: cluster.clusterId,
        voters: cluster.voters,
        metadataLogDir: dir,
        raft: TEST_RAFT,
        snapshotMaxBytesBetween: 20 * 1024 * 1024,
        appendLingerMs: 2,
        logger: createLogger({
          nodeId: 100,
          role: 'broker',
          level: (process.env.RAFTKA_TEST_LOG ?? 'silent') as LogLevel,
        }),
      },
      machine,
      { onRoleChange: (change) => changes.push(change) },
    );
    expect(observer.isObserver).toBe(true);
    expect(observer.port).toBe(-1);
    await observer.start();
    await waitFor(() => machine.get('before') === '1', 'the observer to apply the first record');
    expect(observer.status().role).toBe('observer');
    expect(observer.status().leaderId).toBe(leader.nodeId);
    expect(changes.some((c) => c.leaderId === leader.nodeId && c.leaderEndpoint !== undefined)).toBe(true);
    // The leader tracks it as an observer, not a voter.
    await waitFor(
      () => leader.describeQuorum().observers.some((o) => o.nodeId === 100),
      'the leader to list the observer',
    );
    // An observer does not append.
    await expect(observer.append([record('x=1')])).rejects.toMatchObject({ errorName: 'NOT_LEADER_OR_FOLLOWER' });

    await cluster.stop(leader.nodeId);
    const next = await cluster.waitForLeader();
    await client.append([record('after=2')]);
    await waitFor(() => machine.get('after') === '2', 'the observer to apply a record of the new leader');
    expect(observer.status().leaderId).toBe(next.nodeId);
  });
});
