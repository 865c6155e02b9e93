// Configuration of broker nodes: listeners per role, the broker lifecycle
// keys and their relations (a broker-only node is no voter, the session
// outlasts the heartbeat interval).
import { isRaftkaError } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { loadRawConfig, resolveConfig } from '../src/config.js';

const voters = 'controller.quorum.voters=1@127.0.0.1:19091,2@127.0.0.1:19092,3@127.0.0.1:19093';
const broker = [
  'node.id=101',
  'process.roles=broker',
  voters,
  'metadata.log.dir=/tmp/b',
  'listeners=PLAINTEXT://127.0.0.1:19291',
];

const resolve = (lines: string[]) => resolveConfig(loadRawConfig(lines.join('\n'), 'b.properties', []));

function problemsOf(lines: string[]): string {
  try {
    resolve(lines);
  } catch (e) {
    expect(isRaftkaError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('broker configuration', () => {
  it("applies Kafka's broker defaults", () => {
    const c = resolve(broker);
    expect(c.roles).toEqual(['broker']);
    expect(c.brokerListener).toEqual({ host: '127.0.0.1', port: 19291 });
    expect(c.listenPort).toBe(19291);
    expect(c.brokerRack).toBeNull();
    expect(c.brokerHeartbeatIntervalMs).toBe(2000);
    expect(c.brokerSessionTimeoutMs).toBe(9000);
    expect(c.initialBrokerRegistrationTimeoutMs).toBe(60000);
  });

  it('runs both roles with a CONTROLLER and a PLAINTEXT listener', () => {
    const c = resolve([
      'node.id=2',
      'process.roles=broker,controller',
      voters,
      'metadata.log.dir=/tmp/c',
      'listeners=PLAINTEXT://:19292',
      'broker.rack=r2',
    ]);
    expect(c.listenPort).toBe(19092);
    expect(c.brokerListener).toEqual({ host: '0.0.0.0', port: 19292 });
    expect(c.brokerRack).toBe('r2');
    expect(
      problemsOf([
        'node.id=2',
        'process.roles=broker,controller',
        voters,
        'metadata.log.dir=/tmp/c',
        'listeners=PLAINTEXT://:19092',
      ]),
    ).toContain('share port 19092');
  });

  it('refuses a broker-only voter, a broker without a client listener, and a session shorter than the heartbeat', () => {
    expect(problemsOf([...broker.slice(1), 'node.id=1'])).toContain(
      'is a voter, so process.roles must include controller',
    );
    expect(problemsOf([...broker.slice(0, 4), 'listeners=CONTROLLER://127.0.0.1:1'])).toContain(
      'must include PLAINTEXT://',
    );
    expect(problemsOf([...broker, 'broker.session.timeout.ms=1000', 'broker.heartbeat.interval.ms=1000'])).toContain(
      'must exceed broker.heartbeat.interval.ms',
    );
    expect(problemsOf([...broker.slice(0, 4), 'listeners=PLAINTEXT://a:1,PLAINTEXT://b:2'])).toContain('given twice');
  });

  it('keeps a controller-only node on its one listener, whatever its name', () => {
    const c = resolve([
      'node.id=1',
      'process.roles=controller',
      voters,
      'metadata.log.dir=/tmp/a',
      'listeners=PLAINTEXT://0.0.0.0:9999',
    ]);
    expect(c.listenPort).toBe(9999);
    expect(c.brokerListener).toBeNull();
  });

  it('registers advertised.listeners instead of the listener, and refuses one clients cannot reach', () => {
    expect(resolve(broker).advertisedListener).toBeNull();
    const c = resolve([...broker, 'advertised.listeners=PLAINTEXT://broker-101.example:29092']);
    expect(c.advertisedListener).toEqual({ host: 'broker-101.example', port: 29092 });
    expect(problemsOf([...broker, 'advertised.listeners=PLAINTEXT://0.0.0.0:29092'])).toMatch(
      /advertise a host clients can reach/,
    );
    expect(problemsOf([...broker, 'advertised.listeners=broker:29092'])).toMatch(/advertised.listeners=broker:29092/);
  });

  it('gives the data-plane keys their defaults, with log.dirs under metadata.log.dir', () => {
    const c = resolve(broker);
    expect(c.logDir).toBe('/tmp/b/partitions');
    expect(c.replicaLagTimeMaxMs).toBe(30000);
    expect(c.replicaFetchWaitMaxMs).toBe(500);
    expect(c.replicaFetchBackoffMs).toBe(50);
    expect(resolve([...broker, 'log.dirs=/data/logs']).logDir).toBe('/data/logs');
    expect(problemsOf([...broker, 'replica.fetch.max.bytes=10'])).toMatch(
      /replica.fetch.max.bytes=10: must be at least 1024/,
    );
  });
});
