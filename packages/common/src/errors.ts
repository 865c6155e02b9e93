// The error catalog. Operational failures carry Kafka's numeric error code
// where Kafka has one (so Kafka users recognise them and clients can decide
// whether to retry), a stable name, and a `retriable` flag. Raftka-only
// conditions use codes at or above 10000 so they never collide with Kafka's.
// Transports map these to their own status only at the edge.

export const ErrorCodes = {
  UNKNOWN_SERVER_ERROR: { code: -1, retriable: false },
  NONE: { code: 0, retriable: false },
  OFFSET_OUT_OF_RANGE: { code: 1, retriable: false },
  CORRUPT_MESSAGE: { code: 2, retriable: true },
  UNKNOWN_TOPIC_OR_PARTITION: { code: 3, retriable: true },
  INVALID_FETCH_SIZE: { code: 4, retriable: false },
  LEADER_NOT_AVAILABLE: { code: 5, retriable: true },
  NOT_LEADER_OR_FOLLOWER: { code: 6, retriable: true },
  REQUEST_TIMED_OUT: { code: 7, retriable: true },
  BROKER_NOT_AVAILABLE: { code: 8, retriable: false },
  REPLICA_NOT_AVAILABLE: { code: 9, retriable: true },
  MESSAGE_TOO_LARGE: { code: 10, retriable: false },
  NETWORK_EXCEPTION: { code: 13, retriable: true },
  INVALID_TOPIC_EXCEPTION: { code: 17, retriable: false },
  RECORD_LIST_TOO_LARGE: { code: 18, retriable: false },
  NOT_ENOUGH_REPLICAS: { code: 19, retriable: true },
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: { code: 20, retriable: true },
  INVALID_REQUIRED_ACKS: { code: 21, retriable: false },
  INVALID_TIMESTAMP: { code: 32, retriable: false },
  UNSUPPORTED_VERSION: { code: 35, retriable: false },
  TOPIC_ALREADY_EXISTS: { code: 36, retriable: false },
  INVALID_PARTITIONS: { code: 37, retriable: false },
  INVALID_REPLICATION_FACTOR: { code: 38, retriable: false },
  INVALID_REPLICA_ASSIGNMENT: { code: 39, retriable: false },
  INVALID_CONFIG: { code: 40, retriable: false },
  NOT_CONTROLLER: { code: 41, retriable: true },
  INVALID_REQUEST: { code: 42, retriable: false },
  UNSUPPORTED_FOR_MESSAGE_FORMAT: { code: 43, retriable: false },
  POLICY_VIOLATION: { code: 44, retriable: false },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { code: 45, retriable: false },
  DUPLICATE_SEQUENCE_NUMBER: { code: 46, retriable: false },
  INVALID_PRODUCER_EPOCH: { code: 47, retriable: false },
  CLUSTER_AUTHORIZATION_FAILED: { code: 31, retriable: false },
  UNKNOWN_PRODUCER_ID: { code: 59, retriable: false },
  KAFKA_STORAGE_ERROR: { code: 56, retriable: true },
  LOG_DIR_NOT_FOUND: { code: 57, retriable: false },
  INVALID_CLUSTER_ID: { code: 104, retriable: false },
  FENCED_LEADER_EPOCH: { code: 74, retriable: true },
  UNKNOWN_LEADER_EPOCH: { code: 75, retriable: true },
  UNSUPPORTED_COMPRESSION_TYPE: { code: 76, retriable: false },
  STALE_BROKER_EPOCH: { code: 77, retriable: false },
  OFFSET_NOT_AVAILABLE: { code: 78, retriable: true },
  PREFERRED_LEADER_NOT_AVAILABLE: { code: 80, retriable: true },
  ELIGIBLE_LEADERS_NOT_AVAILABLE: { code: 83, retriable: true },
  ELECTION_NOT_NEEDED: { code: 84, retriable: false },
  INVALID_RECORD: { code: 87, retriable: false },
  FENCED_INSTANCE_ID: { code: 82, retriable: false },
  THROTTLING_QUOTA_EXCEEDED: { code: 89, retriable: true },
  INCONSISTENT_VOTER_SET: { code: 94, retriable: false },
  INVALID_UPDATE_VERSION: { code: 95, retriable: false },
  DUPLICATE_BROKER_REGISTRATION: { code: 101, retriable: false },
  BROKER_ID_NOT_REGISTERED: { code: 102, retriable: false },
  INCONSISTENT_TOPIC_ID: { code: 103, retriable: true },
  INELIGIBLE_REPLICA: { code: 107, retriable: false },
  NEW_LEADER_ELECTED: { code: 108, retriable: false },
  // Raftka-only conditions.
  INVALID_CONFIGURATION_FILE: { code: 10000, retriable: false },
  CORRUPT_STATE: { code: 10001, retriable: false },
  SHUTTING_DOWN: { code: 10002, retriable: true },
} as const;

export type ErrorName = keyof typeof ErrorCodes;

const RAFTKA_ERROR = Symbol.for('raftka.error');

/** An operational failure with a Kafka-style code. */
export class RaftkaError extends Error {
  readonly [RAFTKA_ERROR] = true;
  readonly errorName: ErrorName;
  readonly code: number;
  readonly retriable: boolean;

  constructor(errorName: ErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = `RaftkaError(${errorName})`;
    this.errorName = errorName;
    this.code = ErrorCodes[errorName].code;
    this.retriable = ErrorCodes[errorName].retriable;
  }
}

/** Brand check that works across duplicate copies of this package. */
export function isRaftkaError(value: unknown): value is RaftkaError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RAFTKA_ERROR] === true;
}

const byCode = new Map<number, ErrorName>(
  (Object.keys(ErrorCodes) as ErrorName[]).map((name) => [ErrorCodes[name].code, name]),
);

export function errorNameOf(code: number): ErrorName {
  return byCode.get(code) ?? 'UNKNOWN_SERVER_ERROR';
}
