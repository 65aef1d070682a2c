import { describe, expect, it } from 'vitest';
import { isFinal, nextState, type GrantAction } from '../../src/server/grants/state.js';
import { GRANT_STATES, type GrantState } from '../../src/server/grants/types.js';

const ACTIONS: GrantAction[] = ['approve', 'activate', 'deny', 'cancel', 'revoke', 'expire'];

const LEGAL: Record<string, GrantState> = {
  'pending approve': 'pending',
  'pending activate': 'active',
  'pending deny': 'denied',
  'pending cancel': 'cancelled',
  'active revoke': 'revoked',
  'active expire': 'expired',
};

describe('grant state machine', () => {
  it('allows exactly pending → active → expired | revoked and pending → denied | cancelled', () => {
    for (const from of GRANT_STATES) {
      for (const action of ACTIONS) {
        expect(nextState(from, action), `${from} ${action}`).toBe(LEGAL[`${from} ${action}`]);
      }
    }
  });

  it('refuses every other transition, and the ended states are final', () => {
    const refused = GRANT_STATES.flatMap((from) => ACTIONS.filter((a) => !LEGAL[`${from} ${a}`]).map((a) => `${from} ${a}`));
    expect(refused).toHaveLength(GRANT_STATES.length * ACTIONS.length - Object.keys(LEGAL).length);
    expect(refused).toContain('active cancel');
    expect(refused).toContain('pending revoke');
    expect(refused).toContain('expired revoke');
    expect(GRANT_STATES.filter(isFinal)).toEqual(['expired', 'revoked', 'denied', 'cancelled']);
  });
});
