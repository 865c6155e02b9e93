// Safety invariants of the control plane, checked after every event on every
// running node's *committed* metadata image (a controller's committed image,
// a broker's loaded image):
//
// - FencedLeadsNothing: no partition is led by a broker that is fenced, in
//   controlled shutdown, or unknown. Fencing writes the leader moves first and
//   the fence last, so once the fence is committed the moves are too.
// - LeaderInIsr: every partition's leader is in its ISR, or -1.
// - MonotonicPartitionEpochs: on a node, a partition's leader epoch and
//   partition epoch never go back from one image to the next (a restart
//   starts the comparison afresh; the agreement check covers the rest).
// - ImagesAgree: every node's image at the same metadata offset is the same,
//   compared by a CRC-32C of the canonical snapshot bytes.
//
// Images are immutable, so each node's image is examined only when it
// changes (object identity), which keeps the per-event cost small.

import { crc32c } from '@raftka/common';
import type { MetadataImage } from '@raftka/metadata';
import type { NodeId } from '@raftka/raft';

export const CONTROL_PLANE_INVARIANTS = [
  'FencedLeadsNothing',
  'LeaderInIsr',
  'MonotonicPartitionEpochs',
  'ImagesAgree',
] as const;
export type ControlPlaneInvariant = (typeof CONTROL_PLANE_INVARIANTS)[number];

export interface ImageSource {
  readonly nodeId: NodeId;
  readonly up: boolean;
  readonly incarnation: number;
  /** The committed image, or undefined while the node is down. */
  committedMetadataImage(): MetadataImage | undefined;
}

interface NodeView {
  incarnation: number;
  image: MetadataImage | undefined;
}

const HASHES_MAX = 1_000_000;

export class ControlPlaneInvariants {
  readonly #fail: (invariant: ControlPlaneInvariant, detail: string) => never;
  readonly #views = new Map<NodeId, NodeView>();
  /** Metadata offset -> image hash and the node that first reported it. */
  readonly #hashByOffset = new Map<number, { hash: number; nodeId: NodeId }>();
  readonly #hashes = new WeakMap<MetadataImage, number>();
  imagesChecked = 0;

  constructor(fail: (invariant: ControlPlaneInvariant, detail: string) => never) {
    this.#fail = fail;
  }

  check(nodes: readonly ImageSource[]): void {
    for (const node of nodes) {
      if (!node.up) continue;
      const image = node.committedMetadataImage();
      if (image === undefined) continue;
      let view = this.#views.get(node.nodeId);
      if (view === undefined || view.incarnation !== node.incarnation) {
        view = { incarnation: node.incarnation, image: undefined };
        this.#views.set(node.nodeId, view);
      }
      if (view.image === image) continue;
      this.#checkImage(node.nodeId, image, view.image);
      view.image = image;
    }
  }

  #checkImage(nodeId: NodeId, image: MetadataImage, previous: MetadataImage | undefined): void {
    this.imagesChecked++;
    const where = `node ${nodeId} at metadata offset ${image.offset}`;
    for (const topic of image.topicsById.values()) {
      topic.partitions.forEach((p, i) => {
        const name = `${topic.name}-${i}`;
        if (p.leader !== -1) {
          if (!p.isr.includes(p.leader)) {
            this.#fail('LeaderInIsr', `${where}: ${name} leader ${p.leader} is not in its ISR [${p.isr.join(',')}]`);
          }
          const broker = image.broker(p.leader);
          if (broker === undefined || broker.fenced || broker.inControlledShutdown) {
            const state = broker === undefined ? 'unregistered' : broker.fenced ? 'fenced' : 'in controlled shutdown';
            this.#fail('FencedLeadsNothing', `${where}: ${name} is led by broker ${p.leader}, which is ${state}`);
          }
        }
        const before = previous?.topicsById.get(topic.topicId)?.partitions[i];
        if (before !== undefined && (p.leaderEpoch < before.leaderEpoch || p.partitionEpoch < before.partitionEpoch)) {
          this.#fail(
            'MonotonicPartitionEpochs',
            `${where}: ${name} went from leader epoch ${before.leaderEpoch} / partition epoch ${before.partitionEpoch} to ${p.leaderEpoch} / ${p.partitionEpoch}`,
          );
        }
      });
    }
    const hash = this.#hash(image);
    const seen = this.#hashByOffset.get(image.offset);
    if (seen === undefined) {
      if (this.#hashByOffset.size < HASHES_MAX) this.#hashByOffset.set(image.offset, { hash, nodeId });
    } else if (seen.hash !== hash) {
      this.#fail(
        'ImagesAgree',
        `${where}: image hash ${hash.toString(16)} differs from node ${seen.nodeId}'s ${seen.hash.toString(16)} at the same offset`,
      );
    }
  }

  #hash(image: MetadataImage): number {
    let hash = this.#hashes.get(image);
    if (hash === undefined) {
      hash = crc32c(image.toBytes());
      this.#hashes.set(image, hash);
    }
    return hash;
  }
}
