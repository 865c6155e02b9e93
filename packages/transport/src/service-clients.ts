// The gRPC clients of one service, one per endpoint, created on first use
// with the project's channel options; and the one unary-call wrapper every
// client of ours goes through. A call rejects with grpc-js's ServiceError as
// it came: callers map it to a RaftkaError (fromServiceError) or, when they
// relay it (a broker forwarding Admin calls), pass it on untouched.
import {
  type Client,
  connectivityState,
  credentials,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { assert, RaftkaError } from '@raftka/common';
import { clientChannelOptions } from './channel-options.js';
import { loadServices, type RaftkaServices } from './proto.js';
import type { Wire } from './wire.js';

type UnaryFn = (
  request: Wire,
  metadata: Metadata,
  options: { deadline: number },
  callback: (err: ServiceError | null, response?: Wire) => void,
) => unknown;

export class ServiceClients {
  readonly #service: keyof RaftkaServices;
  readonly #maxMessageBytes: number;
  readonly #clients = new Map<string, Client>();
  #closed = false;

  constructor(service: keyof RaftkaServices, maxMessageBytes: number) {
    this.#service = service;
    this.#maxMessageBytes = maxMessageBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The client for `endpoint` (host:port); SHUTTING_DOWN once closed. */
  client(endpoint: string): Client {
    if (this.#closed) throw new RaftkaError('SHUTTING_DOWN', `${this.#service} client is closed`);
    let client = this.#clients.get(endpoint);
    if (!client) {
      const ctor: ServiceClientConstructor = loadServices()[this.#service];
      client = new ctor(
        endpoint,
        credentials.createInsecure(),
        clientChannelOptions({ maxMessageBytes: this.#maxMessageBytes }),
      );
      this.#clients.set(endpoint, client);
    }
    return client;
  }

  /**
   * One unary call. Rejects with the ServiceError as received, or with
   * SHUTTING_DOWN (a RaftkaError) once closed. Methods are ours and fixed, so
   * an unknown one is a bug (an assertion).
   */
  unary(
    endpoint: string,
    method: string,
    request: Wire,
    options: { deadlineMs: number; metadata?: Metadata; signal?: AbortSignal },
  ): Promise<Wire> {
    let client: Client;
    try {
      client = this.client(endpoint);
    } catch (err) {
      return Promise.reject(err);
    }
    const fn = (client as unknown as Record<string, UnaryFn | undefined>)[method];
    assert(typeof fn === 'function', () => `${this.#service} has no client method ${method}`);
    return new Promise<Wire>((resolve, reject) => {
      const call = fn.call(
        client,
        request,
        options.metadata ?? new Metadata(),
        { deadline: options.deadlineMs },
        (err, res) => (err ? reject(err) : resolve(res ?? {})),
      ) as { cancel(): void };
      // Cancelling makes the callback fail with CANCELLED, and the server sees the call cancelled.
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  /** Whether the channel to `endpoint` has a live connection (grpc READY); false when none was opened. */
  isReady(endpoint: string): boolean {
    const client = this.#clients.get(endpoint);
    return client !== undefined && client.getChannel().getConnectivityState(false) === connectivityState.READY;
  }

  /**
   * Closes the channel to one endpoint; the next call opens a fresh one. Calls
   * still waiting on it, even queued behind a connect that never completes,
   * fail at once.
   */
  drop(endpoint: string): void {
    this.#clients.get(endpoint)?.close();
    this.#clients.delete(endpoint);
  }

  close(): void {
    this.#closed = true;
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}
