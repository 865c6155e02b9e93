// One outbound gRPC client per Raft peer. `send(message)` performs the unary
// call for a request of the core and feeds the peer's answer back through
// `onMessage` as the core's response message: the core treats requests and
// responses as independent messages, so the channel keeps no promise for it.
//
// A failed call is dropped (the core resends on its own timers), except that
// a call failing with UNAVAILABLE, or the channel leaving READY for
// TRANSIENT_FAILURE, IDLE or SHUTDOWN, is the "connection closed" signal:
// `onDisconnect(peer)` fires once per loss of connection, and the driver
// passes it to `RaftNode.peerDisconnected`, so a follower whose leader died
// starts an election at once instead of waiting out fetchTimeoutMs.
import { type Client, connectivityState, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { assert } from '@raftka/common';
import type { NodeId, RaftMessage } from '@raftka/raft';
import { clientChannelOptions, MESSAGE_OVERHEAD_BYTES } from './channel-options.js';
import { isPeerUnavailable } from './errors.js';
import { loadServices } from './proto.js';
import { isRequest, METHOD_OF_REQUEST, type RaftRequest, requestToWire, responseFromWire, type Wire } from './wire.js';

export interface PeerEndpoint {
  nodeId: NodeId;
  host: string;
  port: number;
}

export interface PeerChannelOptions {
  selfId: NodeId;
  peer: PeerEndpoint;
  clusterId: string;
  /** Deadline of every call but Fetch (controller.quorum.request.timeout.ms). */
  requestTimeoutMs: number;
  /** Calls to this peer allowed in flight; further sends are dropped and counted. */
  maxInFlight: number;
  maxMessageBytes: number;
  /** The peer's answer, as the core's response message. */
  onMessage: (message: RaftMessage) => void;
  /** The connection to the peer closed (its process died or is shutting down). */
  onDisconnect: (peer: NodeId) => void;
  /** A call failed for another reason (timeout, refusal); for logs and metrics. */
  onCallError?: (peer: NodeId, method: string, err: ServiceError) => void;
}

export interface PeerChannelStats {
  sent: number;
  droppedInFlightFull: number;
  failed: number;
  disconnects: number;
}

type UnaryFn = (
  request: Wire,
  metadata: Metadata,
  options: { deadline: number },
  callback: (err: ServiceError | null, response?: Wire) => void,
) => unknown;

export class PeerChannel {
  readonly peer: PeerEndpoint;
  readonly #options: PeerChannelOptions;
  readonly #client: Client;
  #inFlight = 0;
  /** Whether the connection was up since the last disconnect signal. */
  #connected = false;
  #closed = false;
  readonly stats: PeerChannelStats = { sent: 0, droppedInFlightFull: 0, failed: 0, disconnects: 0 };

  constructor(options: PeerChannelOptions) {
    assert(options.maxInFlight > 0, 'maxInFlight must be positive');
    assert(options.peer.nodeId !== options.selfId, 'a node has no channel to itself');
    this.peer = options.peer;
    this.#options = options;
    const { Raft } = loadServices();
    this.#client = new Raft(
      `${options.peer.host}:${options.peer.port}`,
      credentials.createInsecure(),
      clientChannelOptions({ maxMessageBytes: options.maxMessageBytes }),
    );
    this.#watchState(this.#client.getChannel().getConnectivityState(true));
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Sends a request of the core; returns false when it was dropped (in-flight cap or closed). */
  send(message: RaftMessage): boolean {
    assert(isRequest(message), () => `peer channel sends requests only, not ${message.type}`);
    assert(
      message.to === this.peer.nodeId,
      () => `${message.type} to ${message.to} on the channel to ${this.peer.nodeId}`,
    );
    if (this.#closed) return false;
    if (this.#inFlight >= this.#options.maxInFlight) {
      this.stats.droppedInFlightFull++;
      return false;
    }
    const method = METHOD_OF_REQUEST[message.type];
    const deadline = Date.now() + this.#deadlineMs(message);
    const fn = (this.#client as unknown as Record<string, UnaryFn>)[method];
    assert(typeof fn === 'function', () => `no client method ${method}`);
    this.#inFlight++;
    this.stats.sent++;
    fn.call(this.#client, requestToWire(message, this.#options.clusterId), new Metadata(), { deadline }, (err, res) => {
      this.#inFlight--;
      if (this.#closed) return;
      if (err) {
        this.stats.failed++;
        if (isPeerUnavailable(err)) this.#disconnected();
        else this.#options.onCallError?.(this.peer.nodeId, method, err);
        return;
      }
      this.#connected = true;
      this.#options.onMessage(responseFromWire(method, res ?? {}));
    });
    return true;
  }

  #deadlineMs(message: RaftRequest): number {
    // A Fetch may be parked by the leader for maxWaitMs; give it that plus the usual budget.
    return message.type === 'FetchRequest'
      ? message.maxWaitMs + this.#options.requestTimeoutMs
      : this.#options.requestTimeoutMs;
  }

  #watchState(current: connectivityState): void {
    if (this.#closed) return;
    if (current === connectivityState.READY) this.#connected = true;
    else if (
      current === connectivityState.TRANSIENT_FAILURE ||
      current === connectivityState.IDLE ||
      current === connectivityState.SHUTDOWN
    ) {
      this.#disconnected();
    }
    if (current === connectivityState.SHUTDOWN) return;
    this.#client.getChannel().watchConnectivityState(current, Number.POSITIVE_INFINITY, () => {
      if (this.#closed) return;
      this.#watchState(this.#client.getChannel().getConnectivityState(true));
    });
  }

  /** Edge-triggered: one signal per loss of a connection that was up. */
  #disconnected(): void {
    if (!this.#connected || this.#closed) return;
    this.#connected = false;
    this.stats.disconnects++;
    this.#options.onDisconnect(this.peer.nodeId);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }
}

/** The largest message for a Raft channel given the core's fetch and snapshot chunk limits. */
export function raftMaxMessageBytes(fetchMaxBytes: number, snapshotChunkBytes: number): number {
  return Math.max(fetchMaxBytes, snapshotChunkBytes) + MESSAGE_OVERHEAD_BYTES;
}
