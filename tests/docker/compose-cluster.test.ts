// The compose cluster end to end, in real containers (`pnpm test:docker`):
// docker-compose.yml brought up with testcontainers (3 controllers, 3
// brokers of the raftka image), its health checks awaited, then through the
// brokers' published ports: an RF 3 topic (min.insync.replicas=2) is created,
// acks=all idempotent records are produced and read back; a broker container
// is SIGKILLed while producing (it must be fenced, its partitions led
// elsewhere, writes acknowledged meanwhile, and after `docker start` it must
// be unfenced and back in every ISR); a broker gets `docker stop` (SIGTERM
// through tini: a controlled shutdown that exits 0 and fails no produce).
// After each fault a fresh consumer drains every partition: every
// acknowledged write must be there at the offset it was acknowledged with,
// and no value may appear twice.
//
// Needs a Docker engine and the image (RAFTKA_IMAGE, default raftka:dev);
// fails, never skips, when either is missing. The host reaches the brokers'
// registered addresses (container IPs on the compose network) directly, as
// on any Linux host.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Consumer, Producer, type RecordMetadata } from '@raftka/client';
import { DockerComposeEnvironment, type StartedDockerComposeEnvironment, Wait } from 'testcontainers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  composeExecutable,
  docker,
  freePorts,
  REPO_ROOT,
  requireDockerEngine,
  requireImage,
  service,
  waitFor,
} from './helpers.js';

const IMAGE = process.env.RAFTKA_IMAGE ?? 'raftka:dev';
const PROJECT = `raftka-test-${process.pid}`;
const CONTROLLERS = [1, 2, 3] as const;
const BROKERS = [101, 102, 103] as const;
const SERVICES = [...CONTROLLERS.map((id) => `controller-${id}`), ...BROKERS.map((id) => `broker-${id}`)];
const TOPIC = 'docker-acks-all';
const PARTITIONS = 3;

interface ClusterJson {
  controllerId: number;
  brokers: { id: number; state: string; epoch: number }[];
  controllers: { id: number; leader: boolean }[];
}

const log = (...args: unknown[]) => console.log('[docker]', ...args);

let env: StartedDockerComposeEnvironment | undefined;
let bootstrap: string[] = [];
let brokerMetricsPorts: number[] = [];
let admin: Admin | undefined;
/** Every acknowledged write: value -> where the broker said it is. */
const acked = new Map<string, RecordMetadata>();
const summary: string[] = [];

function compose(): StartedDockerComposeEnvironment {
  if (env === undefined) throw new Error('the compose cluster did not start');
  return env;
}

function containerId(name: string): string {
  return service(compose(), PROJECT, name).getId();
}

/** `raftka cluster describe` run inside a container, as an operator would with `docker compose exec`. */
function describeClusterInContainer(name: string, json: boolean): string {
  return docker('exec', containerId(name), 'raftka', 'cluster', 'describe', ...(json ? ['--json'] : []));
}

/** A broker's state as the active controller sees it (fenced, unfenced, controlled-shutdown), asked from the host. */
async function brokerState(id: number): Promise<string | undefined> {
  return (await theAdmin().describeCluster()).brokers.find((b) => b.brokerId === id)?.state;
}

function theAdmin(): Admin {
  if (admin === undefined) throw new Error('no admin client');
  return admin;
}

/** The topic's partitions once every one has a leader and `check` holds for all. */
async function waitForPartitions(
  what: string,
  timeoutMs: number,
  check: (p: { leader: number; isr: readonly number[] }) => boolean,
) {
  return waitFor(what, timeoutMs, async () => {
    const md = await theAdmin().metadata([TOPIC]);
    const parts = md.topics.find((t) => t.name === TOPIC)?.partitions ?? [];
    return parts.length === PARTITIONS && parts.every((p) => p.leader >= 0 && check(p)) ? parts : undefined;
  });
}

/** Loads still running; a failed test leaves its load to afterEach, so it cannot write into the next test. */
const runningLoads = new Set<{ stop(): Promise<unknown> }>();

