// Payloads of the control entries the core writes itself. A new leader opens
// its epoch with a `leader-change` entry (committing it commits everything
// before it, and it carries the epoch's leader for readers of the log). The
// first leader of an empty log also writes one `voters` entry with the static
// voter set, so a later dynamic-membership change (KIP-853 style) has a place
// to start from without a format change.
//
// The payloads are small versioned JSON documents: they are rare, and readable
// bytes make log dumps and golden test files easy to read.

import { assert } from '@raftka/common';
import type { NodeId } from './types.js';

export interface LeaderChangeRecord {
  version: 0;
  leaderId: NodeId;
  epoch: number;
  /** Voters that granted this leader its epoch, as far as it knows. */
  grantingVoters: NodeId[];
}

export interface VotersRecord {
  version: 0;
  voters: NodeId[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeLeaderChange(record: LeaderChangeRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

export function decodeLeaderChange(data: Uint8Array): LeaderChangeRecord {
  const record = JSON.parse(decoder.decode(data)) as LeaderChangeRecord;
  assert(record.version === 0, `unknown leader-change record version ${record.version}`);
  return record;
}

export function encodeVoters(record: VotersRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

export function decodeVoters(data: Uint8Array): VotersRecord {
  const record = JSON.parse(decoder.decode(data)) as VotersRecord;
  assert(record.version === 0, `unknown voters record version ${record.version}`);
  return record;
}
