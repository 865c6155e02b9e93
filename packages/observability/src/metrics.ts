// Metrics on a prom-client Registry owned by one node. Never the global
// registry: tests and the local cluster run several nodes in one process and
// each must expose its own figures. Names follow Kafka's (raft-metrics,
// KafkaController, ReplicaManager) with a `raftka_` prefix and Prometheus
// units (`_seconds`, `_total`).
import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsOptions {
  /** Added to every series, e.g. `{ node_id: '1' }`. */
  defaultLabels?: Record<string, string>;
  /** Process metrics (heap, event loop lag, GC); once per process is enough. */
  collectProcessMetrics?: boolean;
}

export class Metrics {
  readonly registry: Registry;

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    if (options.defaultLabels) this.registry.setDefaultLabels(options.defaultLabels);
    if (options.collectProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'raftka_' });
  }

  gauge<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
  }

  counter<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string = string>(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly L[] = [],
  ): Histogram<L> {
    return new Histogram<L>({ name, help, buckets: [...buckets], labelNames, registers: [this.registry] });
  }

  /** The Prometheus text exposition of every series in this registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Latency buckets in seconds, from 0.5 ms (an fsync here) to 10 s (a slow election). */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export interface MetricsServer {
  /** The bound port (useful when asked for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` from `registry` on node:http; 404 for anything else. */
export async function startMetricsServer(registry: Registry, port: number, host = '0.0.0.0'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  // A scrape connection must not keep the process alive at shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  return {
    port: boundPort,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
