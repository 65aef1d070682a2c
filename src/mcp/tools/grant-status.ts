import { z } from 'zod';
import { commandApprovalSchema, grantSchema } from '../../api/wire-grants.js';
import { toolErrorFrom } from '../grant.js';
import { ToolError } from '../tool-error.js';
import type { ToolDefinition } from '../tool.js';
import { grantView } from './request-access.js';

const input = { id: z.string().describe('a grant id (g_…) or a held statement\'s approval id (a_…)') };

const NEXT: Record<string, string> = {
  pending: 'Still waiting for a human approver; check again later with gate_grant_status.',
  active: 'The grant is active: use gate_sql / gate_schema / gate_kubectl now.',
  approved: 'Approved: retry the exact statement that was held.',
  denied: 'Denied: do not retry; tell the user.',
  expired: 'Over: request access again with gate_request_access if still needed.',
  revoked: 'Revoked by an admin: do not request again without asking the user.',
  cancelled: 'Cancelled.',
};

export const grantStatusTool: ToolDefinition<typeof input> = {
  name: 'gate_grant_status',
  title: 'Check a grant or a held statement',
  description:
    'Returns the current state of a grant (id g_…: pending, active, denied, expired, revoked, cancelled) or of a ' +
    'statement held for approval (id a_…: pending, approved, denied), with what to do next. Returns at once; call it ' +
    'again later while the state is pending. After an a_… approval is approved, retry the exact call that was held.',
  input,
  readOnly: true,
  async run(mcp, args) {
    const id = args.id.trim();
    try {
      if (id.startsWith('g_')) {
        const { grant } = await mcp.client.call('GET', `/v1/grants/${encodeURIComponent(id)}`, z.object({ grant: grantSchema }), { signal: mcp.cli.signal });
        const next = NEXT[grant.state] ?? '';
        return {
          structured: { kind: 'grant', ...grantView(grant), next },
          text: `Grant ${grant.id} (${grant.target}/${grant.role}) is ${grant.state}${grant.expires_at && grant.state === 'active' ? ` until ${grant.expires_at}` : ''}. ${next}`,
          target: grant.target,
          grantId: grant.id,
        };
      }
      if (id.startsWith('a_')) {
        const { approval } = await mcp.client.call('GET', `/v1/approvals/${encodeURIComponent(id)}`, z.object({ approval: commandApprovalSchema }), {
          signal: mcp.cli.signal,
        });
        const next = NEXT[approval.state] ?? '';
        return {
          structured: {
            kind: 'approval',
            id: approval.id,
            state: approval.state,
            target: approval.target,
            grant_id: approval.grant_id,
            statement: approval.text,
            rule: approval.rule,
            approvers: approval.approvers,
            ...(approval.decided_by ? { decided_by: approval.decided_by } : {}),
            ...(approval.valid_until ? { valid_until: approval.valid_until } : {}),
            next,
          },
          text: `Held statement ${approval.id} on ${approval.target} is ${approval.state}. ${next}`,
          target: approval.target,
          grantId: approval.grant_id,
        };
      }
    } catch (err) {
      throw toolErrorFrom(err);
    }
    throw new ToolError('error', `Not a gate id: ${JSON.stringify(id)}. Grant ids start with g_, held statements with a_.`);
  },
};
