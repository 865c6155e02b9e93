// A process-wide LRU of open file descriptors, shared by every partition log.
// A broker with 10,000 partitions has at least 30,000 segment and index files;
// keeping them all open would exceed the default fd limit, so files are opened
// lazily ('r+', positional reads and writes) and the least recently used
// descriptor is closed when the cache is full. Closing a descriptor loses no
// data: written bytes live in the page cache and a later fsync through a new
// descriptor flushes the same inode.
//
// The log API is synchronous, so a descriptor returned by fd() stays valid
// until the next fd() call on the same cache; callers fetch it right before
// each system call and never keep it.
import { closeSync, openSync } from 'node:fs';
import { assert } from '@raftka/common';

export const DEFAULT_MAX_OPEN_FILES = 1000;

export class FileHandleCache {
  readonly maxOpenFiles: number;
  // Map iteration order is insertion order: the first key is the LRU entry.
  private readonly open = new Map<string, number>();
  private opens = 0;
  private evictions = 0;

  constructor(maxOpenFiles = DEFAULT_MAX_OPEN_FILES) {
    assert(Number.isInteger(maxOpenFiles) && maxOpenFiles >= 1, 'maxOpenFiles must be a positive integer');
    this.maxOpenFiles = maxOpenFiles;
  }

  /** Descriptor of an existing file opened read-write; valid until the next fd() call. */
  fd(path: string): number {
    const cached = this.open.get(path);
    if (cached !== undefined) {
      this.open.delete(path);
      this.open.set(path, cached);
      return cached;
    }
    while (this.open.size >= this.maxOpenFiles) {
      const [lruPath, lruFd] = this.open.entries().next().value as [string, number];
      this.open.delete(lruPath);
      closeSync(lruFd);
      this.evictions++;
    }
    const fd = openSync(path, 'r+');
    this.opens++;
    this.open.set(path, fd);
    return fd;
  }

  /** Closes the descriptor of `path` if open: required before renaming, deleting or replacing the file. */
  close(path: string): void {
    const fd = this.open.get(path);
    if (fd === undefined) return;
    this.open.delete(path);
    closeSync(fd);
  }

  /** Closes every descriptor whose path starts with `prefix` (a partition directory). */
  closeUnder(prefix: string): void {
    for (const path of [...this.open.keys()]) if (path.startsWith(prefix)) this.close(path);
  }

  closeAll(): void {
    for (const path of [...this.open.keys()]) this.close(path);
  }

  get openCount(): number {
    return this.open.size;
  }

  stats(): { open: number; opens: number; evictions: number; maxOpenFiles: number } {
    return { open: this.open.size, opens: this.opens, evictions: this.evictions, maxOpenFiles: this.maxOpenFiles };
  }
}

let shared: FileHandleCache | undefined;

/** The process-wide cache used when a log is opened without its own. */
export function sharedFileHandleCache(): FileHandleCache {
  shared ??= new FileHandleCache();
  return shared;
}
