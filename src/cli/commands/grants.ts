import type { Command } from 'commander';
import { approvalListResponse, type CommandApprovalWire, type GrantWire, grantListResponse } from '../../api/wire-grants.js';
import { formatDuration } from '../../config/duration.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, timeCell } from '../output.js';

export function registerGrants(program: Command, ctx: CliContext): void {
  program
    .command('grants')
    .summary('list grants: yours, and those waiting for your approval')
    .description(
      'List your grants, and grants waiting for your approval when you are an approver.\n' +
        '--pending shows only what is pending, including commands a guardrail holds for approval (ids a_…).\n' +
        '--all shows every grant you may see (every grant on targets you approve; everything for admins).\n\n' +
        'Examples:\n  $ gate grants\n  $ gate grants --pending\n  $ gate grants --all --json | jq -r \'.grants[].id\'',
    )
    .option('--pending', 'only pending grants and pending command approvals')
    .option('--all', 'every grant you may see')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (opts: { pending?: boolean; all?: boolean; server?: string; json?: boolean }) => {
      const result = await listGrants(ctx, opts);
      if (opts.json) printJson(ctx.io, result);
      else printGrantTable(ctx, result.grants, result.approvals);
    });
}

/** Grants (and with `pending`, pending command approvals) the caller sees. */
export async function listGrants(
  ctx: CliContext,
  opts: { pending?: boolean; all?: boolean; server?: string },
): Promise<{ grants: GrantWire[]; approvals: CommandApprovalWire[] }> {
  const server = await ctx.server(opts.server);
  const client = ctx.client(server);
  const query = { state: opts.pending ? 'pending' : undefined, all: opts.all ? 1 : undefined };
  const { grants } = await client.call('GET', '/v1/grants', grantListResponse, { query, signal: ctx.signal });
  let approvals: CommandApprovalWire[] = [];
  if (opts.pending) {
    ({ approvals } = await client.call('GET', '/v1/approvals', approvalListResponse, { query: { state: 'pending' }, signal: ctx.signal }));
  }
  return { grants, approvals };
}

/** When a grant ends (or ended), or what it waits for; relative times on a terminal. */
export function grantWhen(g: GrantWire, io?: CliContext['io'], now = new Date()): string {
  const at = (iso: string | undefined) => (io ? timeCell(io, iso, now) : (iso ?? ''));
  if (g.state === 'active') return io?.stdout.isTTY ? `ends ${at(g.expires_at)}` : `until ${g.expires_at}`;
  if (g.state === 'pending') return `needs ${g.approvals_required - g.approvals.length} more from ${g.approvers.join(', ')}`;
  return g.ended_at ? (io?.stdout.isTTY ? `ended ${at(g.ended_at)}` : `since ${g.ended_at}`) : '';
}

function printGrantTable(ctx: CliContext, grants: GrantWire[], approvals: CommandApprovalWire[]): void {
  const now = ctx.now();
  // What an approver decides on: who asks, for how long, and why.
  const rows = grants.map((g) => [
    g.id,
    g.target,
    g.role,
    g.state,
    g.requester,
    grantWhen(g, ctx.io, now),
    formatDuration(g.duration),
    g.reason ?? '-',
  ]);
  for (const a of approvals) {
    rows.push([a.id, a.target, a.role, `${a.state} (command)`, a.requester, 'statement below', '-', '-']);
  }
  if (rows.length === 0 && ctx.io.stdout.isTTY) {
    ctx.io.stderr.write('No grants.\n');
    return;
  }
  // Piped columns keep their old places (when is 6th); duration and reason follow.
  printTable(ctx.io, ['id', 'target', 'role', 'state', 'requester', 'when', 'duration', 'reason'], rows);
  // An approver must see the whole statement, line breaks and all: never in a table cell.
  for (const a of approvals) ctx.io.stdout.write(`\n${formatCommandApproval(a)}`);
}

/** A held statement as an approver reads it: the parser's summary, then the exact text, every line of it. */
export function formatCommandApproval(a: CommandApprovalWire): string {
  const lines = [`${a.id}  ${a.requester} on ${a.target}/${a.role}  (${a.rule})`];
  for (const s of a.summary ?? []) {
    const tables = s.tables.length > 0 ? s.tables.join(', ') : 'no table';
    const filtered = s.filtered === false ? 'NOT filtered (no WHERE, or a WHERE that is always true)' : 'filtered';
    lines.push(`  ${s.tag} on ${tables}, ${filtered}`);
  }
  if (a.sha256) lines.push(`  sha256 ${a.sha256}${a.reuse !== undefined ? `, may run ${a.reuse} time${a.reuse === 1 ? '' : 's'}` : ''}`);
  lines.push('  ┌─ statement');
  for (const l of a.text.split(/\r\n|\r|\n/)) lines.push(`  │ ${l}`);
  lines.push('  └─');
  return `${lines.join('\n')}\n`;
}
