import { z } from 'zod';
import type { GrantWire } from '../../api/wire-grants.js';
import { ensureGrant } from '../../cli/grant-flow.js';
import { parseDurationFlag } from '../../cli/parse.js';
import { GateError } from '../../errors.js';
import { offeredTarget } from '../context.js';
import { chooseRole, toolErrorFrom } from '../grant.js';
import { ToolError } from '../tool-error.js';
import type { ToolDefinition } from '../tool.js';

const input = {
  target: z.string().describe('target name from gate_targets'),
  role: z.string().describe('role to request on that target'),
  duration: z.string().optional().describe('how long, e.g. "30m" or "2h" (capped at the policy maximum; default 1h)'),
  reason: z.string().describe('why you need access: shown to approvers and kept in the audit log'),
};

export const requestAccessTool: ToolDefinition<typeof input> = {
  name: 'gate_request_access',
  title: 'Request (or reuse) a grant on a target',
  description:
    'Requests just-in-time access to a target with a role, or reuses your active grant for it. Returns at once with ' +
    'the grant: state "active" (use the data tools now, until expires_at) or "pending" (a human approver must decide: ' +
    'the result names the grant id g_… and the approvers; call gate_grant_status with that id later to check again, ' +
    'do not request again). A tool error means policy does not allow it (not retryable) or the request was invalid.',
  input,
  async run(mcp, args) {
    const target = await offeredTarget(mcp, args.target, ['postgres', 'kubernetes', 'tcp', 'http', 'mcp']);
    const role = chooseRole(mcp, target, args.role);
    if (args.duration) {
      try {
        parseDurationFlag(args.duration, 'duration');
      } catch (err) {
        throw new ToolError('error', (err as Error).message, { target: target.name });
      }
    }
    let grant: GrantWire;
    try {
      grant = await ensureGrant(mcp.cli, {
        server: mcp.server,
        target: target.name,
        role,
        duration: args.duration,
        reason: args.reason,
        wait: false,
      });
    } catch (err) {
      if (err instanceof GateError && err.code === 'GATE_ERR_PENDING_APPROVAL') {
        const id = String(err.details?.grant_id ?? '');
        const approvers = (err.details?.approvers as string[] | undefined) ?? [];
        const structured = {
          grant: { id, target: target.name, role, state: 'pending', approvers },
          next: `Call gate_grant_status with {"id": "${id}"} to check again; an approver runs \`gate approve ${id}\`.`,
        };
        return {
          structured,
          text: `Grant ${id} for ${target.name}/${role} is pending approval by ${approvers.join(', ') || 'an approver'}. ${structured.next}`,
          target: target.name,
          grantId: id,
          outcome: 'pending',
        };
      }
      throw toolErrorFrom(err, target.name);
    }
    // An explicit request after a grant ended: gate may request again by itself from now on.
    mcp.endedGrants?.delete(`${target.name}/${grant.role}`);
    return {
      structured: { grant: grantView(grant) },
      text: `Grant ${grant.id} for ${grant.target}/${grant.role} is active until ${grant.expires_at}.`,
      target: target.name,
      grantId: grant.id,
    };
  },
};

/** What an agent needs of a grant (no internal bookkeeping). */
export function grantView(g: GrantWire): Record<string, unknown> {
  return {
    id: g.id,
    target: g.target,
    role: g.role,
    state: g.state,
    approvers: g.approvers,
    approvals_required: g.approvals_required,
    approvals: g.approvals.map((a) => a.by),
    ...(g.expires_at ? { expires_at: g.expires_at } : {}),
    ...(g.ended_by ? { ended_by: g.ended_by } : {}),
    ...(g.comment ? { comment: g.comment } : {}),
  };
}