/** Producers writing unique values with acks=all until stopped; every acknowledgement goes into `acked`. */
function startLoad(phase: string) {
  const producer = new Producer({
    bootstrap,
    config: { acks: 'all', 'enable.idempotence': true, 'linger.ms': 5, 'delivery.timeout.ms': 60_000 },
  });
  // longestAckGapMs: the longest time without any acknowledgement (how long producing stalled).
  const stats = { acked: 0, failed: 0, errors: new Map<string, number>(), longestAckGapMs: 0 };
  let lastAckAt = Date.now();
  let stopping = false;
  let next = 0;
  const done = (async () => {
    await producer.connect();
    while (!stopping) {
      const sends = Array.from({ length: 10 }, () => {
        const value = `${phase}-${next++}`;
        return producer.send({ topic: TOPIC, key: value, value }).then(
          (md) => {
            acked.set(value, md);
            stats.acked++;
            stats.longestAckGapMs = Math.max(stats.longestAckGapMs, Date.now() - lastAckAt);
            lastAckAt = Date.now();
          },
          (err: unknown) => {
            stats.failed++;
            const name = (err as { errorName?: string }).errorName ?? (err as Error).name;
            stats.errors.set(name, (stats.errors.get(name) ?? 0) + 1);
          },
        );
      });
      await Promise.all(sends);
      // A steady load, not a saturating one: the cluster shares two cores with the test.
      await new Promise((r) => setTimeout(r, 20));
    }
    await producer.close();
  })();
  const load = {
    stats,
    async ackedAtLeast(n: number, timeoutMs: number) {
      await waitFor(`${n} acknowledged ${phase} writes`, timeoutMs, async () => {
        if (stats.acked >= n) return true;
        throw new Error(
          `${stats.acked} acknowledged, ${stats.failed} failed ${JSON.stringify(Object.fromEntries(stats.errors))}`,
        );
      });
    },
    async stop() {
      stopping = true;
      runningLoads.delete(load);
      await done;
      return stats;
    },
  };
  runningLoads.add(load);
  return load;
}

/**
 * Reads every partition from the beginning to its high watermark with a
 * fresh consumer and checks the acknowledged writes against it.
 */
async function drainAndCheck(label: string) {
  // Writes acknowledged from here on may lie past the end offsets read below: not checked.
  const expected = new Map(acked);
  const consumer = new Consumer({ bootstrap, config: { 'fetch.max.wait.ms': 200 } });
  const tps = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition }));
  const seen = new Map<string, { partition: number; offset: number }[]>();
  let records = 0;
  try {
    consumer.assign(tps);
    for (const tp of tps) await consumer.seek(tp, 'earliest');
    const end = await consumer.endOffsets(tps);
    await waitFor(`${label}: drain to the high watermarks`, 60_000, async () => {
      for (const r of await consumer.poll(500)) {
        records++;
        const value = r.value?.toString() ?? '';
        const at = seen.get(value) ?? [];
        at.push({ partition: r.partition, offset: r.offset });
        seen.set(value, at);
      }
      return tps.every((tp) => consumer.position(tp) >= (end.get(`${tp.topic}-${tp.partition}`) ?? 0))
        ? true
        : undefined;
    });
  } finally {
    await consumer.close();
  }
  const lost: string[] = [];
  const moved: string[] = [];
  for (const [value, md] of expected) {
    const at = seen.get(value);
    if (at === undefined) lost.push(value);
    else if (!at.some((a) => a.partition === md.partition && a.offset === md.offset)) moved.push(value);
  }
  const duplicates = [...seen].filter(([, at]) => at.length > 1).map(([value]) => value);
  const line = `${label}: ${expected.size} acknowledged, ${records} read; lost ${lost.length}, at another offset ${moved.length}, duplicated ${duplicates.length}`;
  log(line);
  summary.push(line);
  expect(lost.slice(0, 10)).toEqual([]);
  expect(moved.slice(0, 10)).toEqual([]);
  expect(duplicates.slice(0, 10)).toEqual([]);
}

function dumpLogs(): void {
  const file = join(tmpdir(), `${PROJECT}.log`);
  const parts: string[] = [];
  for (const name of SERVICES) {
    try {
      parts.push(`===== ${name}\n${docker('logs', containerId(name))}`);
    } catch (err) {
      parts.push(`===== ${name}: ${(err as Error).message}`);
    }
  }
  writeFileSync(file, parts.join('\n'));
  log(`container logs: ${file}`);
}

