// The role transition table and its assertion.
import { AssertionError } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { assertTransition, ROLE_TRANSITIONS, type RoleKind } from '../src/roles.js';

const ALL: RoleKind[] = ['unattached', 'follower', 'prospective', 'candidate', 'leader', 'resigned'];

describe('role transitions', () => {
  it('allows exactly the table and names both states otherwise', () => {
    for (const from of ALL) {
      for (const to of ALL) {
        if (ROLE_TRANSITIONS[from].includes(to)) {
          expect(() => assertTransition(from, to, false)).not.toThrow();
        } else {
          expect(() => assertTransition(from, to, false)).toThrow(`illegal Raft role transition ${from} -> ${to}`);
        }
      }
    }
  });

  it('forbids the shortcuts Raft must not take', () => {
    expect(() => assertTransition('unattached', 'candidate', false)).toThrow(AssertionError);
    expect(() => assertTransition('follower', 'leader', false)).toThrow('follower -> leader');
    expect(() => assertTransition('leader', 'candidate', false)).toThrow('leader -> candidate');
    expect(() => assertTransition('prospective', 'leader', false)).toThrow('prospective -> leader');
    expect(() => assertTransition('resigned', 'leader', false)).toThrow('resigned -> leader');
  });

  it('keeps observers to unattached and follower', () => {
    expect(() => assertTransition('unattached', 'follower', true)).not.toThrow();
    expect(() => assertTransition('follower', 'unattached', true)).not.toThrow();
    expect(() => assertTransition('follower', 'prospective', true)).toThrow('follower -> prospective for an observer');
  });
});
