// Level-backed storage for the metadata Raft log, quorum state and snapshots.
export { CorruptStateError, FORMAT_VERSION } from './framing.js';
export {
  INITIAL_QUORUM_STATE,
  type PersistableReady,
  RaftStorage,
  SNAPSHOT_CHUNK_BYTES,
  type StorageIdentity,
} from './raft-storage.js';
