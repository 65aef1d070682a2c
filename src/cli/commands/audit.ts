import type { Command } from 'commander';
import { auditListResponse, auditVerifyResponse } from '../../api/wire-grants.js';
import { parseDuration } from '../../config/duration.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { describeEvent } from '../describe-event.js';
import { printJson, printTable, say } from '../output.js';

/** `--since 1h` (ago) or an ISO time. */
export function parseSince(value: string, now: Date): Date {
  try {
    return new Date(now.getTime() - parseDuration(value));
  } catch {
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) throw new UsageError(`--since must be a duration such as 1h or an ISO time, got ${JSON.stringify(value)}.`);
    return d;
  }
}

export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program
    .command('audit')
    .summary('read and verify the audit log')
    .description(
      'Show audit events (admins: all; approvers: their targets), oldest first.\n' +
        '`gate audit verify` walks the hash chain and exits 1 naming the first event that does not verify.\n\n' +
        'Examples:\n  $ gate audit --since 1h\n  $ gate audit --target db-prod --json\n  $ gate audit verify',
    )
    .option('--since <when>', 'only events since a duration ago (1h) or an ISO time')
    .option('--target <name>', 'only events on this target')
    .option('--limit <n>', 'at most this many (newest)', '1000')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (opts: { since?: string; target?: string; limit: string; server?: string; json?: boolean }) => {
      const server = await ctx.server(opts.server);
      const query = { since: opts.since ? parseSince(opts.since, ctx.now()).toISOString() : undefined, target: opts.target, limit: opts.limit };
      const { events } = await ctx.client(server).call('GET', '/v1/audit', auditListResponse, { query, signal: ctx.signal });
      if (opts.json) {
        printJson(ctx.io, { events });
        return;
      }
      const rows = events.map((e) => [e.time, e.actor ?? '-', e.action, e.target ?? '-', e.role ?? '-', e.grant_id ?? '-', e.result, describeEvent(e.details)]);
      printTable(ctx.io, ['time', 'actor', 'action', 'target', 'role', 'grant', 'result', 'what'], rows);
    });

  audit
    .command('verify')
    .summary('check the audit log hash chain')
    .description('Recompute every event hash and link (admins only). Exits 1 naming the first broken event.\n\nExamples:\n  $ gate audit verify')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (own: { server?: string; json?: boolean }) => {
      // The parent's --json/--server also match after `verify`: read both.
      const opts = { ...audit.opts(), ...own } as { server?: string; json?: boolean };
      const server = await ctx.server(opts.server);
      const result = await ctx.client(server).call('GET', '/v1/audit/verify', auditVerifyResponse, { signal: ctx.signal });
      if (opts.json) printJson(ctx.io, result);
      if (result.ok) {
        if (!opts.json) say(ctx.io, `${ctx.style.green('✓')} Audit log intact: ${result.events} events verified.`);
        return;
      }
      const b = result.broken!;
      say(ctx.io, `${ctx.style.red('✗')} Audit chain broken at event ${b.id} (#${b.seq}): ${b.reason}.`);
      ctx.exitCode = ExitCode.failure;
    });
}
