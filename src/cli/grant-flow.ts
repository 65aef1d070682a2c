import { z } from 'zod';
import { type GrantWire, grantListResponse, grantSchema } from '../api/wire-grants.js';
import { AccessDeniedError, CancelledError, PendingApprovalError } from '../errors.js';
import type { CliContext } from './context.js';

export type { GrantWire as Grant } from '../api/wire-grants.js';
export { grantSchema } from '../api/wire-grants.js';

/** The events `ensureGrant` reports, in the order they can happen (NDJSON names of `--json`). */
export type GrantEventName = 'reused' | 'requested' | 'waiting_approval' | 'approved' | 'denied' | 'cancelled' | 'expired' | 'revoked';

export interface EnsureGrantOptions {
  server: string;
  target: string;
  /** Omit when the caller may request exactly one role on the target. */
  role?: string;
  /** `30m`, `2h`, or seconds; the server caps it at the policy's max_duration. */
  duration?: string;
  reason?: string;
  correlationId?: string;
  /** false: return at once when approval is needed (PendingApprovalError, exit 8). */
  wait: boolean;
  /** Give up waiting after this long (PendingApprovalError, exit 8). Default: wait until Ctrl-C. */
  timeoutMs?: number;
  /** Reuse an active grant of mine for target (+role) instead of asking again (default true). */
  reuse?: boolean;
  onEvent?(name: GrantEventName, fields: Record<string, unknown>): void;
}

const grantResponse = z.object({ grant: grantSchema });
/** One long-poll round; the server caps a wait at 60 s. */
const POLL_S = 30;

/**
 * Returns an active grant for the target: one of mine still active, or a new
 * request, waiting for approval when needed. Throws AccessDeniedError (exit 5)
 * when policy or an approver says no, PendingApprovalError (exit 8, details
 * carry `grant_id`) when it is still pending and `wait` is false or the
 * timeout passed, CancelledError on Ctrl-C.
 */
export async function ensureGrant(ctx: CliContext, opts: EnsureGrantOptions): Promise<GrantWire> {
  const client = ctx.client(opts.server);
  const emit = opts.onEvent ?? (() => {});
  const signal = ctx.signal;

  if (opts.reuse !== false) {
    const { grants } = await client.call('GET', '/v1/grants', grantListResponse, { query: { state: 'active' }, signal });
    // Keep a little margin so a grant about to run out is not handed to a new session.
    const soon = ctx.now().getTime() + 5_000;
    const mine = grants.find(
      (g) => g.target === opts.target && (!opts.role || g.role === opts.role) && g.expires_at && new Date(g.expires_at).getTime() > soon,
    );
    if (mine) {
      emit('reused', { grant: mine });
      return mine;
    }
  }

  const body = {
    target: opts.target,
    role: opts.role,
    duration: opts.duration,
    reason: opts.reason,
    correlation_id: opts.correlationId ?? ctx.env.correlationId,
  };
  let { grant } = await client.call('POST', '/v1/grants', grantResponse, { body, signal });
  emit('requested', { grant });
  if (grant.state === 'active') {
    emit('approved', { grant });
    return grant;
  }
  emit('waiting_approval', { grant_id: grant.id, approvers: grant.approvers, approvals_required: grant.approvals_required });
  const pending = () =>
    new PendingApprovalError(`Grant ${grant.id} is waiting for approval by ${grant.approvers.join(', ')}.`, {
      hint: `An approver runs \`gate approve ${grant.id}\`; check with \`gate grants\`.`,
      details: { grant_id: grant.id, approvers: grant.approvers },
    });
  if (!opts.wait) throw pending();

  const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeoutMs;
  while (grant.state === 'pending') {
    const left = deadline - Date.now();
    if (left <= 0) throw pending();
    const wait = Math.max(1, Math.min(POLL_S, Math.ceil(left / 1000)));
    ({ grant } = await client.call('GET', `/v1/grants/${encodeURIComponent(grant.id)}`, grantResponse, {
      query: { wait, state: 'pending' },
      timeoutMs: (wait + 15) * 1000,
      signal,
    }));
  }
  switch (grant.state) {
    case 'active':
      emit('approved', { grant });
      return grant;
    case 'denied':
      emit('denied', { grant });
      throw new AccessDeniedError(
        `Grant ${grant.id} was denied by ${grant.ended_by ?? 'an approver'}${grant.comment ? `: ${grant.comment}` : '.'}`,
        { details: { grant_id: grant.id, state: grant.state } },
      );
    case 'cancelled':
      emit('cancelled', { grant });
      throw new CancelledError(`Grant ${grant.id} was cancelled.`, { details: { grant_id: grant.id } });
    default:
      // Approved and already over (expired or revoked) before we saw it.
      emit(grant.state, { grant });
      throw new AccessDeniedError(`Grant ${grant.id} is ${grant.state}.`, { details: { grant_id: grant.id, state: grant.state } });
  }
}
