import type { Command } from 'commander';
import { type PendingWire, pendingResponse } from '../../api/wire-pending.js';
import { formatDuration } from '../../config/duration.js';
import type { CliContext } from '../context.js';
import { canUseInk } from '../ink/streams.js';
import { canPrompt } from '../io.js';
import { queueItems } from '../ink/queue-state.js';
import { printJson, printTable } from '../output.js';
import { formatCommandApproval } from './grants.js';

export function registerApprovals(program: Command, ctx: CliContext): void {
  program
    .command('approvals')
    .summary('the queue of grants and statements waiting for your decision (interactive on a terminal)')
    .description(
      'Everything you may approve or deny now: pending grant requests (g_…) and statements a\n' +
        '`require_approval` guardrail holds (a_…). On a terminal this is a live view: the list updates\n' +
        'as requests come and go; ↑/↓ move, enter shows the details (the whole statement, the reason,\n' +
        "the requester's last grants), a approves, d denies and asks for a reason, q quits.\n" +
        'Piped, with --json or with --no-input it prints the list once and exits 0 (also when empty).\n\n' +
        'Examples:\n  $ gate approvals\n  $ gate approvals --json | jq -r \'.grants[].id\'\n  $ gate approvals | cut -f1',
    )
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print the pending items as JSON and exit')
    .action(async (opts: { server?: string; json?: boolean }) => {
      const server = await ctx.server(opts.server);
      const pending = await pendingItems(ctx, server);
      if (!opts.json && canPrompt(ctx.io, ctx.env, ctx.noInput) && canUseInk(ctx.io)) {
        // Only this path loads ink and react.
        const { runQueue } = await import('../ink/queue-app.js');
        await runQueue(ctx, server, pending);
        return;
      }
      if (opts.json) printJson(ctx.io, pending);
      else printPending(ctx, pending);
    });
}

/** What the caller may decide now (`GET /v1/pending`). */
export function pendingItems(ctx: CliContext, server: string): Promise<PendingWire> {
  return ctx.client(server).call('GET', '/v1/pending', pendingResponse, { signal: ctx.signal });
}

/** One row per item (tab-separated when piped), then every held statement in full. */
function printPending(ctx: CliContext, pending: PendingWire): void {
  const items = queueItems(pending);
  if (items.length === 0) {
    ctx.io.stderr.write('Nothing is waiting for your approval.\n');
    return;
  }
  const rows = items.map((i) => [i.id, i.kind, i.requester, i.target, i.role, i.grant ? formatDuration(i.grant.duration) : '-', i.grant?.reason ?? i.approval?.rule ?? '-']);
  printTable(ctx.io, ['id', 'kind', 'requester', 'target', 'role', 'duration', 'reason'], rows);
  for (const i of items) if (i.approval) ctx.io.stdout.write(`\n${formatCommandApproval(i.approval)}`);
}
