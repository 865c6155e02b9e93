import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RaftMessage } from '@raftka/raft';
import { afterEach, describe, expect, it } from 'vitest';
import {
  findProtoDir,
  NotLeaderError,
  PeerChannel,
  QuorumClient,
  RAFT_PROTO,
  type RaftRequest,
  type RaftResponse,
  TransportServer,
} from '../src/index.js';

const MAX_BYTES = 4 * 1024 * 1024;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 5_000): Promise<T> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      const value = probe();
      if (value !== undefined) return resolve(value);
      if (Date.now() - start > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 5);
    };
    poll();
  });
}

/** One request of each RPC and the response the fake core gives to it. */
const EXCHANGES: [RaftRequest, (req: RaftRequest) => RaftResponse][] = [
  [
    { type: 'VoteRequest', from: 2, to: 1, candidateEpoch: 5, lastOffsetEpoch: 4, lastOffset: 2 ** 40, preVote: true },
    () => ({
      type: 'VoteResponse',
      from: 1,
      to: 2,
      epoch: 4,
      candidateEpoch: 5,
      voteGranted: true,
      preVote: true,
      leaderId: -1,
    }),
  ],
  [
    { type: 'BeginQuorumEpochRequest', from: 2, to: 1, leaderEpoch: 6 },
    () => ({ type: 'BeginQuorumEpochResponse', from: 1, to: 2, epoch: 6, leaderId: 2 }),
  ],
  [
    { type: 'EndQuorumEpochRequest', from: 2, to: 1, leaderEpoch: 6, preferredSuccessors: [3, 1] },
    () => ({ type: 'EndQuorumEpochResponse', from: 1, to: 2, epoch: 6, leaderId: 2 }),
  ],
  [
    {
      type: 'FetchRequest',
      from: 2,
      to: 1,
      currentLeaderEpoch: 6,
      fetchOffset: 10,
      lastFetchedEpoch: 5,
      maxBytes: 1024,
      maxWaitMs: 50,
    },
    () => ({
      type: 'FetchResponse',
      from: 1,
      to: 2,
      errorCode: 0,
      epoch: 6,
      leaderId: 1,
      fetchOffset: 10,
      lastFetchedEpoch: 5,
      highWatermark: 12,
      logStartOffset: 0,
      entries: [
        { offset: 10, epoch: 6, kind: 'leader-change', data: new Uint8Array([]), appendTimeMs: 1.5 },
        { offset: 11, epoch: 6, kind: 'data', data: new Uint8Array([1, 2, 3]), appendTimeMs: 2 },
      ],
      divergingEpoch: { epoch: 5, endOffset: 9 },
    }),
  ],
  [
    {
      type: 'FetchSnapshotRequest',
      from: 2,
      to: 1,
      currentLeaderEpoch: 6,
      snapshotId: { endOffset: 100, epoch: 5 },
      position: 4,
      maxBytes: 1024,
    },
    () => ({
      type: 'FetchSnapshotResponse',
      from: 1,
      to: 2,
      errorCode: 0,
      epoch: 6,
      leaderId: 1,
      snapshotId: { endOffset: 100, epoch: 5 },
      position: 4,
      size: 9,
      chunk: new Uint8Array([9, 8, 7, 6, 5]),
    }),
  ],
];

