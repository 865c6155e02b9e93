// Partition log store: segments of RecordBatch v2, sparse offset and time
// indexes, leader-epoch cache, checkpoints, crash recovery, retention and
// compaction. See docs/log-storage.md.
export { type LogBenchOptions, type LogBenchResult, runLogBench } from './bench.js';
export { encodeCheckpoint, fsyncDir, readCheckpoint, writeFileAtomic } from './checkpoint.js';
export {
  type CleanupPolicy,
  DEFAULT_LOG_CONFIG,
  FLUSH_NEVER,
  hasCompact,
  hasDelete,
  LOG_CONFIG_KEYS,
  type LogConfig,
  type LogConfigKey,
  parseLogConfig,
} from './config.js';
export {
  type EpochEndOffset,
  type EpochEntry,
  LEADER_EPOCH_CHECKPOINT,
  LeaderEpochCache,
  UNDEFINED_EPOCH,
  UNDEFINED_EPOCH_OFFSET,
} from './epoch-cache.js';
export { UnexpectedAppendOffsetError } from './errors.js';
export { DEFAULT_MAX_OPEN_FILES, FileHandleCache, sharedFileHandleCache } from './fd-cache.js';
export {
  type AppendInfo,
  CLEAN_SHUTDOWN_FILE,
  type CompactionResult,
  type DeletionResult,
  EARLIEST_TIMESTAMP,
  LATEST_TIMESTAMP,
  type LogOptions,
  type LogReadResult,
  PARTITION_STATE_CHECKPOINT,
  PartitionLog,
  type ReadOptions,
  type RecoveryReport,
  type SegmentInfo,
  type TimestampOffset,
} from './log.js';
export { segmentFileStem } from './segment.js';
