import type { GrantState } from './types.js';

/** What can happen to a grant. */
export type GrantAction = 'approve' | 'deny' | 'cancel' | 'revoke' | 'expire' | 'activate';

/**
 * The grant state machine, in one table: from each state, which action leads
 * where. Anything not listed is illegal (409 invalid_state). `approve` on a
 * pending grant may leave it pending (min: 2), so it maps to itself here; the
 * service decides when enough approvals make it `activate`.
 */
const TRANSITIONS: Record<GrantState, Partial<Record<GrantAction, GrantState>>> = {
  pending: { approve: 'pending', activate: 'active', deny: 'denied', cancel: 'cancelled' },
  active: { revoke: 'revoked', expire: 'expired' },
  expired: {},
  revoked: {},
  denied: {},
  cancelled: {},
};

/** The state `action` leads to from `from`, or undefined when it is not allowed. */
export function nextState(from: GrantState, action: GrantAction): GrantState | undefined {
  return TRANSITIONS[from][action];
}

/** True for states no action leaves. */
export function isFinal(state: GrantState): boolean {
  return Object.keys(TRANSITIONS[state]).length === 0;
}
