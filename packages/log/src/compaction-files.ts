// The file protocol that makes compaction crash-safe. Cleaned copies of the
// sealed segments are written as `<base>.log.cleaned` and fsynced; then every
// one is renamed to `<base>.log.swap` and the directory fsynced (the commit
// point); then each old segment's indexes are deleted and its `.swap` renamed
// over `<base>.log`. On open, before segments are loaded:
//   - any `.cleaned` file left means the commit point was not reached: delete
//     every `.cleaned` and `.swap` (roll back; the old segments are intact);
//   - only `.swap` files left means it was: finish the renames (roll forward).
// Either way the log is the old segment set or the new one, never a mix,
// which matters because a cleaned segment may have dropped a key's tombstone
// only because the cleaned copy of an earlier segment dropped its value.
import { readdirSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir } from './checkpoint.js';
import { INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX } from './segment.js';

export const CLEANED_SUFFIX = '.cleaned';
export const SWAP_SUFFIX = '.swap';

export type InterruptedCompaction = 'none' | 'rolled-back' | 'completed';

export function unlinkIfExists(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Replaces `<stem>.log` by `<stem>.log.swap`, dropping the old indexes first so they are rebuilt. */
export function installSwap(dir: string, stem: string): void {
  unlinkIfExists(join(dir, `${stem}${INDEX_FILE_SUFFIX}`));
  unlinkIfExists(join(dir, `${stem}${TIME_INDEX_FILE_SUFFIX}`));
  renameSync(join(dir, `${stem}${LOG_FILE_SUFFIX}${SWAP_SUFFIX}`), join(dir, `${stem}${LOG_FILE_SUFFIX}`));
}

export function recoverInterruptedCompaction(dir: string): { outcome: InterruptedCompaction; stems: string[] } {
  const names = readdirSync(dir);
  const cleaned = names.filter((n) => n.endsWith(`${LOG_FILE_SUFFIX}${CLEANED_SUFFIX}`));
  const swaps = names.filter((n) => n.endsWith(`${LOG_FILE_SUFFIX}${SWAP_SUFFIX}`));
  const stemOf = (n: string, suffix: string) => n.slice(0, -(LOG_FILE_SUFFIX.length + suffix.length));
  if (cleaned.length > 0) {
    for (const n of [...cleaned, ...swaps]) unlinkIfExists(join(dir, n));
    fsyncDir(dir);
    return { outcome: 'rolled-back', stems: cleaned.map((n) => stemOf(n, CLEANED_SUFFIX)) };
  }
  if (swaps.length > 0) {
    const stems = swaps.map((n) => stemOf(n, SWAP_SUFFIX));
    for (const stem of stems) installSwap(dir, stem);
    fsyncDir(dir);
    return { outcome: 'completed', stems };
  }
  return { outcome: 'none', stems: [] };
}
