// The edge between Raftka's error catalog (Kafka's codes) and gRPC statuses.
// This is the only file that maps one onto the other.
//
// A failed call is a non-OK gRPC status chosen from the Kafka error (so
// generic gRPC tooling sees a sensible code) whose *trailers* carry the exact
// Kafka error: `raftka-error-code` (numeric), `raftka-error-name`, and for
// NOT_LEADER_OR_FOLLOWER and NOT_CONTROLLER `raftka-leader-id` and
// `raftka-leader-endpoint`.
// A client turns the status back into a RaftkaError from the trailers; a
// status without them (the peer died, a deadline passed) maps to
// NETWORK_EXCEPTION or REQUEST_TIMED_OUT.
//
// UNAVAILABLE is reserved for "the peer is not there" (including
// SHUTTING_DOWN): the peer channel treats it as the connection-closed signal
// that lets a follower start an election at once.
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { ErrorCodes, type ErrorName, errorNameOf, isRaftkaError, RaftkaError } from '@raftka/common';
import type { NodeId } from '@raftka/raft';

export const TRAILER_ERROR_CODE = 'raftka-error-code';
export const TRAILER_ERROR_NAME = 'raftka-error-name';
export const TRAILER_LEADER_ID = 'raftka-leader-id';
export const TRAILER_LEADER_ENDPOINT = 'raftka-leader-endpoint';

/** NOT_LEADER_OR_FOLLOWER with where the leader is, so a client can retry there. */
export class NotLeaderError extends RaftkaError {
  readonly leaderId: NodeId;
  /** `host:port` of the leader's gRPC listener, when known. */
  readonly leaderEndpoint: string | undefined;

  constructor(leaderId: NodeId, leaderEndpoint: string | undefined, message?: string) {
    super(
      'NOT_LEADER_OR_FOLLOWER',
      message ?? `not the leader; leader is ${leaderId < 0 ? 'unknown' : `node ${leaderId} at ${leaderEndpoint}`}`,
    );
    this.leaderId = leaderId;
    this.leaderEndpoint = leaderEndpoint;
  }
}

/**
 * NOT_CONTROLLER with where the active controller is: a standby's answer to a
 * broker lifecycle call, so the broker retries at the active controller.
 */
export class NotControllerError extends RaftkaError {
  readonly leaderId: NodeId;
  /** `host:port` of the active controller's listener, when known. */
  readonly leaderEndpoint: string | undefined;

  constructor(leaderId: NodeId, leaderEndpoint: string | undefined, message?: string) {
    super(
      'NOT_CONTROLLER',
      message ??
        `not the active controller; ${leaderId < 0 ? 'none is known' : `node ${leaderId} at ${leaderEndpoint} is`}`,
    );
    this.leaderId = leaderId;
    this.leaderEndpoint = leaderEndpoint;
  }
}

const GRPC_STATUS_OF: Partial<Record<ErrorName, status>> = {
  INVALID_CLUSTER_ID: status.FAILED_PRECONDITION,
  NOT_LEADER_OR_FOLLOWER: status.FAILED_PRECONDITION,
  NOT_CONTROLLER: status.FAILED_PRECONDITION,
  FENCED_LEADER_EPOCH: status.FAILED_PRECONDITION,
  UNKNOWN_LEADER_EPOCH: status.FAILED_PRECONDITION,
  INVALID_REQUEST: status.INVALID_ARGUMENT,
  INVALID_CONFIG: status.INVALID_ARGUMENT,
  OFFSET_OUT_OF_RANGE: status.OUT_OF_RANGE,
  REQUEST_TIMED_OUT: status.DEADLINE_EXCEEDED,
  MESSAGE_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  RECORD_LIST_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  THROTTLING_QUOTA_EXCEEDED: status.RESOURCE_EXHAUSTED,
  SHUTTING_DOWN: status.UNAVAILABLE,
  KAFKA_STORAGE_ERROR: status.INTERNAL,
  CORRUPT_STATE: status.INTERNAL,
};

/** The server side: any thrown value as a gRPC error with Kafka trailers. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const error = isRaftkaError(err)
    ? err
    : new RaftkaError('UNKNOWN_SERVER_ERROR', err instanceof Error ? err.message : String(err));
  const metadata = new Metadata();
  metadata.set(TRAILER_ERROR_CODE, String(error.code));
  metadata.set(TRAILER_ERROR_NAME, error.errorName);
  if (err instanceof NotLeaderError || err instanceof NotControllerError) {
    metadata.set(TRAILER_LEADER_ID, String(err.leaderId));
    if (err.leaderEndpoint) metadata.set(TRAILER_LEADER_ENDPOINT, err.leaderEndpoint);
  }
  return { code: GRPC_STATUS_OF[error.errorName] ?? status.UNKNOWN, details: error.message, metadata };
}

/** The client side: a failed call as a RaftkaError (a NotLeaderError when it says where the leader is). */
export function fromServiceError(err: ServiceError, what: string): RaftkaError {
  const codeText = firstString(err.metadata, TRAILER_ERROR_CODE);
  if (codeText !== undefined) {
    const errorName = errorNameOf(Number(codeText));
    if (errorName === 'NOT_LEADER_OR_FOLLOWER') {
      const leaderId = Number(firstString(err.metadata, TRAILER_LEADER_ID) ?? -1);
      return new NotLeaderError(leaderId, firstString(err.metadata, TRAILER_LEADER_ENDPOINT), err.details);
    }
    if (errorName === 'NOT_CONTROLLER') {
      const leaderId = Number(firstString(err.metadata, TRAILER_LEADER_ID) ?? -1);
      return new NotControllerError(leaderId, firstString(err.metadata, TRAILER_LEADER_ENDPOINT), err.details);
    }
    return new RaftkaError(errorName, `${what}: ${err.details}`, { cause: err });
  }
  switch (err.code) {
    case status.DEADLINE_EXCEEDED:
      return new RaftkaError('REQUEST_TIMED_OUT', `${what}: deadline exceeded`, { cause: err });
    case status.UNAVAILABLE:
    case status.CANCELLED:
      return new RaftkaError('NETWORK_EXCEPTION', `${what}: ${err.details}`, { cause: err });
    case status.RESOURCE_EXHAUSTED:
      return new RaftkaError('MESSAGE_TOO_LARGE', `${what}: ${err.details}`, { cause: err });
    default:
      return new RaftkaError('UNKNOWN_SERVER_ERROR', `${what}: ${status[err.code]} ${err.details}`, { cause: err });
  }
}

/** Whether a failed call means the peer is not reachable (died, restarting, shutting down). */
export function isPeerUnavailable(err: ServiceError): boolean {
  if (err.code !== status.UNAVAILABLE) return false;
  const codeText = firstString(err.metadata, TRAILER_ERROR_CODE);
  return codeText === undefined || Number(codeText) === ErrorCodes.SHUTTING_DOWN.code;
}

function firstString(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return value === undefined ? undefined : String(value);
}
