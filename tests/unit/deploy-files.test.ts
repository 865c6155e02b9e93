// The deployment files are code too, but nothing runs them in `pnpm test`
// (the container tests need Docker: `pnpm test:docker`). This checks what can
// be checked without an engine: every YAML and JSON file under deploy/ and
// docker-compose.yml parses; each node's configuration, assembled from the
// compose environment or the Kubernetes ConfigMap the way the image's
// entrypoint assembles it, passes Raftka's own validator; compose services
// have their own volumes and distinct host ports; brokers listen on their
// fixed addresses; Kubernetes objects reference services, config keys,
// ports and volumes that exist; and every metric the dashboard and the alerts
// query is one the sources export.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadRawConfig, resolveConfig } from '../../packages/server/src/config.js';

const root = new URL('../../', import.meta.url).pathname;
const deployDir = join(root, 'deploy');

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, navigated by path; the assertions check the shapes
type Json = Record<string, any>;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** Compose's `${NAME:-default}` with every variable unset. */
function interpolateDefaults(text: string): string {
  return text.replace(/\$\{[A-Z0-9_]+(?::?-([^}]*))?\}/g, (_, def: string | undefined) => def ?? '');
}

function compose(): Json {
  return parse(interpolateDefaults(readFileSync(join(root, 'docker-compose.yml'), 'utf8')), { merge: true }) as Json;
}

/** What docker-entrypoint.sh writes: the config file, then RAFTKA_CFG_<KEY> variables with `_` -> `.`. */
function propertiesFromEnv(env: Record<string, string>, base = ''): string {
  const lines = Object.entries(env)
    .filter(([k]) => k.startsWith('RAFTKA_CFG_'))
    .map(([k, v]) => `${k.slice('RAFTKA_CFG_'.length).toLowerCase().replaceAll('_', '.')}=${v}`);
  return `${base}\n${lines.join('\n')}\n`;
}

