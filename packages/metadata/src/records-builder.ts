// A handler's records under construction. Some decisions depend on earlier
// records of the same batch (fencing two brokers: the second fence must not
// elect the first as leader; creating two topics: the second must see the
// first's name), so the batch keeps a scratch image with those records
// replayed at stand-in offsets. The scratch image is only read for decisions
// inside the handler; the real image comes from replaying the committed
// records at their real offsets.

import { MetadataDelta } from './delta.js';
import type { MetadataImage } from './image.js';
import type { PartitionChangeOutcome } from './partition-change.js';
import type { MetadataRecord } from './records.js';
import type { ReplayedBatch } from './requests.js';

export class RecordsBuilder {
  readonly records: MetadataRecord[] = [];
  /** Leader changes decided in this batch. */
  elections = 0;
  uncleanElections = 0;
  /** The image the handler decided on. */
  readonly base: MetadataImage;
  #image: MetadataImage;
  #delta: MetadataDelta | null = null;
  #nextOffset: number;

  constructor(image: MetadataImage) {
    this.base = image;
    this.#image = image;
    this.#nextOffset = image.offset + 1;
  }

  /**
   * The batch as replayed at stand-in offsets from `base.offset + 1`: when
   * the log assigns exactly those, the scratch image is the real next image
   * and the active controller takes it instead of replaying the batch again
   * (after a broker failure that is ten thousand partition changes).
   */
  replayed(): ReplayedBatch | undefined {
    if (this.records.length === 0) return undefined;
    return { records: this.records, base: this.base, fromOffset: this.base.offset + 1, image: () => this.image };
  }

  /** The image as if this batch's records so far were replayed. */
  get image(): MetadataImage {
    if (this.#delta !== null) {
      this.#image = this.#delta.apply();
      this.#delta = null;
    }
    return this.#image;
  }

  add(record: MetadataRecord): void {
    this.records.push(record);
    this.#delta ??= new MetadataDelta(this.#image);
    this.#delta.replay(record, this.#nextOffset++);
  }

  addChange(outcome: PartitionChangeOutcome): void {
    if (outcome.record === null) return;
    this.add(outcome.record);
    if (outcome.leaderChanged) this.elections++;
    if (outcome.unclean) this.uncleanElections++;
  }
}
