// Sans-IO partition replication: the leader's ISR/HW/purgatory state, fetch
// validation, the follower's fetch and truncation decisions, and idempotent
// producer state. The broker's data path drives these with its IO.
export {
  CONSUMER_REPLICA_ID,
  checkCurrentLeaderEpoch,
  type EpochEndOffset,
  type FetchDecision,
  type FetchPartitionRequest,
  type LeaderLogView,
  UNDEFINED_EPOCH,
  UNDEFINED_EPOCH_OFFSET,
  validateLeaderFetch,
} from './fetch.js';
export {
  type FollowerDecision,
  type FollowerFetchRequest,
  type FollowerFetchResponse,
  type FollowerLogView,
  FollowerPartitionState,
} from './follower.js';
export {
  type AlterPartitionRequest,
  type AlterPartitionResponse,
  DEFAULT_REPLICA_LAG_TIME_MAX_MS,
  type FollowerProgress,
  type IsEligible,
  type LeaderEffects,
  type LeaderPartitionConfig,
  LeaderPartitionState,
  UNKNOWN_OFFSET,
} from './leader.js';
export {
  type BatchMetadata,
  INT32_MAX,
  incrementSequence,
  lastSequenceOf,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  PRODUCER_BATCHES_RETAINED,
  type ProducerBatchHeader,
  type ProducerCheck,
  type ProducerEntry,
  ProducerStateManager,
  type ProducerStateSnapshot,
} from './producer-state.js';
export { type DelayedProduce, type ProduceCompletion, ProducePurgatory } from './purgatory.js';
