// pino logger factory and prom-client metrics registry with an HTTP /metrics endpoint.

export type { Counter, Gauge, Histogram, Registry } from 'prom-client';
export { createLogger, type Logger, type LoggerOptions, type LogLevel, silentLogger } from './logger.js';
export {
  LATENCY_BUCKETS_SECONDS,
  Metrics,
  type MetricsOptions,
  type MetricsServer,
  startMetricsServer,
} from './metrics.js';
