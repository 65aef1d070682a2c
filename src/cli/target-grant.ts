import { grantListResponse, type TargetSummary } from '../api/wire-grants.js';
import type { CliContext } from './context.js';
import { ensureGrant, type Grant } from './grant-flow.js';
import { grantProgress } from './grant-progress.js';
import { canPrompt } from './io.js';
import { parseDurationFlag } from './parse.js';
import { pickRole } from './role-picker.js';
import { targetInfo } from './target-info.js';

/** The grant flags connect, exec, psql and kubectl share. */
export interface GrantFlags {
  role?: string;
  for?: string;
  reason?: string;
  timeout?: string;
  correlationId?: string;
}

/**
 * What every tunnel command does first: validate the grant flags, look the
 * target up, and get an active grant for it (reusing one, or requesting one
 * and waiting for approval up to `--timeout`).
 */
export async function grantForTarget(
  ctx: CliContext,
  server: string,
  targetName: string,
  flags: GrantFlags,
  options: { json: boolean; defaultTimeout?: string },
): Promise<{ target: TargetSummary; grant: Grant }> {
  if (flags.correlationId) ctx.env.correlationId = flags.correlationId;
  if (flags.for) parseDurationFlag(flags.for, '--for');
  const timeout = flags.timeout ?? options.defaultTimeout;
  const timeoutMs = timeout ? parseDurationFlag(timeout, '--timeout') : undefined;
  const target = await targetInfo(ctx, server, targetName);
  const onEvent = grantProgress(ctx, options.json, flags.for);
  const grant = await ensureGrant(ctx, {
    server,
    target: targetName,
    role: await chooseRole(ctx, server, target, flags.role),
    duration: flags.for,
    reason: flags.reason,
    wait: true,
    timeoutMs,
    onEvent,
  }).finally(onEvent.stop);
  return { target, grant };
}

/**
 * --role, else (several roles open, a terminal, no active grant to reuse) the
 * user's pick; otherwise none, and the server applies the only role or the
 * target's default_role.
 */
async function chooseRole(ctx: CliContext, server: string, target: TargetSummary, role: string | undefined): Promise<string | undefined> {
  if (role || target.roles.length < 2 || !canPrompt(ctx.io, ctx.env, ctx.noInput)) return role;
  const { grants } = await ctx.client(server).call('GET', '/v1/grants', grantListResponse, { query: { state: 'active' }, signal: ctx.signal });
  if (grants.some((g) => g.target === target.name)) return undefined; // ensureGrant reuses it.
  return pickRole(ctx.io, ctx.style, target, ctx.signal);
}
