import type { TargetSummary } from '../api/wire-grants.js';
import type { CliContext } from './context.js';
import { type Grant, ensureGrant } from './grant-flow.js';
import { grantProgress } from './grant-progress.js';
import { parseDurationFlag } from './parse.js';
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
  const grant = await ensureGrant(ctx, {
    server,
    target: targetName,
    role: flags.role,
    duration: flags.for,
    reason: flags.reason,
    wait: true,
    timeoutMs,
    onEvent: grantProgress(ctx, options.json, flags.for),
  });
  return { target, grant };
}
