// A simulated controller process: a Raft voter plus the real ControllerEngine
// around the real QuorumController, as the controller process will run them.
// Broker and client requests arrive as messages and are answered when the
// engine says so (after their records commit). The process remembers which
// broker epoch last heartbeated over each broker's connection, so when the
// world reports a broker's connection closed it can tell the engine to fence
// that registration at once.

import {
  ControllerEngine,
  type EngineOutcome,
  type MetadataImage,
  type MetadataLog,
  type MetadataLogAppend,
  type QuorumController,
  type QuorumControllerOptions,
} from '@raftka/metadata';
import type { LogEntry, NodeId, Snapshot } from '@raftka/raft';
import type { SimMessage } from '../world.js';
import type { ControlPlaneRequest, ControlPlaneResponse } from './messages.js';
import { RaftProcess, type RaftProcessOptions } from './raft-process.js';

export interface ControllerProcessOptions extends RaftProcessOptions {
  brokerSessionTimeoutMs: number;
  /** unclean.leader.election.interval.ms (the simulation shortens Kafka's 5 min). */
  uncleanLeaderElectionIntervalMs?: number;
  /** Substitute QuorumController (the checker tests' mutants). */
  createController?: (options: QuorumControllerOptions) => QuorumController;
}

/** The engine's MetadataLog: the process's current Raft node. */
class RaftLogView implements MetadataLog {
  readonly #process: RaftProcess;
  constructor(process: RaftProcess) {
    this.#process = process;
  }
  propose(records: Uint8Array[], nowMs: number): MetadataLogAppend {
    return this.#process.raft.propose(records, nowMs);
  }
  get role(): string {
    return this.#process.raft.role;
  }
  get epoch(): number {
    return this.#process.raft.epoch;
  }
  get leaderId(): number {
    return this.#process.raft.leaderId;
  }
}

export class ControllerProcess extends RaftProcess {
  #engine: ControllerEngine | undefined;
  /** Broker id -> the broker epoch its heartbeat connection to this process carries. */
  readonly #sessions = new Map<NodeId, number>();
  readonly #controllerOptions: ControllerProcessOptions;
  /** Requests answered, for the run summary. */
  answered = 0;
  /** Brokers this process fenced because their connection closed, and for a missed session, over all restarts. */
  fencedOnDisconnect = 0;
  #timedOutBefore = 0;

  constructor(options: ControllerProcessOptions, nowMs: number) {
    super(options);
    this.#controllerOptions = options;
    this.start(nowMs);
  }

