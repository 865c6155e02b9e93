// `raftka controller`: run one controller node until SIGTERM/SIGINT. The
// first signal shuts down gracefully (a leader resigns with EndQuorumEpoch so
// the quorum fails over in about one round trip); a second one exits at once.
import { readFileSync } from 'node:fs';
import { startControllerNode } from '@raftka/controller';
import { createLogger, type LogLevel } from '@raftka/observability';
import { loadRawConfig, type NodeConfig, raftSettings, resolveConfig } from '../config.js';
import { ensureMetaProperties } from '../meta-properties.js';
import { exitOnSignals } from '../signals.js';

export interface NodeCommandOptions {
  config?: string;
  override: string[];
}

export function readNodeConfig(options: NodeCommandOptions): NodeConfig {
  const text = options.config === undefined ? null : readFileSync(options.config, 'utf8');
  return resolveConfig(loadRawConfig(text, options.config ?? '(flags)', options.override));
}

export async function runController(options: NodeCommandOptions): Promise<void> {
  const config = readNodeConfig(options);
  if (config.roles.includes('broker')) {
    // One process for both roles (or a broker alone): the broker command runs it.
    const { runBroker } = await import('./broker.js');
    await runBroker(options);
    return;
  }
  const logger = createLogger({ nodeId: config.nodeId, role: 'controller', level: config.logLevel as LogLevel });
  const meta = ensureMetaProperties(config.metadataLogDir, config.clusterId, config.nodeId);
  logger.info({ config: config.effective, metaProperties: meta }, 'starting controller');
  const node = await startControllerNode({
    nodeId: config.nodeId,
    clusterId: config.clusterId,
    voters: config.voters,
    listenHost: config.listenHost,
    listenPort: config.listenPort,
    metadataLogDir: config.metadataLogDir,
    metricsPort: config.metricsPort,
    raft: raftSettings(config),
    appendLingerMs: config.appendLingerMs,
    snapshotMaxBytesBetween: config.snapshotMaxBytesBetween,
    logger,
    stateMachine: config.controllerStateMachine,
    brokerSessionTimeoutMs: config.brokerSessionTimeoutMs,
    maxIdleIntervalMs: config.metadataMaxIdleIntervalMs,
    clusterDefaults: config.clusterDefaults,
  });
  logger.info({ port: node.port, metricsPort: node.metricsPort }, 'controller listening');

  exitOnSignals(logger, async () => {
    await node.shutdown();
    return undefined;
  });
}
