// How a node process ends: the first SIGTERM/SIGINT runs the node's graceful
// shutdown (a leader resigns, a broker shuts down in a controlled way) and
// exits 0, or 1 if that failed; a second signal exits at once, for an
// operator who does not want to wait.
import type { Logger } from '@raftka/observability';

export function exitOnSignals(logger: Logger, shutdown: () => Promise<Record<string, unknown> | undefined>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting without a graceful shutdown');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    shutdown().then(
      (details) => {
        logger.info(details ?? {}, 'stopped');
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
