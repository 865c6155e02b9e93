// Logger factory. Every line is pino JSON carrying the node id and the process
// role, so the interleaved output of a local cluster (or of several nodes in
// one test process) can be split by node with a `jq` filter. Components and
// topic-partitions get child loggers that add their own bindings.
import { type DestinationStream, type Logger as PinoLogger, pino } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerOptions {
  nodeId: number;
  /** The process role (`controller`, `broker`, `controller,broker`), Kafka's `process.roles`. */
  role: string;
  level: LogLevel;
  /** Where lines go; stdout (synchronous writes, so a crash loses no line) when absent. Tests pass a sink. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const pinoOptions = {
    level: options.level,
    base: { nodeId: options.nodeId, role: options.role, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      // Level names instead of numbers: operators grep for "warn", not 40.
      level: (label: string) => ({ level: label }),
    },
  };
  return options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
}

/** A logger that drops everything, for callers that were given none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
