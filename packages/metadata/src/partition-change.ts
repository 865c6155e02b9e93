// Deciding one partition's next leader and ISR: the controller's
// PartitionChangeBuilder. Every handler that touches a partition (fencing,
// controlled shutdown, unfencing, AlterPartition, leader elections) goes
// through here, so the election order is written once:
//
//   1. keep the current leader if it is in the ISR and may lead;
//   2. else the first replica in assignment order that is in the ISR and
//      may lead (unfenced, not in controlled shutdown);
//   3. else, only where the topic allows unclean election, the first replica in
//      assignment order that may lead; the ISR becomes just that replica;
//   4. else no leader (-1): the partition is offline.
//
// A preferred election tries replicas[0] first. The ISR never becomes empty:
// removing its last member leaves that member in place, so the partition comes
// back when that broker does (it alone is known to have every committed record).
// The result is a PartitionChange record, or none when nothing would change.
import { assert } from '@raftka/common';
import { NO_LEADER, type PartitionRegistration } from './image.js';
import type { PartitionChangeRecord } from './records.js';

export type ElectionKind = 'online' | 'preferred';

export interface PartitionChangeInput {
  readonly topicId: string;
  readonly partition: number;
  readonly current: PartitionRegistration;
  /** Unfenced and not shutting down, as of the records this change is batched with. */
  readonly mayLead: (brokerId: number) => boolean;
  /** The ISR to move to; defaults to the current one. */
  readonly targetIsr?: readonly number[];
  readonly election: ElectionKind;
  readonly uncleanAllowed: boolean;
}

export interface PartitionChangeOutcome {
  readonly record: PartitionChangeRecord | null;
  readonly leader: number;
  readonly isr: readonly number[];
  readonly leaderChanged: boolean;
  readonly unclean: boolean;
}

export function buildPartitionChange(input: PartitionChangeInput): PartitionChangeOutcome {
  const { current, mayLead } = input;
  assert(current.isr.length > 0, `partition ${input.topicId}-${input.partition} has an empty ISR`);
  let isr = input.targetIsr ?? current.isr;
  // The last member stays: it is the only replica known to hold every committed record.
  if (isr.length === 0) isr = current.isr.length === 1 ? current.isr : [current.isr[current.isr.length - 1]!];
  const inIsrAndMayLead = (id: number): boolean => isr.includes(id) && mayLead(id);

  let leader = NO_LEADER;
  let unclean = false;
  const preferred = current.replicas[0]!;
  if (input.election === 'preferred' && inIsrAndMayLead(preferred)) {
    leader = preferred;
  } else if (current.leader !== NO_LEADER && inIsrAndMayLead(current.leader)) {
    leader = current.leader;
  } else {
    leader = current.replicas.find(inIsrAndMayLead) ?? NO_LEADER;
    if (leader === NO_LEADER && input.uncleanAllowed) {
      leader = current.replicas.find(mayLead) ?? NO_LEADER;
      if (leader !== NO_LEADER) {
        unclean = true;
        isr = [leader];
      }
    }
  }
  assert(leader === NO_LEADER || isr.includes(leader), 'a leader is always in the ISR');
  assert(isr.length > 0, 'the ISR never becomes empty');

  const leaderChanged = leader !== current.leader;
  const isrChanged = !sameMembers(isr, current.isr);
  const record: PartitionChangeRecord | null =
    leaderChanged || isrChanged
      ? {
          type: 'PartitionChange',
          topicId: input.topicId,
          partition: input.partition,
          leader: leaderChanged ? leader : null,
          isr: isrChanged ? [...isr] : null,
          replicas: null,
        }
      : null;
  return { record, leader, isr, leaderChanged, unclean };
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
