// `raftka broker`: run one broker node until SIGTERM/SIGINT. The broker
// follows the metadata log as a Raft observer, registers with the active
// controller and heartbeats to it. The first signal starts a controlled
// shutdown (leadership moves off this broker before it exits 0); a second
// one exits at once. A broker that cannot register within
// initial.broker.registration.timeout.ms exits 1 with the reason.
//
// With process.roles=broker,controller the node is a voter running both
// roles in one process (startCombinedNode): the broker part shuts down in a
// controlled way first, then the controller resigns.
import {
  type BrokerNode,
  type BrokerNodeConfig,
  type CombinedNode,
  startBrokerNode,
  startCombinedNode,
} from '@raftka/broker';
import { createLogger, type Logger, type LogLevel } from '@raftka/observability';
import { type NodeConfig, raftSettings } from '../config.js';
import { ensureMetaProperties } from '../meta-properties.js';
import { exitOnSignals } from '../signals.js';
import { type NodeCommandOptions, readNodeConfig } from './controller.js';

export async function runBroker(options: NodeCommandOptions): Promise<void> {
  const config = readNodeConfig(options);
  if (!config.roles.includes('broker')) {
    throw new Error(`process.roles=${config.roles.join(',')} has no broker role; use \`raftka controller\``);
  }
  const combined = config.roles.includes('controller');
  const role = combined ? 'broker,controller' : 'broker';
  const logger = createLogger({ nodeId: config.nodeId, role, level: config.logLevel as LogLevel });
  const meta = ensureMetaProperties(config.metadataLogDir, config.clusterId, config.nodeId);
  logger.info({ config: config.effective, metaProperties: meta }, `starting ${role} node`);
  const node: BrokerNode | CombinedNode = combined
    ? await startCombined(config, logger)
    : await startBroker(config, logger);

  exitOnSignals(logger, async () => ({ controlled: (await node.shutdown()).controlled }));
}

export function startBroker(config: NodeConfig, logger: Logger): Promise<BrokerNode> {
  return startBrokerNode(brokerNodeConfig(config, logger));
}

export function startCombined(config: NodeConfig, logger: Logger): Promise<CombinedNode> {
  if (config.controllerStateMachine !== 'metadata') {
    throw new Error('process.roles=broker,controller needs controller.state.machine=metadata');
  }
  return startCombinedNode({
    ...brokerNodeConfig(config, logger),
    controllerHost: config.listenHost,
    controllerPort: config.listenPort,
    appendLingerMs: config.appendLingerMs,
    maxIdleIntervalMs: config.metadataMaxIdleIntervalMs,
    clusterDefaults: config.clusterDefaults,
  });
}

function brokerNodeConfig(config: NodeConfig, logger: Logger): BrokerNodeConfig {
  const listener = config.brokerListener;
  if (listener === null) throw new Error('a broker needs a PLAINTEXT listener');
  return {
    nodeId: config.nodeId,
    clusterId: config.clusterId,
    voters: config.voters,
    listenHost: listener.host,
    listenPort: listener.port,
    ...(config.advertisedListener !== null
      ? { advertisedHost: config.advertisedListener.host, advertisedPort: config.advertisedListener.port }
      : {}),
    rack: config.brokerRack,
    metadataLogDir: config.metadataLogDir,
    raft: raftSettings(config),
    snapshotMaxBytesBetween: config.snapshotMaxBytesBetween,
    heartbeatIntervalMs: config.brokerHeartbeatIntervalMs,
    sessionTimeoutMs: config.brokerSessionTimeoutMs,
    initialRegistrationTimeoutMs: config.initialBrokerRegistrationTimeoutMs,
    metricsPort: config.metricsPort,
    metricsHost: config.metricsHost,
    dataPlane: {
      logDir: config.logDir,
      replicaLagTimeMaxMs: config.replicaLagTimeMaxMs,
      replicaFetchWaitMaxMs: config.replicaFetchWaitMaxMs,
      replicaFetchMinBytes: config.replicaFetchMinBytes,
      replicaFetchMaxBytes: config.replicaFetchMaxBytes,
      replicaFetchResponseMaxBytes: config.replicaFetchResponseMaxBytes,
      replicaFetchBackoffMs: config.replicaFetchBackoffMs,
      requestTimeoutMs: config.replicaSocketTimeoutMs,
      highWatermarkCheckpointIntervalMs: config.highWatermarkCheckpointIntervalMs,
      retentionCheckIntervalMs: config.retentionCheckIntervalMs,
      producerIdExpirationMs: config.producerIdExpirationMs,
      producerIdExpirationCheckIntervalMs: config.producerIdExpirationCheckIntervalMs,
    },
    logger,
    onFatalError: (err) => {
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`raftka broker ${config.nodeId}: ${message}\n`);
      // Let pino flush the fatal line first.
      setTimeout(() => process.exit(1), 50);
    },
  };
}
