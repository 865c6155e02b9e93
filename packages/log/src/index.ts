// Partition log store: segments of RecordBatch v2, indexes, checkpoints, recovery, retention, compaction.
export {};
