// `raftka broker`: run one broker node until SIGTERM/SIGINT. The broker
// follows the metadata log as a Raft observer, registers with the active
// controller and heartbeats to it. The first signal starts a controlled
// shutdown (leadership moves off this broker before it exits 0); a second
// one exits at once. A broker that cannot register within
// initial.broker.registration.timeout.ms exits 1 with the reason.
import { type BrokerNode, startBrokerNode } from '@raftka/broker';
import { createLogger, type LogLevel } from '@raftka/observability';
import type { NodeConfig } from '../config.js';
import { ensureMetaProperties } from '../meta-properties.js';
import { type NodeCommandOptions, readNodeConfig } from './controller.js';

export async function runBroker(options: NodeCommandOptions): Promise<void> {
  const config = readNodeConfig(options);
  if (!config.roles.includes('broker')) {
    throw new Error(`process.roles=${config.roles.join(',')} has no broker role; use \`raftka controller\``);
  }
  if (config.roles.includes('controller')) {
    throw new Error(
      'process.roles=broker,controller is not available from `raftka broker` yet; run the controller and the broker as separate processes',
    );
  }
  const logger = createLogger({ nodeId: config.nodeId, role: 'broker', level: config.logLevel as LogLevel });
  const meta = ensureMetaProperties(config.metadataLogDir, config.clusterId, config.nodeId);
  logger.info({ config: config.effective, metaProperties: meta }, 'starting broker');
  const node = await startBroker(config, logger);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting without a controlled shutdown');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down (controlled)');
    node.shutdown().then(
      ({ controlled }) => {
        logger.info({ controlled }, 'broker exiting');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export function startBroker(config: NodeConfig, logger: ReturnType<typeof createLogger>): Promise<BrokerNode> {
  const listener = config.brokerListener;
  if (listener === null) throw new Error('a broker needs a PLAINTEXT listener');
  return startBrokerNode({
    nodeId: config.nodeId,
    clusterId: config.clusterId,
    voters: config.voters,
    listenHost: listener.host,
    listenPort: listener.port,
    rack: config.brokerRack,
    metadataLogDir: config.metadataLogDir,
    raft: {
      electionTimeoutMs: config.electionTimeoutMs,
      electionBackoffMaxMs: config.electionBackoffMaxMs,
      fetchTimeoutMs: config.fetchTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      fetchMaxWaitMs: config.fetchMaxWaitMs,
      fetchMaxBytes: config.fetchMaxBytes,
      snapshotChunkBytes: config.snapshotChunkBytes,
    },
    snapshotMaxBytesBetween: config.snapshotMaxBytesBetween,
    heartbeatIntervalMs: config.brokerHeartbeatIntervalMs,
    sessionTimeoutMs: config.brokerSessionTimeoutMs,
    initialRegistrationTimeoutMs: config.initialBrokerRegistrationTimeoutMs,
    metricsPort: config.metricsPort,
    metricsHost: config.metricsHost,
    logger,
    onFatalError: (err) => {
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`raftka broker ${config.nodeId}: ${message}\n`);
      // Let pino flush the fatal line first.
      setTimeout(() => process.exit(1), 50);
    },
  });
}
