import { grantListResponse, type GrantWire, type TargetSummary } from '../api/wire-grants.js';
import { ensureGrant } from '../cli/grant-flow.js';
import { GateError } from '../errors.js';
import type { McpContext } from './context.js';
import { ToolError } from './tool-error.js';

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
  if (mine) return mine;
  const roleInfo = role ? target.roles.find((r) => r.role === role) : undefined;
  const requestHint = `Call gate_request_access with {"target": "${target.name}", "role": "${role ?? target.roles[0]?.role ?? 'ROLE'}", "reason": "…"} first.`;
  if (!role) {
    throw new ToolError('error', `You have no active grant on ${target.name}, and it has several roles (${target.roles.map((r) => r.role).join(', ')}): pass "role". ${requestHint}`, {
      target: target.name,
      next: 'gate_request_access',
    });
  }
  const canAuto = mcp.autoRequest && roleInfo && !roleInfo.approval_required && (!roleInfo.reason_required || mcp.reason);
  if (!canAuto) {
    throw new ToolError('error', `You have no active grant for ${target.name}/${role}. ${requestHint}`, {
      target: target.name,
      role,
      next: 'gate_request_access',
    });
  }
  try {
    return await ensureGrant(mcp.cli, {
      server: mcp.server,
      target: target.name,
      role,
      reason: mcp.reason ?? 'requested by gate mcp',
      wait: false,
      reuse: false,
    });
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
