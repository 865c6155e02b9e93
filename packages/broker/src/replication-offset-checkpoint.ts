// The broker's replication-offset-checkpoint: the high watermark of every
// replica in a log directory, in one file, as Kafka keeps it. Writing one file
// per checkpoint interval instead of one per partition matters: with a
// thousand partitions, a rename per partition every 5 s cost a broker several
// seconds of CPU a minute (ext4 flushes the data of a file renamed over
// another), in the same event loop that serves fetches.
//
// The file is rewritten atomically (temp file, rename) without fsync, like the
// checkpoint it replaces: after a crash it holds an older HW, which is only a
// lower bound anyway, or nothing the CRC accepts, and each log then starts
// from the HW in its own durable state file. Lines are keyed by directory
// name and topic id, so a topic deleted and re-created under the same name
// never inherits the old HW.
import { join } from 'node:path';
import { encodeCheckpoint, readCheckpoint, writeFileAtomic } from '@raftka/log';

export const REPLICATION_OFFSET_CHECKPOINT = 'replication-offset-checkpoint';
const KIND = 'raftka-replication-offsets';
const VERSION = 1;

export interface CheckpointedHighWatermark {
  /** The partition directory's name, `<topic>-<partition>`. */
  dirName: string;
  topicId: string;
  highWatermark: number;
}

/** Reads the log directory's checkpoint, by directory name; empty when there is none. Throws CORRUPT_STATE. */
export function readReplicationOffsets(logDir: string): Map<string, CheckpointedHighWatermark> {
  const out = new Map<string, CheckpointedHighWatermark>();
  const path = join(logDir, REPLICATION_OFFSET_CHECKPOINT);
  const lines = readCheckpoint(path, KIND, VERSION) ?? [];
  for (const line of lines) {
    const [dirName, topicId, hw, extra] = line.split(' ');
    // The CRC passed, so a malformed line is a bug of ours; drop it rather than the whole file.
    if (dirName === undefined || topicId === undefined || hw === undefined || extra !== undefined) continue;
    if (!/^\d+$/.test(hw)) continue;
    out.set(dirName, { dirName, topicId, highWatermark: Number(hw) });
  }
  return out;
}

export function writeReplicationOffsets(logDir: string, entries: Iterable<CheckpointedHighWatermark>): void {
  const lines: string[] = [];
  for (const e of entries) lines.push(`${e.dirName} ${e.topicId} ${e.highWatermark}`);
  writeFileAtomic(join(logDir, REPLICATION_OFFSET_CHECKPOINT), encodeCheckpoint(KIND, VERSION, lines), {
    durable: false,
  });
}
