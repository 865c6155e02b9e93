// The simulated network between nodes. It decides, for every message a node
// sends, whether and when it arrives: it drops, duplicates and delays messages
// (each copy gets its own random delay, so messages also overtake each other),
// and it holds partitions as a set of blocked directed links, so a partition
// can be symmetric (both directions blocked) or one-way. A partition is silent:
// unlike a crash, nobody is told the link is gone. The network does not know
// what the messages mean, so broker and client traffic can share it later.

import { assert, type SeededRandom } from '@raftka/common';
import type { NodeId } from '@raftka/raft';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropProbability: number;
  /** Probability that a message is delivered twice (each copy delayed independently). */
  duplicateProbability: number;
  delayMinMs: number;
  delayMaxMs: number;
  /** Probability that a message is held back an extra `slowDelayMaxMs` at most (a slow path). */
  slowProbability: number;
  slowDelayMaxMs: number;
}

export const RELIABLE_NETWORK: NetworkFaults = {
  dropProbability: 0,
  duplicateProbability: 0,
  delayMinMs: 1,
  delayMaxMs: 5,
  slowProbability: 0,
  slowDelayMaxMs: 0,
};

export interface Addressed {
  from: NodeId;
  to: NodeId;
}

export class SimNetwork {
  faults: NetworkFaults = { ...RELIABLE_NETWORK };
  readonly #random: SeededRandom;
  /** Blocked directed links, keyed `from>to`. */
  readonly #blocked = new Set<string>();
  sent = 0;
  dropped = 0;
  duplicated = 0;

  constructor(random: SeededRandom) {
    this.#random = random;
  }

  /**
   * Decides the fate of one message sent at `nowMs`: the times its copies
   * arrive (none if it is lost, two if duplicated).
   */
  route(message: Addressed, nowMs: number): number[] {
    assert(message.from !== message.to, () => `node ${message.from} sent a message to itself`);
    this.sent++;
    if (this.isBlocked(message.from, message.to) || this.#random.chance(this.faults.dropProbability)) {
      this.dropped++;
      return [];
    }
    const copies = this.#random.chance(this.faults.duplicateProbability) ? 2 : 1;
    if (copies === 2) this.duplicated++;
    const times: number[] = [];
    for (let i = 0; i < copies; i++) times.push(nowMs + this.#delayMs());
    return times;
  }

  #delayMs(): number {
    const { delayMinMs, delayMaxMs, slowProbability, slowDelayMaxMs } = this.faults;
    let delayMs = this.#random.int(delayMinMs, delayMaxMs + 1);
    if (slowDelayMaxMs > 0 && this.#random.chance(slowProbability)) delayMs += this.#random.int(0, slowDelayMaxMs + 1);
    return delayMs;
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.#blocked.has(`${from}>${to}`);
  }

  /** Blocks traffic from `from` to `to` only (a one-way partition). */
  blockOneWay(from: NodeId, to: NodeId): void {
    this.#blocked.add(`${from}>${to}`);
  }

  /** Splits the nodes into groups that cannot reach each other in either direction. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (let a = 0; a < groups.length; a++) {
      for (let b = 0; b < groups.length; b++) {
        if (a === b) continue;
        for (const from of groups[a] ?? []) for (const to of groups[b] ?? []) this.blockOneWay(from, to);
      }
    }
  }

  /** Cuts one node off from every other node, both ways. */
  isolate(node: NodeId, others: readonly NodeId[]): void {
    this.partition([[node], others.filter((n) => n !== node)]);
  }

  heal(): void {
    this.#blocked.clear();
  }

  get partitioned(): boolean {
    return this.#blocked.size > 0;
  }

  describePartitions(): string {
    return [...this.#blocked].sort().join(',');
  }
}
