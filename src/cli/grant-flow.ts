import { z } from 'zod';
import { meResponse } from '../api/wire.js';
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
  /** Also reuse an identical pending request of mine (wait for it instead of asking again). */
  reusePending?: boolean;
  /** Ctrl-C while waiting cancels the pending request on the server (default true). */
  cancelOnAbort?: boolean;
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

  let grant: GrantWire | undefined;
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
    if (opts.reusePending) grant = await myPendingRequest(ctx, opts);
  }

  if (grant) emit('reused', { grant });
  else grant = await newRequest(ctx, opts);
  return waitForGrant(ctx, opts, grant);
}

/** A request of mine for the same target (and role) still waiting for approval. */
async function myPendingRequest(ctx: CliContext, opts: EnsureGrantOptions): Promise<GrantWire | undefined> {
  const client = ctx.client(opts.server);
  const { grants } = await client.call('GET', '/v1/grants', grantListResponse, { query: { state: 'pending' }, signal: ctx.signal });
  if (grants.length === 0) return undefined;
  // The list also holds others' requests waiting for my decision: keep mine.
  const me = await client.call('GET', '/v1/me', meResponse, { signal: ctx.signal });
  return grants.find((g) => g.requester === me.sub && g.target === opts.target && (!opts.role || g.role === opts.role));
}

async function newRequest(ctx: CliContext, opts: EnsureGrantOptions): Promise<GrantWire> {
  const client = ctx.client(opts.server);
  const emit = opts.onEvent ?? (() => {});

  const body = {
    target: opts.target,
    role: opts.role,
    duration: opts.duration,
    reason: opts.reason,
    correlation_id: opts.correlationId ?? ctx.env.correlationId,
  };
  const { grant } = await client.call('POST', '/v1/grants', grantResponse, { body, signal: ctx.signal });
  emit('requested', { grant });
  return grant;
}

/** Waits (long-poll) for a requested grant to be decided; see ensureGrant for what it throws. */
async function waitForGrant(ctx: CliContext, opts: EnsureGrantOptions, requested: GrantWire): Promise<GrantWire> {
  const client = ctx.client(opts.server);
  const emit = opts.onEvent ?? (() => {});
  const signal = ctx.signal;
  let grant = requested;
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
  try {
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
  } catch (err) {
    // Ctrl-C while waiting: the request must not stay pending, approvable, behind the user's back.
    if (signal.aborted && opts.cancelOnAbort !== false) throw await withdraw(ctx, opts.server, grant.id, emit);
    throw err;
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

/** Cancels a pending request after Ctrl-C; returns the error to end with (exit 2), saying what happened. */
async function withdraw(ctx: CliContext, server: string, id: string, emit: NonNullable<EnsureGrantOptions['onEvent']>): Promise<Error> {
  try {
    // The command's signal is aborted; the cancel gets its own short deadline.
    const { grant } = await ctx.client(server).call('POST', `/v1/grants/${encodeURIComponent(id)}/cancel`, grantResponse, {
      body: {},
      signal: AbortSignal.timeout(10_000),
    });
    emit('cancelled', { grant });
    return new CancelledError(`Cancelled: request ${id} was withdrawn and can no longer be approved.`, { details: { grant_id: id } });
  } catch (err) {
    return new CancelledError(`Stopped waiting, but request ${id} could not be withdrawn: it stays pending and may still be approved.`, {
      hint: `Withdraw it with \`gate cancel ${id}\`.`,
      details: { grant_id: id },
      cause: err,
    });
  }
}
