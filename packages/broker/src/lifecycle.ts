// The broker lifecycle of KIP-631, as a plain object: what this broker says
// to the active controller and when, and which state it is in. It does no IO
// and reads no clock (time comes in as `nowMs`); the broker driver sends what
// `poll()` returns, feeds the answers back, and arms a timer for
// `nextDeadlineMs()`. Kafka's BrokerLifecycleManager does the same job.
//
// States (Kafka's BrokerState), and what moves the broker between them:
//
//   STARTING                      registering, then catching up on metadata
//     -> RECOVERY                 a heartbeat answer says isCaughtUp
//   RECOVERY                      caught up, still fenced
//     -> RUNNING                  the local side is ready (`readyToUnfence`) and an answer says unfenced
//   RUNNING                       unfenced (the controller may fence it again; it stays RUNNING and asks back)
//   any of the above
//     -> PENDING_CONTROLLED_SHUTDOWN   beginControlledShutdown()
//   PENDING_CONTROLLED_SHUTDOWN   heartbeats with wantShutDown until shouldShutDown
//     -> SHUTTING_DOWN            shouldShutDown (or never registered)
//
// One request is in flight at a time: the registration until it succeeds,
// then heartbeats every `broker.heartbeat.interval.ms`. A request unanswered
// for half the session timeout is given up and sent again (KAFKA-14392), so a
// slow controller never costs the broker its session. Registration is retried
// until `initial.broker.registration.timeout.ms`, after which `failure` is set
// and the driver exits. A stale broker epoch (the controller no longer knows
// this registration) sends the broker back to registering.
import { assert, RaftkaError } from '@raftka/common';
import {
  type ApiError,
  apiError,
  type BrokerHeartbeatRequest,
  type BrokerHeartbeatResponse,
  type BrokerRegistrationRequest,
  type Listener,
} from '@raftka/metadata';

export type BrokerState =
  | 'NOT_RUNNING'
  | 'STARTING'
  | 'RECOVERY'
  | 'RUNNING'
  | 'PENDING_CONTROLLED_SHUTDOWN'
  | 'SHUTTING_DOWN';

/** Kafka's BrokerState values, for the `raftka_broker_state` gauge. */
export const BROKER_STATE_VALUE: Readonly<Record<BrokerState, number>> = {
  NOT_RUNNING: 0,
  STARTING: 1,
  RECOVERY: 2,
  RUNNING: 3,
  PENDING_CONTROLLED_SHUTDOWN: 6,
  SHUTTING_DOWN: 7,
};

const TRANSITIONS: Readonly<Record<BrokerState, readonly BrokerState[]>> = {
  NOT_RUNNING: ['STARTING'],
  STARTING: ['RECOVERY', 'PENDING_CONTROLLED_SHUTDOWN', 'SHUTTING_DOWN'],
  RECOVERY: ['RUNNING', 'PENDING_CONTROLLED_SHUTDOWN', 'SHUTTING_DOWN'],
  RUNNING: ['PENDING_CONTROLLED_SHUTDOWN', 'SHUTTING_DOWN'],
  PENDING_CONTROLLED_SHUTDOWN: ['SHUTTING_DOWN'],
  SHUTTING_DOWN: [],
};

export interface BrokerLifecycleOptions {
  readonly brokerId: number;
  /** A new UUID per process start. */
  readonly incarnationId: string;
  readonly rack: string | null;
  readonly listeners: readonly Listener[];
  /** broker.heartbeat.interval.ms (2000). */
  readonly heartbeatIntervalMs: number;
  /** broker.session.timeout.ms (9000): a request is given up after half of it. */
  readonly sessionTimeoutMs: number;
  /** initial.broker.registration.timeout.ms (60000). */
  readonly initialRegistrationTimeoutMs: number;
  /** Pause after a failed request before the next one. Default 100. */
  readonly retryBackoffMs?: number;
  /** Heartbeat interval while waiting for shouldShutDown. Default min(heartbeat interval, 200). */
  readonly controlledShutdownPollMs?: number;
  /**
   * Whether the broker may be unfenced as soon as it is caught up. The data
   * path sets this false until its logs are recovered and calls
   * `readyToUnfence()`. Default true (no data path yet).
   */
  readonly readyToUnfence?: boolean;
}

