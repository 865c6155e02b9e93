// The bench's Docker Engine API applier against a fake engine on a unix
// socket: which API calls each fault becomes, that containers are found by
// their compose labels, and that a broker taken off the network comes back
// with its fixed address and its aliases (without them it would get another
// address and nobody could reach its listener).

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComposeFaultApplier, DockerApiError, DockerEngine, dockerEndpoint } from '../src/bench/docker-engine.js';

interface Call {
  method: string;
  path: string;
  body: unknown;
}

describe('ComposeFaultApplier', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftka-fake-engine-'));
  const socketPath = join(dir, 'docker.sock');
  const calls: Call[] = [];
  let server: Server;
  const services = ['controller-1', 'controller-2', 'controller-3', 'broker-101', 'broker-102', 'broker-103'];

  const readBody = (req: IncomingMessage) =>
    new Promise<unknown>((done) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const t = Buffer.concat(chunks).toString('utf8');
        done(t === '' ? undefined : JSON.parse(t));
      });
    });

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const body = await readBody(req);
      const path = req.url ?? '';
      calls.push({ method: req.method ?? '', path, body });
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(v));
      };
      if (path.startsWith('/containers/json')) {
        const filters = JSON.parse(decodeURIComponent(path.split('filters=')[1] ?? '{}'));
        if (filters.label?.[0] !== 'com.docker.compose.project=rk') return json(200, []);
        return json(
          200,
          services.map((s) => ({ Id: `cid-${s}`, Labels: { 'com.docker.compose.service': s } })),
        );
      }
      if (/^\/containers\/cid-[\w-]+\/json$/.test(path))
        return json(200, {
          State: { ExitCode: 0 },
          NetworkSettings: {
            // Published only for broker-101; the others are reached at their network address.
            Ports: path.includes('broker-101') ? { '9308/tcp': [{ HostIp: '0.0.0.0', HostPort: '29392' }] } : {},
            Networks: {
              rk_raftka: {
                IPAddress: '10.126.0.22',
                IPAMConfig: { IPv4Address: '10.126.0.22' },
                Aliases: ['broker-102', 'abc'],
              },
            },
          },
        });
      if (path.includes('/start') && path.includes('broker-103')) {
        res.writeHead(304);
        return res.end();
      }
      if (path.includes('/pause') && path.includes('controller-2')) return json(409, { message: 'is not running' });
      if (path.includes('/wait')) return json(200, { StatusCode: 137 });
      res.writeHead(204);
      res.end();
    });
    await new Promise<void>((done) => server.listen(socketPath, done));
  });
  afterAll(async () => {
    await new Promise<void>((done) => server.close(() => done()));
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = () =>
    ComposeFaultApplier.connect({
      project: 'rk',
      controllerIds: [1, 2, 3],
      brokerIds: [101, 102, 103],
      activeController: async () => 2,
      engine: new DockerEngine({ socketPath }),
    });

  it('maps faults to Engine API calls on the compose containers', async () => {
    const a = await connect();
    calls.length = 0;
    expect(a.supports('kill-controller')).toBe(true);
    expect(a.supports('isolate-broker')).toBe(true);
    expect(a.supports('partition-one-way')).toBe(false);
    await a.kill(101);
    expect(await a.stop(102)).toBe(0);
    await a.start(102);
    await a.start(103); // 304: already running is fine
    await expect(a.pause(2)).rejects.toBeInstanceOf(DockerApiError);
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'POST /containers/cid-broker-101/kill?signal=SIGKILL',
      'POST /containers/cid-broker-101/wait?condition=not-running',
      'POST /containers/cid-broker-102/stop?t=45',
      'GET /containers/cid-broker-102/json',
      'POST /containers/cid-broker-102/start',
      'POST /containers/cid-broker-103/start',
      'POST /containers/cid-controller-2/pause',
    ]);
    expect(await a.activeController()).toBe(2);
  });

  it('reconnects an isolated broker with its address and aliases', async () => {
    const a = await connect();
    calls.length = 0;
    await a.isolate(102);
    await a.healNetwork();
    await a.healNetwork(); // nothing left to heal: no call
    expect(calls.filter((c) => c.method === 'POST')).toEqual([
      { method: 'POST', path: '/networks/rk_raftka/disconnect', body: { Container: 'cid-broker-102' } },
      {
        method: 'POST',
        path: '/networks/rk_raftka/connect',
        body: {
          Container: 'cid-broker-102',
          EndpointConfig: { IPAMConfig: { IPv4Address: '10.126.0.22' }, Aliases: ['broker-102', 'abc'] },
        },
      },
    ]);
  });

  it("finds the brokers' metrics endpoints: the published port, else the network address", async () => {
    const a = await connect();
    expect(await a.brokerMetricsEndpoints()).toEqual(
      new Map([
        [101, '127.0.0.1:29392'],
        [102, '10.126.0.22:9308'],
        [103, '10.126.0.22:9308'],
      ]),
    );
  });

  it('fails up front when a service has no container', async () => {
    await expect(
      ComposeFaultApplier.connect({
        project: 'other',
        controllerIds: [1],
        brokerIds: [101],
        engine: new DockerEngine({ socketPath }),
      }),
    ).rejects.toThrow(/no container for controller-1, broker-101/);
  });

  it('reads DOCKER_HOST like the docker CLI', () => {
    expect(dockerEndpoint(undefined)).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(dockerEndpoint('unix:///tmp/d.sock')).toEqual({ socketPath: '/tmp/d.sock' });
    expect(dockerEndpoint('tcp://10.0.0.1:2375')).toEqual({ host: '10.0.0.1', port: 2375 });
    expect(() => dockerEndpoint('ssh://x')).toThrow(/expected unix/);
  });
});
