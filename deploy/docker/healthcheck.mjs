// Container health of a Raftka node, for Docker's HEALTHCHECK and Kubernetes
// probes: exit 0 healthy, 1 not (with one line saying why).
//
//   node healthcheck.mjs          ready: a broker is RUNNING (registered,
//                                 caught up, unfenced: it may lead partitions
//                                 and join ISRs); a controller knows the
//                                 active controller (the quorum has a leader)
//   node healthcheck.mjs --live   alive: the node answers on /metrics (or,
//                                 without metrics.port, accepts a TCP
//                                 connection on its listener)
//
// It reads the properties file docker-entrypoint.sh wrote (RAFTKA_NODE_CONFIG)
// and the node's own Prometheus endpoint, so it needs no gRPC client and
// starts in well under the probe timeout. Plain JavaScript with node: imports
// only: it runs from the image, outside the workspace's build.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';

const TIMEOUT_MS = 8000;
const BROKER_STATE_RUNNING = 3;
const live = process.argv.includes('--live');

function fail(reason) {
  process.stdout.write(`unhealthy: ${reason}\n`);
  process.exit(1);
}

function readProperties(file) {
  const props = new Map();
  for (const raw of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line);
    if (m) props.set(m[1], m[2].trim());
  }
  return props;
}

function getMetrics(host, port) {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/metrics', timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics answered ${res.statusCode}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`/metrics did not answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function tcpConnect(host, port) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: TIMEOUT_MS });
    socket.on('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.on('timeout', () => socket.destroy(new Error(`no TCP answer within ${TIMEOUT_MS} ms`)));
    socket.on('error', reject);
  });
}

/** First sample of a metric (any labels), or NaN. */
function sample(text, name) {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

const localHost = (host) => (host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host);

async function main() {
  const file = process.env.RAFTKA_NODE_CONFIG ?? '/tmp/raftka/node.properties';
  let props;
  try {
    props = readProperties(file);
  } catch (err) {
    fail(`cannot read ${file}: ${err.message}`);
  }
  const roles = (props.get('process.roles') ?? '').split(',').map((r) => r.trim());
  const isBroker = roles.includes('broker');
  const metricsPort = props.get('metrics.port');
  if (metricsPort === undefined || metricsPort === '' || metricsPort === '0') {
    // Without a fixed metrics port only liveness can be told: the listener accepts connections.
    const listeners = props.get('listeners') ?? '';
    const want = isBroker ? 'PLAINTEXT' : 'CONTROLLER';
    const m = new RegExp(`${want}://(\\[[^\\]]+\\]|[^:,]*):(\\d+)`).exec(listeners);
    if (!m) fail(`no metrics.port and no ${want} listener in ${file}`);
    await tcpConnect(localHost(m[1].replace(/^\[|\]$/g, '')), Number(m[2])).catch((err) =>
      fail(`${want} listener: ${err.message}`),
    );
    process.stdout.write(`healthy: ${want} listener accepts connections (no metrics.port, readiness not checked)\n`);
    return;
  }
  // A broker binds /metrics to metrics.host; a controller to its listener's host.
  const host = isBroker
    ? localHost(props.get('metrics.host') ?? '127.0.0.1')
    : localHost(/CONTROLLER:\/\/([^:,]*):/.exec(props.get('listeners') ?? '')?.[1] ?? '0.0.0.0');
  let text;
  try {
    text = await getMetrics(host, Number(metricsPort));
  } catch (err) {
    fail(`http://${host}:${metricsPort}/metrics: ${err.message}`);
  }
  if (live) {
    process.stdout.write('healthy: /metrics answers\n');
    return;
  }
  if (isBroker) {
    const state = sample(text, 'raftka_broker_state');
    if (state !== BROKER_STATE_RUNNING) fail(`broker state ${state} (RUNNING is ${BROKER_STATE_RUNNING})`);
    process.stdout.write('healthy: broker RUNNING (unfenced)\n');
    return;
  }
  const leader = sample(text, 'raftka_raft_current_leader');
  if (!(leader >= 0)) fail('no known active controller (the quorum has no leader)');
  process.stdout.write(`healthy: active controller is ${leader}\n`);
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
