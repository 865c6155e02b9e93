// The Admin service (raftka.admin.v1.Admin) on a broker's client port, by
// forwarding: each call goes to a controller (any controller serves Admin;
// a standby forwards to the active one) and its answer or error, trailers
// included, comes back unchanged. Clients thus need only the brokers'
// addresses, as with Kafka's bootstrap.servers. The broker prefers the Raft
// leader its observer follows; when that controller is unreachable it tries
// the next voter, and a NOT_CONTROLLER naming the active controller is
// followed at once, both within the caller's deadline.
import type { ServerUnaryCall, ServiceError, sendUnaryData, UntypedServiceImplementation } from '@grpc/grpc-js';
import { RaftkaError } from '@raftka/common';
import type { VoterEndpoint } from '@raftka/controller';
import {
  checkClusterId,
  type ExtraService,
  fromServiceError,
  loadServices,
  NotControllerError,
  ServiceClients,
  toServiceError,
} from '@raftka/transport';

type Wire = Record<string, unknown>;

export interface AdminProxyOptions {
  clusterId: string;
  voters: readonly VoterEndpoint[];
  /** The active controller's endpoint as the metadata observer knows it, if any. */
  activeController: () => string | undefined;
  /** Deadline of a forwarded call when the caller set none. */
  defaultTimeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Bound on controllers tried for one call (redirects and unreachable ones). */
const MAX_ATTEMPTS = 8;
const RETRY_BACKOFF_MS = 50;
const CLIENT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class AdminProxy {
  readonly #options: AdminProxyOptions;
  readonly #clients = new ServiceClients('Admin', CLIENT_MAX_MESSAGE_BYTES);
  #nextVoter = 0;
  #closed = false;

  constructor(options: AdminProxyOptions) {
    this.#options = options;
  }

  /** The Admin service for a broker's TransportServer. */
  service(): ExtraService {
    const { Admin } = loadServices();
    const implementation: UntypedServiceImplementation = {};
    for (const method of Object.keys(Admin.service)) {
      implementation[method] = (call: ServerUnaryCall<Wire, Wire>, callback: sendUnaryData<Wire>) => {
        try {
          checkClusterId(call.request, this.#options.clusterId);
        } catch (err) {
          callback(toServiceError(err) as ServiceError);
          return;
        }
        const deadline = call.getDeadline();
        const deadlineMs =
          deadline instanceof Date
            ? deadline.getTime()
            : Number.isFinite(deadline)
              ? Number(deadline)
              : Date.now() + (this.#options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS);
        this.#forward(method, call.request, deadlineMs).then(
          (response) => callback(null, response),
          (err: ServiceError) => callback(err),
        );
      };
    }
    return { definition: Admin.service, implementation };
  }

  async #forward(method: string, request: Wire, deadlineMs: number): Promise<Wire> {
    let endpoint = this.#options.activeController() ?? this.#rotate();
    let lastError: ServiceError | undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS && Date.now() < deadlineMs && !this.#closed; attempt++) {
      try {
        return await this.#call(endpoint, method, request, deadlineMs);
      } catch (e) {
        const err = e as ServiceError;
        lastError = err;
        const error = fromServiceError(err, `${method} at ${endpoint}`);
        if (error instanceof NotControllerError && error.leaderEndpoint && error.leaderEndpoint !== endpoint) {
          endpoint = error.leaderEndpoint;
          continue;
        }
        // Relay the controller's own answer; only "not there" and "no active controller yet" are retried.
        if (error.errorName !== 'NETWORK_EXCEPTION' && error.errorName !== 'NOT_CONTROLLER') throw err;
        endpoint =
          error.errorName === 'NETWORK_EXCEPTION' ? this.#rotate() : (this.#options.activeController() ?? endpoint);
        await new Promise((r) => setTimeout(r, RETRY_BACKOFF_MS));
      }
    }
    throw (
      lastError ??
      (toServiceError(
        new RaftkaError('REQUEST_TIMED_OUT', `${method}: no controller answered before the deadline`),
      ) as ServiceError)
    );
  }

  #call(endpoint: string, method: string, request: Wire, deadlineMs: number): Promise<Wire> {
    return this.#clients.unary(endpoint, method, request, { deadlineMs });
  }

  #rotate(): string {
    const voters = this.#options.voters;
    const voter = voters[this.#nextVoter++ % voters.length] as VoterEndpoint;
    return `${voter.host}:${voter.port}`;
  }

  close(): void {
    this.#closed = true;
    this.#clients.close();
  }
}
