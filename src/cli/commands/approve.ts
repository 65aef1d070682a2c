import type { Command } from 'commander';
import { z } from 'zod';
import { type CommandApprovalWire, commandApprovalSchema, type GrantWire, grantSchema } from '../../api/wire-grants.js';
import type { CliContext } from '../context.js';
import { formatCommandApproval } from './grants.js';
import { printJson, say } from '../output.js';
import { resolveId } from '../short-id.js';

export type Decision = 'approve' | 'deny' | 'revoke' | 'cancel';

const grantResponse = z.object({ grant: grantSchema });
const approvalResponse = z.object({ approval: commandApprovalSchema });

/**
 * Sends a decision on a grant (`g_…`) or a command approval (`a_…`; approve
 * and deny only). Returns what the server answered.
 */
export async function decide(
  ctx: CliContext,
  decision: Decision,
  id: string,
  opts: { comment?: string; server?: string },
): Promise<{ grant: GrantWire } | { approval: CommandApprovalWire }> {
  const server = await ctx.server(opts.server);
  const client = ctx.client(server);
  const body = opts.comment ? { comment: opts.comment } : {};
  const resolved = await resolveId(ctx, server, id, decision === 'approve' || decision === 'deny' ? ['grant', 'approval'] : ['grant']);
  const path = encodeURIComponent(resolved);
  if (resolved.startsWith('a_') && (decision === 'approve' || decision === 'deny')) {
    return client.call('POST', `/v1/approvals/${path}/${decision}`, approvalResponse, { body, signal: ctx.signal });
  }
  return client.call('POST', `/v1/grants/${path}/${decision}`, grantResponse, { body, signal: ctx.signal });
}

function describe(ctx: CliContext, decision: Decision, result: { grant: GrantWire } | { approval: CommandApprovalWire }): string {
  const { green, red } = ctx.style;
  if ('approval' in result) {
    const a = result.approval;
    return a.state === 'approved'
      ? `${green('✓')} Approved ${a.id}: ${a.requester} may run this statement on ${a.target} until ${a.valid_until}\n${formatCommandApproval(a)}`
      : `${red('✗')} Denied ${a.id}: this statement on ${a.target} stays blocked\n${formatCommandApproval(a)}`;
  }
  const g = result.grant;
  const what = `${g.id} (${g.requester}: ${g.target}/${g.role})`;
  switch (decision) {
    case 'approve':
      return g.state === 'active'
        ? `${green('✓')} Approved ${what}: active until ${g.expires_at}`
        : `${green('✓')} Approval recorded for ${what}: ${g.approvals.length} of ${g.approvals_required}; it needs another approver`;
    case 'deny':
      return `${red('✗')} Denied ${what}`;
    case 'revoke':
      return `${green('✓')} Revoked ${what}: open sessions are being closed`;
    case 'cancel':
      return `${green('✓')} Cancelled ${what}`;
  }
}

const HELP: Record<Decision, { summary: string; text: string }> = {
  approve: {
    summary: 'approve a pending grant (g_…) or a held command (a_…)',
    text: 'Approve a grant someone else requested, or a command a guardrail holds. You must be in an\napprover group of its policy; nobody approves their own request.',
  },
  deny: { summary: 'deny a pending grant (g_…) or a held command (a_…)', text: 'Deny a grant or a held command; the requester sees your comment.' },
  revoke: {
    summary: 'end an active grant now',
    text: 'Revoke an active grant: its tunnels close within a second. The requester, an approver of the\ntarget, or an admin may revoke.',
  },
  cancel: { summary: 'withdraw your own pending request', text: 'Cancel a grant you requested that is still waiting for approval.' },
};

/** Registers `gate approve|deny|revoke|cancel ID`. */
export function registerDecision(decision: Decision) {
  return (program: Command, ctx: CliContext): void => {
    const cmd = program
      .command(`${decision} <id>`)
      .summary(HELP[decision].summary)
      .description(`${HELP[decision].text}\n\nExamples:\n  $ gate ${decision} g_0123abcd${decision === 'cancel' || decision === 'revoke' ? '' : ' --comment "ok for INC-42"'}`)
      .option('--server <url>', 'gate server URL')
      .option('--json', 'print JSON');
    if (decision !== 'cancel') cmd.option('--comment <text>', 'a note for the requester and the audit log');
    cmd.action(async (id: string, opts: { comment?: string; server?: string; json?: boolean }) => {
      const result = await decide(ctx, decision, id, opts);
      if (opts.json) printJson(ctx.io, result);
      else say(ctx.io, describe(ctx, decision, result));
    });
  };
}

/** `gate approve ID` */
export const registerApprove = registerDecision('approve');
