// The simulated admin client: runs a fixed list of admin operations (cluster
// config changes, topic creations) through the active controller, one
// request at a time, retrying on NOT_CONTROLLER (asking the next
// controller), on a lost answer and on errors that go away (too few unfenced
// brokers yet). It never crashes.

import type { SeededRandom } from '@raftka/common';
import type { AlterConfigsResource, CreatableTopic } from '@raftka/metadata';
import type { NodeId } from '@raftka/raft';
import type { SimMessage, SimNode, World } from '../world.js';
import type { ControlPlaneRequest, ControlPlaneResponse } from './messages.js';

export type AdminOp =
  | { readonly kind: 'create-topic'; readonly topic: CreatableTopic }
  | { readonly kind: 'alter-configs'; readonly resources: AlterConfigsResource[] };

const REQUEST_TIMEOUT_MS = 2000;
const RETRY_BACKOFF_MS = 100;

export class AdminClient implements SimNode {
  readonly nodeId: NodeId;
  readonly up = true;
  readonly incarnation = 0;
  readonly #world: World;
  readonly #voterIds: readonly NodeId[];
  readonly #pending: AdminOp[];
  /** Topic name -> topic id, once the creation committed (or the topic already existed). */
  readonly created = new Map<string, string | null>();
  #inflight: { correlationId: number; sentMs: number; op: AdminOp } | undefined;
  #nextSendMs: number;
  #target = 0;
  #nextCorrelationId = 1;
  /** Hint for the active controller, from the cluster's view (like a client's metadata cache). */
  leaderHint: () => NodeId;

  constructor(nodeId: NodeId, world: World, voterIds: readonly NodeId[], ops: readonly AdminOp[], startMs: number) {
    this.nodeId = nodeId;
    this.#world = world;
    this.#voterIds = voterIds;
    this.#pending = [...ops];
    this.#nextSendMs = startMs;
    this.leaderHint = () => -1;
  }

  get done(): boolean {
    return this.#pending.length === 0 && this.#inflight === undefined;
  }

  receive(raw: SimMessage, nowMs: number): void {
    const message = raw as ControlPlaneResponse;
    if (this.#inflight?.correlationId !== message.correlationId) return;
    const { op } = this.#inflight;
    let done = false;
    let notController = false;
    if (message.type === 'CreateTopicsResponse' && op.kind === 'create-topic') {
      const outcome = message.outcome;
      const result = outcome.ok ? outcome.response[0] : undefined;
      if (result !== undefined && (result.error === null || result.error.errorName === 'TOPIC_ALREADY_EXISTS')) {
        this.created.set(op.topic.name, result.topicId);
        done = true;
      }
      notController = !outcome.ok && outcome.error.errorName === 'NOT_CONTROLLER';
    } else if (message.type === 'IncrementalAlterConfigsResponse' && op.kind === 'alter-configs') {
      const outcome = message.outcome;
      done = outcome.ok && outcome.response.every((r) => r.error === null);
      notController = !outcome.ok && outcome.error.errorName === 'NOT_CONTROLLER';
    } else {
      return;
    }
    this.#inflight = undefined;
    if (done) {
      this.#pending.shift();
      this.#nextSendMs = nowMs;
      return;
    }
    if (notController) this.#target++;
    this.#nextSendMs = nowMs + RETRY_BACKOFF_MS;
  }

  tick(nowMs: number): void {
    if (this.#inflight !== undefined && nowMs - this.#inflight.sentMs >= REQUEST_TIMEOUT_MS) {
      this.#inflight = undefined;
      this.#target++;
      this.#nextSendMs = nowMs;
    }
    const op = this.#pending[0];
    if (this.#inflight !== undefined || op === undefined || nowMs < this.#nextSendMs) return;
    const hint = this.leaderHint();
    const to = this.#voterIds.includes(hint) ? hint : (this.#voterIds[this.#target % this.#voterIds.length] as NodeId);
    const correlationId = this.#nextCorrelationId++;
    this.#inflight = { correlationId, sentMs: nowMs, op };
    const request: ControlPlaneRequest =
      op.kind === 'create-topic'
        ? { type: 'CreateTopicsRequest', from: this.nodeId, to, correlationId, topics: [op.topic] }
        : { type: 'IncrementalAlterConfigsRequest', from: this.nodeId, to, correlationId, resources: op.resources };
    this.#world.send(request);
  }

  nextDeadlineMs(): number {
    if (this.#inflight !== undefined) return this.#inflight.sentMs + REQUEST_TIMEOUT_MS;
    return this.#pending.length > 0 ? this.#nextSendMs : Number.POSITIVE_INFINITY;
  }

  peerDisconnected(): void {}

  crash(_random: SeededRandom): void {
    throw new Error('the admin client does not crash');
  }

  restart(): void {}

  describe(): string {
    return `${this.nodeId}:client created=${this.created.size} pending=${this.#pending.length}`;
  }
}
