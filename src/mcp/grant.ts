import { z } from 'zod';
import { grantListResponse, grantSchema, type GrantWire, type TargetSummary } from '../api/wire-grants.js';
import { ensureGrant } from '../cli/grant-flow.js';
import { GateError } from '../errors.js';
import type { McpContext } from './context.js';
import { ToolError } from './tool-error.js';

const grantResponse = z.object({ grant: grantSchema });

/** The role a call means: its own, `--role` when the target has it, or the only one the caller may request. */
export function chooseRole(mcp: McpContext, target: TargetSummary, role?: string): string | undefined {
  const roles = target.roles.map((r) => r.role);
  if (role) {
    if (!roles.includes(role)) {
      throw new ToolError('denied', `You may not request role ${JSON.stringify(role)} on ${target.name}. Roles open to you: ${roles.join(', ')}.`, {
        target: target.name,
        roles,
      });
    }
    return role;
  }
  if (mcp.role && roles.includes(mcp.role)) return mcp.role;
  return roles.length === 1 ? roles[0] : undefined;
}

/** My active grants, soonest-expiring last. */
export async function activeGrants(mcp: McpContext): Promise<GrantWire[]> {
  const { grants } = await mcp.client.call('GET', '/v1/grants', grantListResponse, { query: { state: 'active' }, signal: mcp.cli.signal });
  // A grant about to run out is not handed to a new connection.
  const soon = Date.now() + 5_000;
  return grants.filter((g) => g.expires_at && Date.parse(g.expires_at) > soon);
}

/**
 * An active grant for a data tool (gate_sql, gate_schema, gate_kubectl): one
 * of mine, or, when the policy approves automatically and `--no-auto-request`
 * is not set, one gate requests now. Otherwise a tool error telling the agent
 * to call gate_request_access.
 */
export async function grantForCall(mcp: McpContext, target: TargetSummary, roleArg?: string): Promise<GrantWire> {
  const role = chooseRole(mcp, target, roleArg);
  const mine = (await activeGrants(mcp)).find((g) => g.target === target.name && (!role || g.role === role));
  mcp.grantsInUse ??= new Map();
  mcp.endedGrants ??= new Set();
  const used = mcp.grantsInUse.get(target.name);
  if (mine) {
    mcp.grantsInUse.set(target.name, { id: mine.id, role: mine.role });
    return mine;
  }
  if (used && (!role || used.role === role)) {
    // The grant this session was using ended (revoked, expired): say so, and do not quietly request a new one.
    mcp.grantsInUse.delete(target.name);
    mcp.endedGrants.add(`${target.name}/${used.role}`);
    throw grantEndedError(target.name, used.id, await grantEndState(mcp, used.id), used.role);
  }
  const roleInfo = role ? target.roles.find((r) => r.role === role) : undefined;
  const requestHint = `Call gate_request_access with {"target": "${target.name}", "role": "${role ?? target.roles[0]?.role ?? 'ROLE'}", "reason": "…"} first.`;
  if (!role) {
    throw new ToolError('error', `You have no active grant on ${target.name}, and it has several roles (${target.roles.map((r) => r.role).join(', ')}): pass "role". ${requestHint}`, {
      target: target.name,
      next: 'gate_request_access',
    });
  }
  const canAuto = mcp.autoRequest && !mcp.endedGrants.has(`${target.name}/${role}`) && roleInfo && !roleInfo.approval_required && (!roleInfo.reason_required || mcp.reason);
  if (!canAuto) {
    throw new ToolError('error', `You have no active grant for ${target.name}/${role}. ${requestHint}`, {
      target: target.name,
      role,
      next: 'gate_request_access',
    });
  }
  try {
    const grant = await ensureGrant(mcp.cli, {
      server: mcp.server,
      target: target.name,
      role,
      reason: mcp.reason ?? 'requested by gate mcp',
      wait: false,
      reuse: false,
    });
    mcp.grantsInUse.set(target.name, { id: grant.id, role: grant.role });
    return grant;
  } catch (err) {
    throw toolErrorFrom(err, target.name);
  }
}

/** A GateError from the API as the agent should read it. */
export function toolErrorFrom(err: unknown, target?: string): ToolError {
  if (err instanceof ToolError) return err;
  if (err instanceof GateError) {
    const outcome = err.code === 'GATE_ERR_ACCESS_DENIED' ? 'denied' : err.code === 'GATE_ERR_PENDING_APPROVAL' ? 'pending' : 'error';
    return new ToolError(outcome, `${err.message}${err.hint ? ` ${err.hint}` : ''}`, { ...(target ? { target } : {}), ...(err.details ?? {}) });
  }
  return new ToolError('error', String((err as Error)?.message ?? err), target ? { target } : {});
}

/** How a grant ended, as its state says (`revoked`, `expired`, …); `ended` when the server cannot tell. */
async function grantEndState(mcp: McpContext, id: string): Promise<string> {
  try {
    const { grant } = await mcp.client.call('GET', `/v1/grants/${encodeURIComponent(id)}`, grantResponse, { signal: mcp.cli.signal });
    if (grant.state === 'active') return 'expiring';
    return grant.state;
  } catch {
    return 'ended';
  }
}

/** The tool error for a call whose grant ended: what happened, that its tunnel is closed, and how to get a new one. */
export function grantEndedError(target: string, grantId: string, state: string, role?: string): ToolError {
  const how = state === 'revoked' ? 'was revoked' : state === 'expired' ? 'expired' : state === 'expiring' ? 'is about to expire' : `ended (${state})`;
  return new ToolError(
    'error',
    `Your grant ${grantId} on ${target}${role ? `/${role}` : ''} ${how}; its tunnel is closed and gate will not use it again. ` +
      `To continue, call gate_request_access with {"target": "${target}", "role": "${role ?? 'ROLE'}", "reason": "…"} to request a new grant, then retry.`,
    { target, grant_id: grantId, grant_state: state, grant_ended: true, next: 'gate_request_access' },
  );
}