describe('docker compose cluster', () => {
  beforeAll(async () => {
    const engine = requireDockerEngine();
    requireImage(IMAGE);
    const [c1, c2, c3, b1, b2, b3, m1, m2, m3] = await freePorts(9);
    const environment: Record<string, string> = {
      RAFTKA_IMAGE: IMAGE,
      RAFTKA_CLUSTER_ID: 'raftka-docker-test',
      RAFTKA_SUBNET_PREFIX: process.env.RAFTKA_TEST_SUBNET_PREFIX ?? '10.127.0',
      RAFTKA_CONTROLLER_1_METRICS_PORT: String(c1),
      RAFTKA_CONTROLLER_2_METRICS_PORT: String(c2),
      RAFTKA_CONTROLLER_3_METRICS_PORT: String(c3),
      RAFTKA_BROKER_101_PORT: String(b1),
      RAFTKA_BROKER_102_PORT: String(b2),
      RAFTKA_BROKER_103_PORT: String(b3),
      RAFTKA_BROKER_101_METRICS_PORT: String(m1),
      RAFTKA_BROKER_102_METRICS_PORT: String(m2),
      RAFTKA_BROKER_103_METRICS_PORT: String(m3),
    };
    bootstrap = [b1, b2, b3].map((p) => `127.0.0.1:${p}`);
    brokerMetricsPorts = [m1, m2, m3] as number[];
    const start = Date.now();
    env = await new DockerComposeEnvironment(REPO_ROOT, 'docker-compose.yml')
      .withProjectName(PROJECT)
      .withEnvironment(environment)
      .withClientOptions(composeExecutable())
      .withDefaultWaitStrategy(Wait.forHealthCheck())
      .withStartupTimeout(180_000)
      .up(SERVICES);
    const line = `compose up until all 6 containers healthy: ${Date.now() - start} ms (engine ${engine}, image ${IMAGE})`;
    log(line);
    summary.push(line);
    admin = new Admin({ bootstrap });
  });

  afterEach(async () => {
    await Promise.all([...runningLoads].map((l) => l.stop()));
  });

  afterAll(async () => {
    await admin?.close();
    if (env !== undefined) {
      dumpLogs();
      await env.down({ removeVolumes: true, timeout: 20_000 });
    }
    log(`summary:\n  ${summary.join('\n  ')}`);
  });

  it('starts healthy: one active controller, three unfenced brokers', async () => {
    const execStart = Date.now();
    const table = describeClusterInContainer('broker-101', false);
    log(`raftka cluster describe (docker exec broker-101, ${Date.now() - execStart} ms):\n${table}`);
    const c = JSON.parse(describeClusterInContainer('controller-1', true).split('\n').pop() ?? '') as ClusterJson;
    expect(c.controllers.filter((x) => x.leader).map((x) => x.id)).toEqual([c.controllerId]);
    expect(c.brokers.map((b) => `${b.id}:${b.state}`).sort()).toEqual(BROKERS.map((id) => `${id}:unfenced`));
    // Each broker's /metrics is published on the host too.
    for (const [i, id] of BROKERS.entries()) {
      const text = await (await fetch(`http://127.0.0.1:${brokerMetricsPorts[i]}/metrics`)).text();
      expect(text).toContain(`raftka_broker_state{node_id="${id}"} 3`);
    }
  });

  it('creates an RF 3 topic and round-trips acks=all records through the published broker ports', async () => {
    const [result] = await theAdmin().createTopics([
      { name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } },
    ]);
    expect(result?.error ?? null).toBeNull();
    await waitForPartitions('a leader and a full ISR for every partition', 60_000, (p) => p.isr.length === 3);
    const producer = new Producer({ bootstrap, config: { acks: 'all', 'enable.idempotence': true, 'linger.ms': 5 } });
    await producer.connect();
    const values = Array.from({ length: 300 }, (_, i) => `warmup-${i}`);
    const mds = await Promise.all(values.map((value) => producer.send({ topic: TOPIC, key: value, value })));
    for (const [i, value] of values.entries()) acked.set(value, mds[i] as RecordMetadata);
    await producer.close();
    expect(new Set(mds.map((m) => m.partition)).size).toBe(PARTITIONS);
    await drainAndCheck('after the first 300 writes');
  });

  it('SIGKILL of a broker: fenced, writes go on, after a restart it is unfenced and in every ISR; no acknowledged write lost', async () => {
    const before = await waitForPartitions('leaders', 30_000, () => true);
    const victim = before.value[0]?.leader as number;
    const load = startLoad('kill');
    await load.ackedAtLeast(100, 60_000);
    docker('kill', '--signal', 'KILL', containerId(`broker-${victim}`));
    const fenced = await waitFor(`broker ${victim} fenced`, 30_000, async () =>
      (await brokerState(victim)) === 'fenced' ? true : undefined,
    );
    const moved = await waitForPartitions(`no partition led by ${victim}`, 30_000, (p) => p.leader !== victim);
    const ackedWhileDown = load.stats.acked;
    await load.ackedAtLeast(ackedWhileDown + 100, 60_000);
    const restartedAt = Date.now();
    docker('start', containerId(`broker-${victim}`));
    const unfenced = await waitFor(`broker ${victim} unfenced`, 90_000, async () =>
      (await brokerState(victim)) === 'unfenced' ? true : undefined,
    );
    const rejoined = await waitForPartitions(`broker ${victim} back in every ISR`, 90_000, (p) => p.isr.length === 3);
    await waitFor(`broker-${victim} healthy`, 120_000, async () =>
      docker('inspect', '--format', '{{.State.Health.Status}}', containerId(`broker-${victim}`)) === 'healthy'
        ? true
        : undefined,
    );
    const stats = await load.stop();
    const line = `SIGKILL broker ${victim}: fenced in ${fenced.elapsedMs} ms, partitions led elsewhere ${moved.elapsedMs} ms later; restarted: unfenced in ${unfenced.elapsedMs} ms, full ISR ${rejoined.elapsedMs} ms later (${Date.now() - restartedAt} ms after docker start incl. health); produces acked ${stats.acked}, failed ${stats.failed} ${JSON.stringify(Object.fromEntries(stats.errors))}, longest gap between acknowledgements ${stats.longestAckGapMs} ms`;
    log(line);
    summary.push(line);
    await drainAndCheck(`after SIGKILL and restart of broker ${victim}`);
  });

  it('SIGTERM (docker stop) of a broker: controlled shutdown, exit 0, no acks=all produce fails', async () => {
    const before = await waitForPartitions('a full ISR', 60_000, (p) => p.isr.length === 3);
    const victim = before.value[1]?.leader as number;
    const load = startLoad('term');
    await load.ackedAtLeast(100, 60_000);
    const id = containerId(`broker-${victim}`);
    const stopStart = Date.now();
    docker('stop', '--time', '45', id);
    const stopMs = Date.now() - stopStart;
    const exitCode = docker('inspect', '--format', '{{.State.ExitCode}}', id);
    const logs = docker('logs', '--tail', '50', id);
    // Writes must go on without the broker (its leaderships moved before it exited).
    const ackedAtStop = load.stats.acked;
    await load.ackedAtLeast(ackedAtStop + 100, 120_000);
    docker('start', id);
    await waitFor(`broker ${victim} unfenced`, 90_000, async () =>
      (await brokerState(victim)) === 'unfenced' ? true : undefined,
    );
    const rejoined = await waitForPartitions(`broker ${victim} back in every ISR`, 90_000, (p) => p.isr.length === 3);
    const stats = await load.stop();
    const line = `docker stop broker ${victim}: exit ${exitCode} after ${stopMs} ms, controlled=${logs.includes('"controlled":true')}; full ISR ${rejoined.elapsedMs} ms after unfencing; produces acked ${stats.acked}, failed ${stats.failed} ${JSON.stringify(Object.fromEntries(stats.errors))}, longest gap between acknowledgements ${stats.longestAckGapMs} ms`;
    log(line);
    summary.push(line);
    expect(exitCode).toBe('0');
    expect(logs).toContain('"controlled":true');
    expect(stats.failed).toBe(0);
    await drainAndCheck(`after the controlled shutdown of broker ${victim}`);
  });
});
