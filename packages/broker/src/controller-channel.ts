// The broker's channel to the active controller (raftka.controller.v1.
// BrokerLifecycle): unary RegisterBroker, and one long-lived BrokerHeartbeat
// stream, which is the broker's session. The controller fences a broker
// whose stream breaks at once, so a broker that dies is fenced in
// milliseconds rather than after broker.session.timeout.ms.
//
// Which controller: the Raft leader this broker's metadata observer follows
// (`setActiveController`), or the one a NOT_CONTROLLER answer names; without
// either, the voters in turn. Switching controllers cancels the stream to the
// old one and opens a new one on the next heartbeat.
import { type Client, type ClientDuplexStream, Metadata, type ServiceError } from '@grpc/grpc-js';
import { errorNameOf, isRaftkaError, RaftkaError } from '@raftka/common';
import type { VoterEndpoint } from '@raftka/controller';
import type { BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest } from '@raftka/metadata';
import { fromServiceError, NotControllerError, ServiceClients } from '@raftka/transport';
import type { LifecycleOutcome } from './lifecycle.js';

type Wire = Record<string, unknown>;

export interface ControllerChannelOptions {
  brokerId: number;
  clusterId: string;
  voters: readonly VoterEndpoint[];
  /** Deadline of a RegisterBroker call (session / 2, KAFKA-14392). */
  requestTimeoutMs: number;
  /** A heartbeat answer on the stream, by the sequence the request carried. */
  onHeartbeatResponse: (sequence: number, outcome: LifecycleOutcome<BrokerHeartbeatResponse>) => void;
  /** The heartbeat stream ended or broke; the in-flight heartbeat (if any) is lost. */
  onStreamFailed: (error: RaftkaError) => void;
}

const CLIENT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export class ControllerChannel {
  readonly #options: ControllerChannelOptions;
  readonly #clients = new ServiceClients('BrokerLifecycle', CLIENT_MAX_MESSAGE_BYTES);
  #target: string;
  #nextVoter = 0;
  #stream: ClientDuplexStream<Wire, Wire> | undefined;
  #closed = false;

  constructor(options: ControllerChannelOptions) {
    this.#options = options;
    this.#target = this.#rotate();
  }

  /** `host:port` of the controller the next request goes to. */
  get target(): string {
    return this.#target;
  }

  get streamOpen(): boolean {
    return this.#stream !== undefined;
  }

  /** Points the channel at `endpoint`; returns whether that changed anything. */
  setActiveController(endpoint: string): boolean {
    if (endpoint === this.#target) return false;
    this.#target = endpoint;
    this.#closeStream();
    return true;
  }

  /**
   * After a failed call: follow a NOT_CONTROLLER that names the active
   * controller, else try the next voter. Returns whether the target changed.
   */
  noteFailure(err: RaftkaError): boolean {
    if (err instanceof NotControllerError && err.leaderEndpoint) return this.setActiveController(err.leaderEndpoint);
    if (err.errorName === 'NOT_CONTROLLER' || err.errorName === 'NETWORK_EXCEPTION') {
      return this.setActiveController(this.#rotate());
    }
    return false;
  }

  register(request: BrokerRegistrationRequest): Promise<{ brokerEpoch: number }> {
    if (this.#closed) return Promise.reject(new RaftkaError('SHUTTING_DOWN', 'controller channel closed'));
    const endpoint = this.#target;
    const wire: Wire = {
      cluster_id: this.#options.clusterId,
      broker_id: request.brokerId,
      incarnation_id: request.incarnationId,
      rack: request.rack ?? '',
      listeners: request.listeners.map((l) => ({ name: l.name, host: l.host, port: l.port })),
    };
    return this.#clients
      .unary(endpoint, 'RegisterBroker', wire, { deadlineMs: Date.now() + this.#options.requestTimeoutMs })
      .then(
        (res) => ({ brokerEpoch: Number(res.broker_epoch ?? -1) }),
        (err: ServiceError) => {
          throw fromServiceError(err, `RegisterBroker at ${endpoint}`);
        },
      );
  }

  /** Writes one heartbeat on the stream to the current target, opening it first if needed. */
  sendHeartbeat(sequence: number, request: BrokerHeartbeatRequest): void {
    if (this.#closed) return;
    const stream = this.#stream ?? this.#openStream();
    stream.write({
      cluster_id: this.#options.clusterId,
      broker_id: request.brokerId,
      broker_epoch: request.brokerEpoch,
      current_metadata_offset: request.currentMetadataOffset,
      want_fence: request.wantFence,
      want_shut_down: request.wantShutDown,
      sequence,
    });
  }

  #openStream(): ClientDuplexStream<Wire, Wire> {
    const endpoint = this.#target;
    const client = this.#client(endpoint) as unknown as {
      BrokerHeartbeat: (md: Metadata) => ClientDuplexStream<Wire, Wire>;
    };
    const stream = client.BrokerHeartbeat(new Metadata());
    this.#stream = stream;
    const failed = (error: RaftkaError) => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      this.#options.onStreamFailed(error);
    };
    stream.on('data', (res: Wire) => {
      if (this.#stream !== stream) return;
      const code = Number(res.error_code ?? 0);
      const sequence = Number(res.sequence ?? 0);
      if (code !== 0) {
        const errorName = errorNameOf(code);
        this.#options.onHeartbeatResponse(sequence, {
          ok: false,
          error: { errorName, code, message: String(res.error_message ?? '') },
        });
        return;
      }
      this.#options.onHeartbeatResponse(sequence, {
        ok: true,
        response: {
          isCaughtUp: Boolean(res.is_caught_up),
          isFenced: Boolean(res.is_fenced),
          shouldShutDown: Boolean(res.should_shut_down),
        },
      });
    });
    stream.on('error', (err: ServiceError) => failed(fromServiceError(err, `BrokerHeartbeat at ${endpoint}`)));
    stream.on('end', () =>
      failed(new RaftkaError('NETWORK_EXCEPTION', `the heartbeat stream to ${endpoint} was closed by the controller`)),
    );
    return stream;
  }

  #closeStream(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    // Cancelling tells the old controller at once; it is not the active one any more.
    stream?.cancel();
  }

  #rotate(): string {
    const voters = this.#options.voters;
    const voter = voters[this.#nextVoter++ % voters.length] as VoterEndpoint;
    return `${voter.host}:${voter.port}`;
  }

  #client(endpoint: string): Client {
    return this.#clients.client(endpoint);
  }

  /** Ends the heartbeat stream (the controller then fences this broker, which has shut down) and closes the clients. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const stream = this.#stream;
    this.#stream = undefined;
    return new Promise<void>((resolve) => {
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        this.#clients.close();
        resolve();
      };
      if (!stream) return done();
      // Half-close, and give the controller a moment to see it before the connection goes.
      stream.end();
      const timer = setTimeout(() => {
        stream.cancel();
        done();
      }, 200);
      const finish = () => {
        clearTimeout(timer);
        done();
      };
      stream.once('end', finish);
      stream.once('error', finish);
    });
  }
}

/** A failure as the lifecycle sees it. */
export function asApiError(err: unknown): { errorName: RaftkaError['errorName']; code: number; message: string } {
  if (isRaftkaError(err)) return { errorName: err.errorName, code: err.code, message: err.message };
  const e = new RaftkaError('UNKNOWN_SERVER_ERROR', err instanceof Error ? err.message : String(err));
  return { errorName: e.errorName, code: e.code, message: e.message };
}