function validate(text: string, where: string) {
  try {
    return resolveConfig(loadRawConfig(text, where, []));
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

const RAFTKA_SERVICES = ['controller-1', 'controller-2', 'controller-3', 'broker-101', 'broker-102', 'broker-103'];

describe('deploy files', () => {
  it('every YAML and JSON file parses', () => {
    const files = [...walk(deployDir), join(root, 'docker-compose.yml')].filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      if (file.endsWith('.json')) {
        expect(() => JSON.parse(text), relative(root, file)).not.toThrow();
        continue;
      }
      for (const doc of parseAllDocuments(text)) {
        expect(
          doc.errors.map((e) => e.message),
          relative(root, file),
        ).toEqual([]);
      }
    }
  });

  it('compose: each node config passes the validator; ids, volumes, ports and addresses are consistent', () => {
    const c = compose();
    const services = c.services as Record<string, Json>;
    expect(Object.keys(services)).toEqual(expect.arrayContaining(RAFTKA_SERVICES));
    const ids = new Set<number>();
    const volumes = new Map<string, string>();
    const hostPorts = new Map<string, string>();
    const subnet = (c.networks.raftka.ipam.config[0].subnet as string).replace(/\.0\/24$/, '.');
    for (const name of Object.keys(services)) {
      const s = services[name] as Json;
      for (const v of (s.volumes ?? []) as string[]) {
        const source = v.split(':')[0] as string;
        if (source.startsWith('.')) continue; // a bind mount of a file in this repository
        expect(Object.keys(c.volumes), `${name}: volume ${source} is declared`).toContain(source);
        expect(volumes.get(source), `volume ${source} is used by one service`).toBeUndefined();
        volumes.set(source, name);
      }
      for (const p of (s.ports ?? []) as string[]) {
        const host = p.split(':')[0] as string;
        expect(hostPorts.get(host), `host port ${host} of ${name}`).toBeUndefined();
        hostPorts.set(host, name);
      }
    }
    for (const name of RAFTKA_SERVICES) {
      const s = services[name] as Json;
      expect(s.healthcheck?.test, `${name} health check`).toBeDefined();
      expect(s.volumes?.[0], `${name} keeps its data in a named volume`).toMatch(
        /^[a-z0-9-]+-data:\/var\/lib\/raftka$/,
      );
      const config = validate(propertiesFromEnv(s.environment as Record<string, string>), `compose ${name}`);
      expect(ids.has(config.nodeId), `node.id ${config.nodeId} is unique`).toBe(false);
      ids.add(config.nodeId);
      expect(name).toBe(`${config.roles[0]}-${config.nodeId}`);
      expect(config.metricsPort).toBe(9308);
      expect(
        (s.ports as string[]).some((p) => p.endsWith(':9308')),
        `${name} publishes /metrics`,
      ).toBe(true);
      if (config.roles.includes('broker')) {
        // A broker registers its listener's host: its fixed address on the compose network.
        const ip = s.networks.raftka.ipv4_address as string;
        expect(ip.startsWith(subnet)).toBe(true);
        expect(config.brokerListener).toEqual({ host: ip, port: 9092 });
        expect(config.metricsHost).toBe('0.0.0.0');
        expect(
          (s.ports as string[]).some((p) => p.endsWith(':9092')),
          `${name} publishes its client port`,
        ).toBe(true);
        expect(Object.keys(s.depends_on ?? {})).toEqual(['controller-1', 'controller-2', 'controller-3']);
      } else {
        // Voters are given by their fixed addresses (no DNS on the way, see the compose file).
        expect(config.voters.map((v) => `${v.nodeId}@${v.host}:${v.port}`)).toContain(
          `${config.nodeId}@${s.networks.raftka.ipv4_address}:${config.listenPort}`,
        );
      }
    }
    // Monitoring only with its profile, and Prometheus scrapes exactly the Raftka services.
    expect(services.prometheus?.profiles).toEqual(['monitoring']);
    expect(services.grafana?.profiles).toEqual(['monitoring']);
    const prometheus = parse(readFileSync(join(deployDir, 'prometheus/prometheus.yml'), 'utf8')) as Json;
    const targets = (prometheus.scrape_configs as Json[]).flatMap((j) => j.static_configs[0].targets as string[]);
    expect(targets.sort()).toEqual(RAFTKA_SERVICES.map((s) => `${s}:9308`).sort());
  });

  it('docker-entrypoint.sh assembles the file, node.id from the ordinal and RAFTKA_CFG_ variables', () => {
    const home = mkdtempSync(join(tmpdir(), 'raftka-entrypoint-'));
    try {
      // A stand-in CLI that prints what it was started with.
      mkdirSync(join(home, 'packages/server/dist'), { recursive: true });
      writeFileSync(
        join(home, 'packages/server/dist/cli.js'),
        "const fs = require('node:fs'); const i = process.argv.indexOf('--config');\n" +
          "process.stdout.write(JSON.stringify({ args: process.argv.slice(2), file: fs.readFileSync(process.argv[i + 1], 'utf8') }));\n",
      );
      writeFileSync(join(home, 'package.json'), '{"type":"commonjs"}');
      writeFileSync(join(home, 'base.properties'), 'process.roles=broker\nlog.level=warn\n');
      const out = execFileSync('sh', [join(deployDir, 'docker/docker-entrypoint.sh'), 'broker', '--override', 'x=y'], {
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          HOSTNAME: 'raftka-broker-2',
          RAFTKA_HOME: home,
          RAFTKA_NODE_CONFIG: join(home, 'run/node.properties'),
          RAFTKA_CONFIG_FILE: join(home, 'base.properties'),
          RAFTKA_NODE_ID_OFFSET: '101',
          RAFTKA_CFG_LOG_LEVEL: 'debug',
          RAFTKA_CFG_CONTROLLER_QUORUM_VOTERS: '1@c-0:9093',
        },
      });
      const { args, file } = JSON.parse(out) as { args: string[]; file: string };
      expect(args).toEqual(['broker', '--config', join(home, 'run/node.properties'), '--override', 'x=y']);
      const raw = loadRawConfig(file, 'entrypoint', []);
      expect(raw.get('node.id')).toBe('103');
      expect(raw.get('process.roles')).toBe('broker');
      expect(raw.get('log.level')).toBe('debug'); // the variable wins over the file
      expect(raw.get('controller.quorum.voters')).toBe('1@c-0:9093');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('kubernetes: StatefulSets, services, budgets, probes, volumes and config agree', () => {
    const k8s = join(deployDir, 'k8s');
    const kustomization = parse(readFileSync(join(k8s, 'kustomization.yaml'), 'utf8')) as Json;
    const objects = (kustomization.resources as string[]).flatMap((file) =>
      parseAllDocuments(readFileSync(join(k8s, file), 'utf8')).map((d) => d.toJS() as Json),
    );
    const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
    const configMap = byKind('ConfigMap')[0] as Json;
    const sets = byKind('StatefulSet');
    expect(sets.map((s) => s.metadata.name).sort()).toEqual(['raftka-broker', 'raftka-controller']);
    const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    for (const set of sets) {
      const name = set.metadata.name as string;
      const pod = set.spec.template as Json;
      const labels = pod.metadata.labels as Record<string, string>;
      expect(matches(set.spec.selector.matchLabels, labels), `${name} selector`).toBe(true);
      const headless = byKind('Service').find((s) => s.metadata.name === set.spec.serviceName) as Json;
      expect(headless?.spec.clusterIP, `${name}: headless service ${set.spec.serviceName}`).toBe('None');
      expect(headless.spec.publishNotReadyAddresses).toBe(true);
      expect(matches(headless.spec.selector, labels)).toBe(true);
      const pdb = byKind('PodDisruptionBudget').find((p) => matches(p.spec.selector.matchLabels, labels));
      expect(pdb?.spec.maxUnavailable, `${name} disruption budget`).toBe(1);
      expect(set.spec.podManagementPolicy).toBe('Parallel');
      const container = pod.spec.containers[0] as Json;
      const portNames = (container.ports as Json[]).map((p) => p.name);
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        expect(container[probe], `${name} ${probe}`).toBeDefined();
        const port = container[probe].httpGet?.port;
        if (port !== undefined) expect(portNames).toContain(port);
      }
      const volumeNames = [
        ...(pod.spec.volumes as Json[]).map((v) => v.name),
        ...(set.spec.volumeClaimTemplates as Json[]).map((v) => v.metadata.name),
      ];
      for (const m of container.volumeMounts as Json[])
        expect(volumeNames, `${name} mount ${m.name}`).toContain(m.name);
      // The node's config: the ConfigMap file plus the pod's variables, for pod ordinal 0.
      const env = Object.fromEntries(
        (container.env as Json[]).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]),
      ) as Record<string, string>;
      const mount = (container.volumeMounts as Json[]).find((m) => m.name === 'config') as Json;
      const key = (env.RAFTKA_CONFIG_FILE as string).slice(`${mount.mountPath}/`.length);
      expect(Object.keys(configMap.data), `${name} config file ${key}`).toContain(key);
      const podEnv = Object.fromEntries(
        Object.entries(env).map(([k, v]) => [k, v.replace('$(POD_IP)', '10.1.2.3')]),
      ) as Record<string, string>;
      const text = `${propertiesFromEnv(podEnv, configMap.data[key])}node.id=${Number(env.RAFTKA_NODE_ID_OFFSET)}\n`;
      const config = validate(text, `k8s ${name}`);
      expect(config.nodeId).toBe(name === 'raftka-controller' ? 1 : 101);
      for (const v of config.voters) expect(v.host).toBe(`raftka-controller-${v.nodeId - 1}.raftka-controller`);
      expect(set.spec.replicas).toBe(3);
    }
  });

  it('the dashboard is the generator output, and it and the alerts use only exported metrics', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftka-dashboard-'));
    try {
      execFileSync(process.execPath, [join(deployDir, 'grafana/dashboard.mjs'), join(dir, 'raftka.json')]);
      const generated = JSON.parse(readFileSync(join(dir, 'raftka.json'), 'utf8'));
      const committed = JSON.parse(readFileSync(join(deployDir, 'grafana/dashboards/raftka.json'), 'utf8'));
      expect(committed).toEqual(generated);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const sources = walk(join(root, 'packages'))
      .filter((f) => /\/src\/.*\.ts$/.test(f))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const queried = [
      readFileSync(join(deployDir, 'grafana/dashboards/raftka.json'), 'utf8'),
      readFileSync(join(deployDir, 'prometheus/alerts.yml'), 'utf8'),
    ]
      .join('\n')
      .match(/raftka_[a-z_]+/g) as string[];
    const names = new Set(queried);
    expect(names.size).toBeGreaterThan(15);
    // A histogram's series end in _bucket, _sum and _count; a gauge may itself end in _count.
    // prom-client's process metrics (raftka_process_*, raftka_nodejs_*) come with collectProcessMetrics.
    const processMetrics = sources.includes('collectProcessMetrics: true');
    const exported = (n: string) =>
      sources.includes(`'${n}'`) ||
      sources.includes(`'${n.replace(/_(bucket|sum|count)$/, '')}'`) ||
      (processMetrics && /^raftka_(process|nodejs)_/.test(n));
    const missing = [...names].filter((n) => !exported(n));
    expect(missing).toEqual([]);
  });
});
