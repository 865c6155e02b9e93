// The compose file's `monitoring` profile, Prometheus half, in real
// containers (`pnpm test:docker`): the cluster plus Prometheus (the official
// image, or without a registry the one deploy/build-prometheus-image.sh
// builds from Debian's package) brought up with testcontainers; then
// Prometheus must scrape every controller and broker (/api/v1/targets all
// up), load every alert rule without an error, and answer every query of
// the Grafana dashboard (deploy/grafana/dashboards/raftka.json) and of the
// alert rules without an error, an unknown metric or an unknown label
// (deploy/grafana/check-dashboard.mjs). Grafana itself is not run: its image
// cannot be pulled here and Debian has no package.
//
// Fails, never skips, without a Docker engine or the raftka image.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Admin, Producer } from '@raftka/client';
import { DockerComposeEnvironment, type StartedDockerComposeEnvironment, Wait } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDashboard, checkQueries, formatResults, isWrong } from '../../deploy/grafana/check-dashboard.mjs';
import { composeExecutable, freePorts, REPO_ROOT, requireDockerEngine, requireImage, waitFor } from './helpers.js';

const IMAGE = process.env.RAFTKA_IMAGE ?? 'raftka:dev';
const PROJECT = `raftka-monitoring-${process.pid}`;
const SERVICES = ['controller-1', 'controller-2', 'controller-3', 'broker-101', 'broker-102', 'broker-103'];
const TOPIC = 'monitoring-check';

const log = (...args: unknown[]) => console.log('[monitoring]', ...args);

interface Target {
  labels: { job: string; instance: string };
  health: string;
  lastError: string;
}

let env: StartedDockerComposeEnvironment | undefined;
let prometheus = '';
let bootstrap: string[] = [];

async function promApi<T>(path: string): Promise<T> {
  const body = (await (await fetch(`${prometheus}${path}`, { signal: AbortSignal.timeout(10_000) })).json()) as {
    status: string;
    data: T;
    error?: string;
  };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
  return body.data;
}