export type LifecycleRequest =
  | { readonly kind: 'register'; readonly id: number; readonly request: BrokerRegistrationRequest }
  | { readonly kind: 'heartbeat'; readonly id: number; readonly request: BrokerHeartbeatRequest };

export type LifecycleOutcome<T> =
  | { readonly ok: true; readonly response: T }
  | { readonly ok: false; readonly error: ApiError };

export interface StateChange {
  readonly from: BrokerState;
  readonly to: BrokerState;
  readonly atMs: number;
  readonly reason: string;
}

const DEFAULT_RETRY_BACKOFF_MS = 100;
/** Registration answers that mean "try again later" rather than "you are wrong". */
const NOT_HERE = new Set(['NOT_CONTROLLER', 'NETWORK_EXCEPTION', 'REQUEST_TIMED_OUT', 'SHUTTING_DOWN']);

export class BrokerLifecycle {
  readonly options: BrokerLifecycleOptions;
  #state: BrokerState = 'NOT_RUNNING';
  #registered = false;
  #brokerEpoch = -1;
  /** The controller's view from the last heartbeat answer. */
  #fenced = true;
  #metadataOffset = -1;
  /** The metadata offset the last heartbeat carried. */
  #reportedOffset = -1;
  #readyToUnfence: boolean;
  #inflight: { id: number; sentMs: number } | undefined;
  #nextId = 1;
  #nextSendMs = 0;
  #registrationDeadlineMs = Number.POSITIVE_INFINITY;
  #failure: RaftkaError | undefined;
  #lastError: ApiError | undefined;
  #changes: StateChange[] = [];
  readonly #retryBackoffMs: number;
  readonly #shutdownPollMs: number;
  #listeners: readonly Listener[];

  constructor(options: BrokerLifecycleOptions) {
    assert(options.heartbeatIntervalMs > 0, 'broker.heartbeat.interval.ms must be positive');
    assert(
      options.sessionTimeoutMs > options.heartbeatIntervalMs,
      'broker.session.timeout.ms must exceed broker.heartbeat.interval.ms',
    );
    assert(options.initialRegistrationTimeoutMs > 0, 'initial.broker.registration.timeout.ms must be positive');
    this.options = options;
    this.#listeners = options.listeners;
    this.#readyToUnfence = options.readyToUnfence ?? true;
    this.#retryBackoffMs = options.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS;
    this.#shutdownPollMs = options.controlledShutdownPollMs ?? Math.min(options.heartbeatIntervalMs, 200);
  }

  get state(): BrokerState {
    return this.#state;
  }

  /** The offset of this incarnation's RegisterBroker record, or -1 while unregistered. */
  get brokerEpoch(): number {
    return this.#brokerEpoch;
  }

  get registered(): boolean {
    return this.#registered;
  }

  /** Whether the controller, at its last answer, had this broker fenced. */
  get fenced(): boolean {
    return this.#fenced;
  }

  get metadataOffset(): number {
    return this.#metadataOffset;
  }

  /** Set when registration did not succeed in time: the broker must exit. */
  get failure(): RaftkaError | undefined {
    return this.#failure;
  }

  /** The last error the controller answered with, for logs. */
  get lastError(): ApiError | undefined {
    return this.#lastError;
  }

  get listeners(): readonly Listener[] {
    return this.#listeners;
  }

  get inflightId(): number | undefined {
    return this.#inflight?.id;
  }

  /** State changes since the last call, for logs and metrics. */
  takeStateChanges(): StateChange[] {
    const out = this.#changes;
    this.#changes = [];
    return out;
  }

  start(nowMs: number): void {
    this.#transition('STARTING', nowMs, 'process started');
    this.#registrationDeadlineMs = nowMs + this.options.initialRegistrationTimeoutMs;
    this.#nextSendMs = nowMs;
  }

