// Mutants of the real Raft core: the real RaftNode behind a wrapper that
// breaks one promise of the Ready contract or of storage. Each must be caught
// by some invariant on some seed, which shows the checkers catch realistic
// bugs in the real protocol, not only in toy fakes.

import type { Ready } from '@raftka/raft';
import { type RaftCore, type RaftCoreFactory, realRaftCore } from '../src/index.js';

/** The core's Readies never ask for fsync, so votes and appended entries can vanish in a crash. */
export const neverSyncs: RaftCoreFactory = (config, persisted, random, nowMs) => {
  const core = realRaftCore(config, persisted, random, nowMs);
  const ready = core.ready.bind(core);
  return Object.assign(core, {
    ready(): Ready {
      return { ...ready(), mustSync: false };
    },
  }) as RaftCore;
};

/** A follower that claims, in its fetches, one entry more than it has. */
export const overstatesFetchOffset: RaftCoreFactory = (config, persisted, random, nowMs) => {
  const core = realRaftCore(config, persisted, random, nowMs);
  const ready = core.ready.bind(core);
  return Object.assign(core, {
    ready(): Ready {
      const r = ready();
      const messages = r.messages.map((m) =>
        m.type === 'FetchRequest' ? { ...m, fetchOffset: m.fetchOffset + 1 } : m,
      );
      return { ...r, messages };
    },
  }) as RaftCore;
};