describe('monitoring profile: Prometheus and the dashboard queries', () => {
  beforeAll(async () => {
    const engine = requireDockerEngine();
    requireImage(IMAGE);
    // The official image when a registry answers, else a local one from Debian's package (fast once built).
    const prometheusImage =
      process.env.PROMETHEUS_IMAGE ??
      execFileSync('bash', [join(REPO_ROOT, 'deploy/build-prometheus-image.sh')], {
        encoding: 'utf8',
        timeout: 600_000,
        stdio: ['ignore', 'pipe', 'inherit'],
      }).trim();
    const [c1, c2, c3, b1, b2, b3, m1, m2, m3, p] = await freePorts(10);
    const environment: Record<string, string> = {
      RAFTKA_IMAGE: IMAGE,
      PROMETHEUS_IMAGE: prometheusImage,
      RAFTKA_CLUSTER_ID: 'raftka-monitoring-test',
      // Not the compose-cluster test's subnet (10.127.0), in case a run of it left its network behind.
      RAFTKA_SUBNET_PREFIX: process.env.RAFTKA_TEST_MONITORING_SUBNET_PREFIX ?? '10.128.0',
      RAFTKA_CONTROLLER_1_METRICS_PORT: String(c1),
      RAFTKA_CONTROLLER_2_METRICS_PORT: String(c2),
      RAFTKA_CONTROLLER_3_METRICS_PORT: String(c3),
      RAFTKA_BROKER_101_PORT: String(b1),
      RAFTKA_BROKER_102_PORT: String(b2),
      RAFTKA_BROKER_103_PORT: String(b3),
      RAFTKA_BROKER_101_METRICS_PORT: String(m1),
      RAFTKA_BROKER_102_METRICS_PORT: String(m2),
      RAFTKA_BROKER_103_METRICS_PORT: String(m3),
      PROMETHEUS_PORT: String(p),
    };
    bootstrap = [b1, b2, b3].map((port) => `127.0.0.1:${port}`);
    prometheus = `http://127.0.0.1:${p}`;
    const ready = Wait.forLogMessage('Server is ready to receive web requests');
    const start = Date.now();
    env = await new DockerComposeEnvironment(REPO_ROOT, 'docker-compose.yml')
      .withProjectName(PROJECT)
      .withProfiles('monitoring')
      .withEnvironment(environment)
      .withClientOptions(composeExecutable())
      .withDefaultWaitStrategy(Wait.forHealthCheck())
      // Prometheus has no health check (its images differ); its container name: compose v2, v1.
      .withWaitStrategy('prometheus-1', ready)
      .withWaitStrategy(`${PROJECT}_prometheus_1`, ready)
      .withStartupTimeout(180_000)
      .up([...SERVICES, 'prometheus']);
    log(
      `compose up (6 nodes healthy, Prometheus ready): ${Date.now() - start} ms (engine ${engine}, ${prometheusImage})`,
    );
  });

  afterAll(async () => {
    await env?.down({ removeVolumes: true, timeout: 20_000 });
  });

  it('scrapes every controller and broker', async () => {
    const { value: targets, elapsedMs } = await waitFor('all six targets up', 90_000, async () => {
      const d = await promApi<{ activeTargets: Target[] }>('/api/v1/targets');
      return d.activeTargets.length === 6 && d.activeTargets.every((t) => t.health === 'up')
        ? d.activeTargets
        : undefined;
    });
    log(`targets up after ${elapsedMs} ms: ${targets.map((t) => `${t.labels.job}/${t.labels.instance}`).join(' ')}`);
    expect(targets.map((t) => t.labels.instance).sort()).toEqual([
      'broker-101:9308',
      'broker-102:9308',
      'broker-103:9308',
      'controller-1:9308',
      'controller-2:9308',
      'controller-3:9308',
    ]);
    expect(new Set(targets.map((t) => t.labels.job))).toEqual(new Set(['raftka-controller', 'raftka-broker']));
  });

  it('loads every alert rule without an error', async () => {
    const d = await waitFor('rules evaluated', 60_000, async () => {
      const r = await promApi<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(
        '/api/v1/rules',
      );
      const rules = r.groups.flatMap((g) => g.rules);
      return rules.length > 0 && rules.every((x) => x.health !== 'unknown') ? rules : undefined;
    });
    log(`rules: ${d.value.map((x) => `${x.name}=${x.health}`).join(' ')}`);
    expect(d.value.filter((x) => x.health !== 'ok')).toEqual([]);
    expect(d.value.length).toBe(6);
  });

  it('answers every dashboard and alert query: no error, no unknown metric or label', async () => {
    // Traffic first, so request, byte and latency series exist and have rates.
    const admin = new Admin({ bootstrap });
    const producer = new Producer({ bootstrap, config: { acks: 'all', 'enable.idempotence': true } });
    try {
      await admin.createTopics([{ name: TOPIC, numPartitions: 3, replicationFactor: 3 }]);
      await waitFor('a leader for every partition', 60_000, async () => {
        const t = (await admin.metadata([TOPIC])).topics.find((x) => x.name === TOPIC);
        return t !== undefined && t.partitions.length === 3 && t.partitions.every((x) => x.leader >= 0)
          ? true
          : undefined;
      });
      await producer.connect();
      await Promise.all(Array.from({ length: 100 }, (_, i) => producer.send({ topic: TOPIC, value: `m-${i}` })));
    } finally {
      await producer.close();
      await admin.close();
    }
    // Series that appear with the first request (requests_total, request_duration) are unknown to
    // Prometheus until its next scrape, and need two scrapes (5 s apart) before rate() answers: ask again
    // until every panel has series and every name and label is known, or for at most 60 s.
    const rulesFile = join(REPO_ROOT, 'deploy/prometheus/alerts.yml');
    type Results = Awaited<ReturnType<typeof checkDashboard>>;
    const emptyPanels = (rs: Results) =>
      rs.filter((r) => r.status === 'empty' && !r.panel.startsWith('rule ')).map((r) => `${r.panel} [${r.refId}]`);
    // A legend label can be missing for the same reason (`acks` is only on produce series).
    const notYet = (rs: Results) =>
      emptyPanels(rs).length > 0 || rs.some((r) => r.status === 'unknown-metric' || r.status === 'unknown-label');
    let results = await checkDashboard({ prometheus, rulesFile });
    const deadline = Date.now() + 60_000;
    while (notYet(results) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2000));
      results = await checkDashboard({ prometheus, rulesFile });
    }
    log(`\n${formatResults(results)}`);
    expect(results.length).toBeGreaterThan(30);
    expect(results.filter((r) => isWrong(r)).map((r) => `${r.panel} [${r.refId}]: ${r.status} ${r.query}`)).toEqual([]);
    // Every dashboard panel shows something on a cluster with traffic (the alert rules are empty when healthy).
    expect(emptyPanels(results)).toEqual([]);
    // The per-node active-controller panel shows the three voters, not the brokers (which export the gauge as 0).
    const perNode = results.find(
      (r) => r.panel === 'Active controller' && r.query.includes('raftka_raft_current_state'),
    );
    expect(perNode?.series).toBe(3);
  });

  it('the checker itself flags a typo, a parse error and an unknown label', async () => {
    const results = await checkQueries(
      [
        { panel: 'typo', refId: 'A', expr: 'sum(raftka_broker_under_replicated_partition)' },
        { panel: 'syntax', refId: 'A', expr: 'sum(rate(raftka_broker_bytes_in_total[$__rate_interval])' },
        { panel: 'label', refId: 'A', expr: 'sum by (broker_id) (raftka_broker_state)' },
        { panel: 'legend', refId: 'A', expr: 'raftka_broker_state', legend: 'broker {{broker}}' },
        { panel: 'fine', refId: 'A', expr: 'sum(rate(raftka_broker_bytes_in_total[$__rate_interval]))' },
      ],
      { prometheus },
    );
    expect(results.map((r) => `${r.panel}:${r.status}`)).toEqual([
      'typo:unknown-metric',
      'syntax:error',
      'label:unknown-label',
      'legend:unknown-label',
      'fine:ok',
    ]);
  });
});