  /**
   * The offset of the last committed metadata entry this broker has applied.
   * Reaching its own registration record while STARTING sends a heartbeat at
   * once, so catching up is reported without waiting out the interval.
   */
  setMetadataOffset(offset: number, nowMs: number): void {
    assert(offset >= this.#metadataOffset, () => `metadata offset went back from ${this.#metadataOffset} to ${offset}`);
    this.#metadataOffset = offset;
    if (
      this.#state === 'STARTING' &&
      this.#registered &&
      offset >= this.#brokerEpoch &&
      this.#reportedOffset < this.#brokerEpoch
    ) {
      this.#sendSoon(nowMs);
    }
  }

  /** The data path finished its recovery: the next heartbeat asks to be unfenced. */
  readyToUnfence(nowMs: number): void {
    if (this.#readyToUnfence) return;
    this.#readyToUnfence = true;
    if (this.#state === 'RECOVERY') this.#sendSoon(nowMs);
  }

  /**
   * The request to send now, if any. At most one is in flight; one whose
   * answer is overdue (session / 2) is given up first.
   */
  poll(nowMs: number): LifecycleRequest | undefined {
    if (this.#state === 'NOT_RUNNING' || this.#state === 'SHUTTING_DOWN' || this.#failure) return undefined;
    if (this.#inflight && nowMs - this.#inflight.sentMs >= this.#requestTimeoutMs()) {
      this.#inflight = undefined;
      this.#lastError = apiError('REQUEST_TIMED_OUT', 'no answer within broker.session.timeout.ms / 2');
      this.#nextSendMs = nowMs;
    }
    if (!this.#registered && nowMs >= this.#registrationDeadlineMs) {
      this.#failure = new RaftkaError(
        'REQUEST_TIMED_OUT',
        `broker ${this.options.brokerId} could not register with the active controller within initial.broker.registration.timeout.ms=${this.options.initialRegistrationTimeoutMs}` +
          (this.#lastError ? ` (last error: ${this.#lastError.errorName}: ${this.#lastError.message})` : ''),
      );
      return undefined;
    }
    if (this.#inflight || nowMs < this.#nextSendMs) return undefined;
    const id = this.#nextId++;
    this.#inflight = { id, sentMs: nowMs };
    if (!this.#registered) {
      if (this.#state === 'PENDING_CONTROLLED_SHUTDOWN') {
        // Never registered: nothing to hand over.
        this.#inflight = undefined;
        this.#transition('SHUTTING_DOWN', nowMs, 'controlled shutdown before registration');
        return undefined;
      }
      return {
        kind: 'register',
        id,
        request: {
          brokerId: this.options.brokerId,
          incarnationId: this.options.incarnationId,
          rack: this.options.rack,
          listeners: this.#listeners,
        },
      };
    }
    const wantShutDown = this.#state === 'PENDING_CONTROLLED_SHUTDOWN';
    this.#reportedOffset = this.#metadataOffset;
    return {
      kind: 'heartbeat',
      id,
      request: {
        brokerId: this.options.brokerId,
        brokerEpoch: this.#brokerEpoch,
        currentMetadataOffset: this.#metadataOffset,
        // Kafka's broker asks to stay fenced until it is caught up and its logs are recovered.
        wantFence: !wantShutDown && (this.#state === 'STARTING' || !this.#readyToUnfence),
        wantShutDown,
      },
    };
  }

  onRegistrationResponse(id: number, outcome: LifecycleOutcome<{ brokerEpoch: number }>, nowMs: number): void {
    if (!this.#answered(id) || this.#registered) return;
    if (!outcome.ok) {
      this.#failed(outcome.error, nowMs);
      return;
    }
    assert(outcome.response.brokerEpoch >= 0, 'a registration answer carries the broker epoch');
    this.#registered = true;
    this.#brokerEpoch = outcome.response.brokerEpoch;
    this.#fenced = true;
    this.#lastError = undefined;
    // Heartbeat at once: it reports the metadata offset and learns whether we are caught up.
    this.#nextSendMs = nowMs;
  }

  onHeartbeatResponse(id: number, outcome: LifecycleOutcome<BrokerHeartbeatResponse>, nowMs: number): void {
    if (!this.#answered(id) || !this.#registered) return;
    if (!outcome.ok) {
      if (outcome.error.errorName === 'STALE_BROKER_EPOCH') {
        // The controller no longer knows this registration: register again (same incarnation).
        this.#registered = false;
        this.#brokerEpoch = -1;
        this.#fenced = true;
      }
      this.#failed(outcome.error, nowMs);
      return;
    }
    this.#lastError = undefined;
    const r = outcome.response;
    this.#fenced = r.isFenced;
    let nextMs = nowMs + this.options.heartbeatIntervalMs;
    switch (this.#state) {
      case 'STARTING':
        if (r.isCaughtUp) {
          this.#transition('RECOVERY', nowMs, 'caught up on metadata');
          // Ask to be unfenced now rather than a heartbeat interval later.
          if (this.#readyToUnfence) nextMs = nowMs;
        }
        break;
      case 'RECOVERY':
        if (!r.isFenced) this.#transition('RUNNING', nowMs, 'unfenced by the controller');
        break;
      case 'RUNNING':
        break;
      case 'PENDING_CONTROLLED_SHUTDOWN':
        if (r.shouldShutDown) {
          this.#transition('SHUTTING_DOWN', nowMs, 'the controller agreed to the controlled shutdown');
          return;
        }
        nextMs = nowMs + this.#shutdownPollMs;
        break;
      default:
        return;
    }
    this.#nextSendMs = nextMs;
  }

  /** The request could not be sent or its answer was lost (connection closed, deadline). */
  onRequestFailed(id: number, error: ApiError, nowMs: number): void {
    if (!this.#answered(id)) return;
    this.#failed(error, nowMs);
  }

  /**
   * The connection to the controller broke (the heartbeat stream ended):
   * whatever was in flight is lost; try again after the retry backoff.
   */
  connectionLost(error: ApiError, nowMs: number): void {
    this.#inflight = undefined;
    this.#failed(error, nowMs);
  }

  /** The PLAINTEXT listener once the server is bound (its port may have been 0). Before `start()` only. */
  setListeners(listeners: readonly Listener[]): void {
    assert(this.#state === 'NOT_RUNNING', 'listeners are fixed once the broker registers');
    this.#listeners = listeners;
  }

  /**
   * The active controller changed (or its connection was re-established):
   * whatever is in flight went to the old one, so send again at once.
   */
  controllerChanged(nowMs: number): void {
    this.#inflight = undefined;
    this.#nextSendMs = nowMs;
  }

  /** SIGTERM: hand leadership over before exiting. Returns false if already shutting down. */
  beginControlledShutdown(nowMs: number): boolean {
    if (this.#state === 'PENDING_CONTROLLED_SHUTDOWN' || this.#state === 'SHUTTING_DOWN') return false;
    if (this.#state === 'NOT_RUNNING') {
      this.#state = 'SHUTTING_DOWN';
      return true;
    }
    this.#transition('PENDING_CONTROLLED_SHUTDOWN', nowMs, 'controlled shutdown requested');
    // A heartbeat in flight asked without wantShutDown; the next one asks at once.
    this.#inflight = undefined;
    this.#nextSendMs = nowMs;
    return true;
  }

  /** When poll() may have something new to say, at the latest. */
  nextDeadlineMs(): number {
    if (this.#state === 'NOT_RUNNING' || this.#state === 'SHUTTING_DOWN' || this.#failure) {
      return Number.POSITIVE_INFINITY;
    }
    const registration = this.#registered ? Number.POSITIVE_INFINITY : this.#registrationDeadlineMs;
    const next = this.#inflight ? this.#inflight.sentMs + this.#requestTimeoutMs() : this.#nextSendMs;
    return Math.min(next, registration);
  }

  #requestTimeoutMs(): number {
    return this.options.sessionTimeoutMs / 2;
  }

  #answered(id: number): boolean {
    if (this.#inflight?.id !== id) return false;
    this.#inflight = undefined;
    return true;
  }

  #failed(error: ApiError, nowMs: number): void {
    this.#lastError = error;
    // DUPLICATE_BROKER_REGISTRATION: the previous incarnation's session has not expired yet; wait a heartbeat.
    const backoffMs =
      error.errorName === 'DUPLICATE_BROKER_REGISTRATION'
        ? this.options.heartbeatIntervalMs
        : NOT_HERE.has(error.errorName) || error.errorName === 'STALE_BROKER_EPOCH'
          ? this.#retryBackoffMs
          : this.#retryBackoffMs * 5;
    this.#nextSendMs = nowMs + backoffMs;
  }

  #sendSoon(nowMs: number): void {
    if (this.#inflight === undefined) this.#nextSendMs = Math.min(this.#nextSendMs, nowMs);
  }

  #transition(to: BrokerState, nowMs: number, reason: string): void {
    const from = this.#state;
    assert(TRANSITIONS[from].includes(to), () => `broker state ${from} -> ${to} is not allowed`);
    this.#state = to;
    this.#changes.push({ from, to, atMs: nowMs, reason });
  }
}