  get engine(): ControllerEngine {
    if (this.#engine === undefined) throw new Error(`controller ${this.nodeId} is down`);
    return this.#engine;
  }

  /** The committed image this node holds (what invariants compare). */
  get committedImage(): MetadataImage {
    return this.engine.committedImage;
  }

  committedMetadataImage(): MetadataImage | undefined {
    return this.up ? this.engine.committedImage : undefined;
  }

  get isActive(): boolean {
    return this.up && this.engine.isActive;
  }

  get fencedOnSessionTimeout(): number {
    return this.#timedOutBefore + (this.#engine?.controller.counters.timedOutBrokerHeartbeats ?? 0);
  }

  protected resetState(_nowMs: number): void {
    this.#timedOutBefore = this.fencedOnSessionTimeout;
    this.#sessions.clear();
    const options = this.#controllerOptions;
    // The engine reaches the Raft node through a view: the node is rebuilt on every start.
    const log = new RaftLogView(this);
    this.#engine = new ControllerEngine({
      log,
      random: this.random.fork(),
      brokerSessionTimeoutMs: options.brokerSessionTimeoutMs,
      ...(options.uncleanLeaderElectionIntervalMs !== undefined && {
        uncleanLeaderElectionIntervalMs: options.uncleanLeaderElectionIntervalMs,
      }),
      ...(options.createController !== undefined && { createController: options.createController }),
    });
  }

  protected installSnapshot(snapshot: Snapshot): void {
    this.engine.handleSnapshot(snapshot);
  }

  protected applyCommitted(entries: readonly LogEntry[], nowMs: number): void {
    this.engine.handleCommitted(entries, nowMs);
  }

  protected takeSnapshot(): Snapshot | undefined {
    return this.engine.takeSnapshot();
  }

  protected afterEvent(): void {
    this.engine.checkLeadership();
  }

  protected tickProcess(nowMs: number): void {
    this.engine.tick(nowMs);
  }

  protected processDeadlineMs(): number {
    return this.#engine?.nextDeadlineMs() ?? Number.POSITIVE_INFINITY;
  }

  protected peerGone(peer: NodeId, nowMs: number): void {
    const brokerEpoch = this.#sessions.get(peer);
    if (brokerEpoch === undefined) return;
    this.#sessions.delete(peer);
    this.engine.brokerConnectionLost(peer, brokerEpoch, nowMs, (outcome) => {
      if (outcome.ok && outcome.response.fenced) this.fencedOnDisconnect++;
    });
  }

  protected receiveRequest(raw: SimMessage, nowMs: number): void {
    const message = raw as ControlPlaneRequest;
    const engine = this.engine;
    const reply = <T>(type: ControlPlaneResponse['type'], outcome: EngineOutcome<T>) => {
      if (!this.up) return;
      this.answered++;
      if (outcome.ok) this.#checkAnsweredAfterCommit(type, outcome.response);
      this.send({
        type,
        from: this.nodeId,
        to: message.from,
        correlationId: message.correlationId,
        outcome,
      } as ControlPlaneResponse);
    };
    switch (message.type) {
      case 'BrokerRegistrationRequest':
        engine.registerBroker(message.request, nowMs, (outcome) => {
          if (outcome.ok) this.#sessions.set(outcome.response.brokerId, outcome.response.brokerEpoch);
          reply('BrokerRegistrationResponse', outcome);
        });
        break;
      case 'BrokerHeartbeatRequest':
        this.#sessions.set(message.request.brokerId, message.request.brokerEpoch);
        engine.brokerHeartbeat(message.request, nowMs, (outcome) => reply('BrokerHeartbeatResponse', outcome));
        break;
      case 'AlterPartitionRequest':
        engine.alterPartition(message.request, nowMs, (outcome) => reply('AlterPartitionResponse', outcome));
        break;
      case 'CreateTopicsRequest':
        engine.createTopics(message.topics, nowMs, (outcome) => reply('CreateTopicsResponse', outcome));
        break;
      case 'IncrementalAlterConfigsRequest':
        engine.incrementalAlterConfigs(message.resources, false, nowMs, (outcome) =>
          reply('IncrementalAlterConfigsResponse', outcome),
        );
        break;
    }
  }

  /**
   * AnsweredAfterCommit: a successful answer goes out only once the records
   * it reports are in this controller's committed image.
   */
  #checkAnsweredAfterCommit(type: ControlPlaneResponse['type'], response: unknown): void {
    const image = this.engine.committedImage;
    const fail = (detail: string) =>
      this.world.fail('AnsweredAfterCommit', `controller ${this.nodeId} answered ${type}: ${detail}`);
    if (type === 'BrokerRegistrationResponse') {
      const r = response as { brokerId: number; brokerEpoch: number };
      const committed = image.broker(r.brokerId)?.brokerEpoch ?? -1;
      if (committed < r.brokerEpoch) fail(`broker ${r.brokerId} epoch ${r.brokerEpoch}, committed ${committed}`);
    } else if (type === 'AlterPartitionResponse') {
      const r = response as { topicId: string; partition: number; partitionEpoch: number };
      const committed = image.partition(r.topicId, r.partition)?.partitionEpoch ?? -1;
      if (committed < r.partitionEpoch) fail(`partition epoch ${r.partitionEpoch}, committed ${committed}`);
    } else if (type === 'CreateTopicsResponse') {
      for (const r of response as { name: string; topicId: string | null; error: unknown }[]) {
        if (r.error === null && r.topicId !== null && !image.topicsById.has(r.topicId)) {
          fail(`topic ${r.name} (${r.topicId}) is not committed`);
        }
      }
    }
  }

  describe(): string {
    if (!this.up) return `${this.nodeId}:down`;
    const raft = this.raft;
    return `${this.nodeId}:${raft.role}@${raft.epoch}${this.engine.isActive ? '(active)' : ''}${this.paused ? '(paused)' : ''} hw=${raft.highWatermark} applied=${this.engine.appliedOffset}`;
  }
}