/** Plain data with byte arrays as number arrays, so Buffers and Uint8Arrays compare equal. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

async function startServer(opts: { nodeId: number; onRaftRequest?: (r: RaftRequest) => void; clusterId?: string }) {
  const server = await TransportServer.start({
    nodeId: opts.nodeId,
    clusterId: opts.clusterId ?? 'test-cluster',
    host: '127.0.0.1',
    port: 0,
    maxMessageBytes: MAX_BYTES,
    onRaftRequest: opts.onRaftRequest ?? (() => {}),
  });
  cleanups.push(() => server.close(10));
  return server;
}

function channelTo(
  port: number,
  received: RaftMessage[],
  extra: Partial<ConstructorParameters<typeof PeerChannel>[0]> = {},
) {
  const channel = new PeerChannel({
    selfId: 2,
    peer: { nodeId: 1, host: '127.0.0.1', port },
    clusterId: 'test-cluster',
    requestTimeoutMs: 2_000,
    maxInFlight: 8,
    maxMessageBytes: MAX_BYTES,
    onMessage: (m) => received.push(m),
    onDisconnect: () => {},
    ...extra,
  });
  cleanups.push(() => channel.close());
  return channel;
}

describe('proto loading', () => {
  it('finds the repository proto/ directory from the package', () => {
    const dir = findProtoDir();
    expect(existsSync(join(dir, RAFT_PROTO))).toBe(true);
  });
});

describe('PeerChannel and TransportServer', () => {
  it('carries every Raft RPC both ways with all fields intact', async () => {
    let server: TransportServer | undefined;
    const inbound: RaftRequest[] = [];
    server = await startServer({
      nodeId: 1,
      onRaftRequest: (request) => {
        inbound.push(request);
        const exchange = EXCHANGES.find(([req]) => req.type === request.type);
        // Answer asynchronously, as the driver does after a Ready.
        setImmediate(() => server?.respond(exchange![1](request)));
      },
    });
    const received: RaftMessage[] = [];
    const channel = channelTo(server.port, received);
    for (const [request] of EXCHANGES) expect(channel.send(request)).toBe(true);
    await waitFor(() => (received.length === EXCHANGES.length ? true : undefined), 'all responses');
    expect(inbound.map(normalize)).toEqual(EXCHANGES.map(([req]) => normalize(req)));
    for (const [request, respond] of EXCHANGES) {
      const response = received.find((m) => m.type === respond(request).type);
      expect(normalize(response!)).toEqual(normalize(respond(request)));
    }
  });

  it('keeps long-poll fetches open until answered, matching responses by fetch offset', async () => {
    let server: TransportServer | undefined;
    server = await startServer({ nodeId: 1 });
    const received: RaftMessage[] = [];
    const channel = channelTo(server.port, received);
    const fetchAt = (fetchOffset: number): RaftRequest =>
      ({ ...(EXCHANGES[3]![0] as object), fetchOffset }) as RaftRequest;
    channel.send(fetchAt(10));
    channel.send(fetchAt(20));
    await waitFor(() => (server?.pendingCalls === 2 ? true : undefined), 'two parked fetches');
    const answer = (fetchOffset: number): RaftResponse =>
      ({
        ...(EXCHANGES[3]![1](fetchAt(fetchOffset)) as object),
        fetchOffset,
        entries: [],
      }) as RaftResponse;
    // The later fetch is answered first; it must complete the call that asked for offset 20.
    expect(server.respond(answer(20))).toBe(true);
    await waitFor(() => (received.length === 1 ? true : undefined), 'first answer');
    expect(received[0]).toMatchObject({ type: 'FetchResponse', fetchOffset: 20 });
    expect(server.respond(answer(10))).toBe(true);
    await waitFor(() => (received.length === 2 ? true : undefined), 'second answer');
    expect(received[1]).toMatchObject({ type: 'FetchResponse', fetchOffset: 10 });
    // Nobody waits any more: a further response is dropped.
    expect(server.respond(answer(30))).toBe(false);
  });

  it('bounds the calls in flight per peer', async () => {
    const server = await startServer({ nodeId: 1 }); // never answers
    const channel = channelTo(server.port, [], { maxInFlight: 2 });
    const fetch = EXCHANGES[3]![0];
    expect(channel.send(fetch)).toBe(true);
    expect(channel.send(fetch)).toBe(true);
    expect(channel.send(fetch)).toBe(false);
    expect(channel.stats.droppedInFlightFull).toBe(1);
  });

  it('refuses another cluster and a request addressed to another node', async () => {
    const errors: string[] = [];
    const server = await startServer({ nodeId: 1, clusterId: 'other-cluster' });
    const channel = channelTo(server.port, [], {
      onCallError: (_peer, _method, err) => errors.push(String(err.metadata.get('raftka-error-name')[0])),
    });
    channel.send(EXCHANGES[0]![0]);
    await waitFor(() => (errors.length === 1 ? true : undefined), 'refusal');
    expect(errors).toEqual(['INVALID_CLUSTER_ID']);

    const server2 = await startServer({ nodeId: 7 });
    const errors2: string[] = [];
    const channel2 = channelTo(server2.port, [], {
      onCallError: (_peer, _method, err) => errors2.push(String(err.metadata.get('raftka-error-name')[0])),
    });
    channel2.send(EXCHANGES[0]![0]);
    await waitFor(() => (errors2.length === 1 ? true : undefined), 'refusal');
    expect(errors2).toEqual(['INVALID_REQUEST']);
  });

  it('signals a disconnect when the peer shuts down with a fetch parked', async () => {
    const server = await startServer({ nodeId: 1 });
    const disconnects: number[] = [];
    const channel = channelTo(server.port, [], { onDisconnect: (peer) => disconnects.push(peer) });
    channel.send(EXCHANGES[0]![0]); // not answered: the server never responds
    await waitFor(() => (server.pendingCalls > 0 ? true : undefined), 'the call to arrive');
    await server.close(10);
    await waitFor(() => (disconnects.length > 0 ? true : undefined), 'disconnect signal');
    expect(disconnects[0]).toBe(1);
  });

  it('signals a disconnect when the peer process is killed, and reconnects to its restart', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/parked-raft-server.mjs', import.meta.url));
    const startPeer = async (port: number): Promise<{ child: ChildProcess; port: number }> => {
      const child = spawn(process.execPath, [fixture, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
      cleanups.push(() => child.kill('SIGKILL'));
      const bound = await new Promise<number>((resolve, reject) => {
        child.stdout?.once('data', (chunk) => resolve(Number(String(chunk).trim())));
        child.once('exit', (code) => reject(new Error(`peer exited ${code}`)));
      });
      return { child, port: bound };
    };
    const first = await startPeer(0);
    const received: RaftMessage[] = [];
    const disconnects: number[] = [];
    const channel = channelTo(first.port, received, { onDisconnect: (p) => disconnects.push(p) });
    const vote = EXCHANGES[0]![0];
    channel.send(vote);
    await waitFor(() => (received.length === 1 ? true : undefined), 'vote answer');
    channel.send(EXCHANGES[3]![0]); // parked fetch, the leader's long poll
    await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    await waitFor(() => (disconnects.length === 1 ? true : undefined), 'disconnect after SIGKILL');

    await startPeer(first.port);
    // The core resends on its timers; emulate that until the restarted peer answers.
    await waitFor(() => {
      if (received.length >= 2) return true;
      channel.send(vote);
      return undefined;
    }, 'answer from the restarted peer');
  });
});

describe('QuorumClient', () => {
  it('follows a NOT_LEADER_OR_FOLLOWER redirect to the leader and maps errors back', async () => {
    const leader = await TransportServer.start({
      nodeId: 2,
      clusterId: 'test-cluster',
      host: '127.0.0.1',
      port: 0,
      maxMessageBytes: MAX_BYTES,
      quorum: {
        append: async (records) => ({ epoch: 3, firstOffset: 10, lastOffset: 10 + records.length - 1 }),
        describeQuorum: () => ({
          nodeId: 2,
          role: 'leader',
          leaderId: 2,
          epoch: 3,
          highWatermark: 12,
          voters: [{ nodeId: 2, logEndOffset: 12, lastFetchTimeMs: 1, lastCaughtUpTimeMs: 1 }],
          observers: [],
        }),
        readCommitted: async (fromOffset) => ({
          entries: [{ offset: fromOffset, epoch: 3, kind: 'data', data: new Uint8Array([7]), appendTimeMs: 0 }],
          nextOffset: fromOffset + 1,
          highWatermark: 12,
          logStartOffset: 0,
        }),
      },
    });
    cleanups.push(() => leader.close(10));
    const follower = await TransportServer.start({
      nodeId: 1,
      clusterId: 'test-cluster',
      host: '127.0.0.1',
      port: 0,
      maxMessageBytes: MAX_BYTES,
      quorum: {
        append: async () => {
          throw new NotLeaderError(2, `127.0.0.1:${leader.port}`);
        },
        describeQuorum: () => {
          throw new NotLeaderError(-1, undefined);
        },
        readCommitted: async () => ({ entries: [], nextOffset: 0, highWatermark: 0, logStartOffset: 0 }),
      },
    });
    cleanups.push(() => follower.close(10));

    const client = new QuorumClient({ clusterId: 'test-cluster', bootstrapEndpoints: [`127.0.0.1:${follower.port}`] });
    cleanups.push(() => client.close());
    expect(await client.append([new Uint8Array([1]), new Uint8Array([2])])).toEqual({
      epoch: 3,
      firstOffset: 10,
      lastOffset: 11,
    });
    expect(client.leaderEndpoint).toBe(`127.0.0.1:${leader.port}`);
    expect((await client.describeQuorum()).voters[0]?.logEndOffset).toBe(12);
    const page = await client.readCommitted(11, 10);
    expect(page.entries[0]).toMatchObject({ offset: 11, kind: 'data' });
    expect([...(page.entries[0]?.data ?? [])]).toEqual([7]);
    await expect(client.describeQuorum(`127.0.0.1:${follower.port}`)).rejects.toMatchObject({
      errorName: 'NOT_LEADER_OR_FOLLOWER',
      leaderId: -1,
    });

    // No leader known at the first endpoint (an election is on): the client tries the next one.
    const rotating = new QuorumClient({
      clusterId: 'test-cluster',
      bootstrapEndpoints: [`127.0.0.1:${follower.port}`, `127.0.0.1:${leader.port}`],
      retryBackoffMs: 1,
    });
    cleanups.push(() => rotating.close());
    const leaderless = await TransportServer.start({
      nodeId: 3,
      clusterId: 'test-cluster',
      host: '127.0.0.1',
      port: 0,
      maxMessageBytes: MAX_BYTES,
      quorum: {
        append: async () => {
          throw new NotLeaderError(-1, undefined);
        },
        describeQuorum: () => {
          throw new NotLeaderError(-1, undefined);
        },
        readCommitted: async () => ({ entries: [], nextOffset: 0, highWatermark: 0, logStartOffset: 0 }),
      },
    });
    cleanups.push(() => leaderless.close(10));
    const viaLeaderless = new QuorumClient({
      clusterId: 'test-cluster',
      bootstrapEndpoints: [`127.0.0.1:${leaderless.port}`, `127.0.0.1:${leader.port}`],
      retryBackoffMs: 1,
    });
    cleanups.push(() => viaLeaderless.close());
    expect((await viaLeaderless.append([new Uint8Array([5])])).epoch).toBe(3);
    expect(viaLeaderless.leaderEndpoint).toBe(`127.0.0.1:${leader.port}`);
    expect((await rotating.append([new Uint8Array([6])])).epoch).toBe(3);

    const stranger = new QuorumClient({ clusterId: 'nope', bootstrapEndpoints: [`127.0.0.1:${leader.port}`] });
    cleanups.push(() => stranger.close());
    await expect(stranger.append([new Uint8Array([1])])).rejects.toMatchObject({ errorName: 'INVALID_CLUSTER_ID' });
  });
});
