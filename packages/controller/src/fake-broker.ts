// A fake broker for tests and benchmarks of the control plane: it speaks the
// BrokerLifecycle protocol exactly as a broker does (register, one heartbeat
// stream, NOT_CONTROLLER redirects, controlled shutdown) but has no data
// path. Its metadata offset comes either from a Raft observer of the metadata
// log (`observe: true`, a RaftDriver with no server, as a real broker) or
// from the test (`setMetadataOffset`).
//
// `crash()` drops the connection without a goodbye, as a killed process does:
// the controller sees the heartbeat stream break.
import { randomUUID } from 'node:crypto';
import { isRaftkaError, type RaftkaError } from '@raftka/common';
import type { Listener } from '@raftka/metadata';
import type { Logger } from '@raftka/observability';
import type { LogEntry, Snapshot } from '@raftka/raft';
import {
  BrokerLifecycleClient,
  type HeartbeatStreamClient,
  type HeartbeatWireResponse,
  NotControllerError,
} from '@raftka/transport';
import { RaftDriver, type RaftDriverConfig, type VoterEndpoint } from './raft-driver.js';
import type { StateMachine } from './state-machine.js';

export interface FakeBrokerOptions {
  brokerId: number;
  clusterId: string;
  voters: VoterEndpoint[];
  /** broker.heartbeat.interval.ms. */
  heartbeatIntervalMs: number;
  rack?: string | null;
  logger: Logger;
  /** Follow the metadata log as a Raft observer (needs `observer`); else the test sets the offset. */
  observer?: Omit<RaftDriverConfig, 'nodeId' | 'clusterId' | 'voters' | 'logger' | 'listener'>;
}

/** Counts applied offsets only: all a fake broker reports. */
class OffsetStateMachine implements StateMachine {
  appliedOffset = 0;
  apply(entries: readonly LogEntry[]): void {
    const last = entries[entries.length - 1];
    if (last) this.appliedOffset = last.offset + 1;
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(snapshot: Snapshot): void {
    this.appliedOffset = snapshot.id.endOffset;
  }
}

export class FakeBroker {
  readonly brokerId: number;
  readonly incarnationId = randomUUID();
  readonly #options: FakeBrokerOptions;
  readonly #client: BrokerLifecycleClient;
  readonly #observer: RaftDriver | undefined;
  readonly #offsets = new OffsetStateMachine();
  #manualOffset = -1;
  #stream: HeartbeatStreamClient | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sequence = 0;
  #stopped = false;
  #wantShutDown = false;
  #paused = false;
  brokerEpoch = -1;
  /** The last answer, as the broker acts on it. */
  last: HeartbeatWireResponse | undefined;
  /** Errors that ended a heartbeat stream, most recent last (bounded). */
  readonly streamErrors: RaftkaError[] = [];
  readonly #waiters: (() => void)[] = [];

  constructor(options: FakeBrokerOptions) {
    this.brokerId = options.brokerId;
    this.#options = options;
    this.#client = new BrokerLifecycleClient({
      clusterId: options.clusterId,
      bootstrapEndpoints: options.voters.map((v) => `${v.host}:${v.port}`),
      requestTimeoutMs: 5000,
      retryTimeoutMs: 30_000,
    });
    if (options.observer) {
      this.#observer = new RaftDriver(
        {
          ...options.observer,
          nodeId: options.brokerId,
          clusterId: options.clusterId,
          voters: options.voters,
          logger: options.logger,
        },
        this.#offsets,
      );
    }
  }

  /** The metadata offset this broker reports: the last record it applied, or -1. */
  get metadataOffset(): number {
    return this.#observer ? this.#offsets.appliedOffset - 1 : this.#manualOffset;
  }

  setMetadataOffset(offset: number): void {
    this.#manualOffset = offset;
  }

  get listeners(): Listener[] {
    return [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 9000 + this.brokerId }];
  }

  get isFenced(): boolean {
    return this.last?.isFenced ?? true;
  }

  /** Starts observing (if configured), registers, and starts heartbeating. */
  async start(): Promise<void> {
    await this.#observer?.start();
    const registration = await this.#client.registerBroker({
      brokerId: this.brokerId,
      incarnationId: this.incarnationId,
      rack: this.#options.rack ?? null,
      listeners: this.listeners,
    });
    this.brokerEpoch = registration.brokerEpoch;
    this.#openStream();
    this.#heartbeat();
  }

  /** Resolves once `probe` holds after some heartbeat answer. */
  async until(probe: (broker: FakeBroker) => boolean, timeoutMs = 10_000): Promise<void> {
    const giveUpAt = Date.now() + timeoutMs;
    while (!probe(this)) {
      if (Date.now() > giveUpAt) throw new Error(`broker ${this.brokerId}: condition not met in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Heartbeats with WantShutDown until the controller says the broker may exit; then stops. */
  async controlledShutdown(timeoutMs = 10_000): Promise<void> {
    this.#wantShutDown = true;
    this.#heartbeatNow();
    await this.until((b) => b.last?.shouldShutDown === true, timeoutMs);
    await this.stop();
  }

  /** Stops heartbeating but keeps the stream open: a hung process (GC pause, stopped VM). */
  pause(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#paused = true;
  }

  /** Sends a heartbeat now (besides the periodic ones). */
  heartbeatNow(): void {
    this.#heartbeatNow();
  }

  /** The process dies: the connection drops, nothing more is sent. */
  async crash(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#stream?.abort();
    this.#client.close();
    await this.#observer?.shutdown();
  }

  /** Graceful stop of the process (after a controlled shutdown). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#stream?.close();
    this.#client.close();
    await this.#observer?.shutdown();
  }

  #openStream(endpoint?: string): void {
    if (this.#stopped) return;
    this.#stream = this.#client.openHeartbeatStream(
      {
        onResponse: (response) => {
          if (response.error === null) this.last = response;
          else if (response.error.errorName === 'STALE_BROKER_EPOCH') this.last = response;
          for (const w of this.#waiters.splice(0)) w();
        },
        onError: (err) => {
          if (this.#stopped) return;
          this.streamErrors.push(err);
          if (this.streamErrors.length > 100) this.streamErrors.shift();
          this.#stream = undefined;
          // NOT_CONTROLLER names the active controller: reopen there at once;
          // otherwise back off a little and try the next endpoint.
          const next = err instanceof NotControllerError ? err.leaderEndpoint : undefined;
          setTimeout(
            () => {
              if (this.#stopped || this.#stream) return;
              try {
                this.#openStream(next);
                this.#heartbeatNow();
              } catch (e) {
                if (!isRaftkaError(e)) throw e;
              }
            },
            next ? 0 : 50,
          );
        },
      },
      endpoint,
    );
  }

  #heartbeat(): void {
    if (this.#stopped) return;
    this.#heartbeatNow();
    this.#timer = setTimeout(() => this.#heartbeat(), this.#options.heartbeatIntervalMs);
  }

  #heartbeatNow(): void {
    if (this.#stopped || this.#paused || !this.#stream) return;
    this.#stream.send({
      brokerId: this.brokerId,
      brokerEpoch: this.brokerEpoch,
      currentMetadataOffset: this.metadataOffset,
      wantFence: false,
      wantShutDown: this.#wantShutDown,
      sequence: ++this.#sequence,
    });
  }
}
