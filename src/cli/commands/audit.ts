import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { type AuditEventWire, auditListResponse, auditVerifyResponse } from '../../api/wire-grants.js';
import { isBareNumber, parseDuration } from '../../config/duration.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { describeEvent } from '../describe-event.js';
import { emitEvent, printJson, printTable, say, timeCell } from '../output.js';
import { resolveId } from '../short-id.js';

/** `--since 1h` (ago) or an ISO time. */
export function parseSince(value: string, now: Date, flag = '--since'): Date {
  try {
    return new Date(now.getTime() - parseDuration(value));
  } catch {
    const d = new Date(value);
    if (isBareNumber(value) || Number.isNaN(d.getTime())) {
      throw new UsageError(`${flag} must be a duration such as 1h or an ISO time, got ${JSON.stringify(value)}.`);
    }
    return d;
  }
}

interface AuditOptions {
  since?: string;
  until?: string;
  action?: string;
  user?: string;
  grant?: string;
  session?: string;
  target?: string;
  after?: string;
  limit: string;
  follow?: boolean;
  server?: string;
  json?: boolean;
}

/** How often `--follow` asks for new events. */
const FOLLOW_POLL_MS = 1000;

export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program
    .command('audit')
    .summary('read and verify the audit log')
    .description(
      'Show audit events (admins: all; approvers: their targets), oldest first, a page at a time.\n' +
        'With --json the output carries `next`: pass it as --after for the following page (null on the last).\n' +
        '--follow prints new events as they happen, until Ctrl-C.\n' +
        '`gate audit verify` walks the hash chain and exits 1 naming the first event that does not verify.\n\n' +
        'Examples:\n  $ gate audit --since 1h\n  $ gate audit --target db-prod --action pg.query --json\n' +
        '  $ gate audit --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z --user alice\n' +
        '  $ gate audit --action \'grant.*\' --follow\n  $ gate audit --after ev_0193… --json\n  $ gate audit verify',
    )
    .option('--since <when>', 'only events since a duration ago (1h) or an ISO time')
    .option('--until <when>', 'only events before a duration ago (30m) or an ISO time')
    .option('--action <actions>', 'only these actions, comma-separated; `grant.*` matches a prefix')
    .option('--user <sub>', 'only events of this actor')
    .option('--grant <id>', 'only events of this grant (a unique prefix will do)')
    .option('--session <id>', 'only events of this session (a unique prefix will do)')
    .option('--target <name>', 'only events on this target')
    .option('--after <event-id>', 'only events after this one (the `next` cursor of --json)')
    .option('--limit <n>', 'at most this many per page', '1000')
    .option('-f, --follow', 'keep printing new events until Ctrl-C')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON (NDJSON events with --follow)')
    .action(async (opts: AuditOptions) => {
      await auditList(ctx, opts);
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

async function auditQuery(ctx: CliContext, server: string, opts: AuditOptions): Promise<Record<string, string | undefined>> {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit must be a whole number from 1 to 10000, got ${JSON.stringify(opts.limit)}.`);
  const now = ctx.now();
  return {
    since: opts.since ? parseSince(opts.since, now).toISOString() : undefined,
    until: opts.until ? parseSince(opts.until, now, '--until').toISOString() : undefined,
    action: opts.action,
    user: opts.user,
    grant: opts.grant ? await resolveId(ctx, server, opts.grant, ['grant']) : undefined,
    session: opts.session ? await resolveId(ctx, server, opts.session, ['session']) : undefined,
    target: opts.target,
    after: opts.after,
    limit: String(limit),
  };
}

function auditRows(ctx: CliContext, events: AuditEventWire[]): string[][] {
  const now = ctx.now();
  return events.map((e) => [timeCell(ctx.io, e.time, now), e.actor ?? '-', e.action, e.target ?? '-', e.role ?? '-', e.grant_id ?? '-', e.result, describeEvent(e.details)]);
}

const AUDIT_HEADER = ['time', 'actor', 'action', 'target', 'role', 'grant', 'result', 'what'];

async function auditList(ctx: CliContext, opts: AuditOptions): Promise<void> {
  const server = await ctx.server(opts.server);
  const query = await auditQuery(ctx, server, opts);
  const client = ctx.client(server);
  const page = await client.call('GET', '/v1/audit', auditListResponse, { query, signal: ctx.signal });
  if (!opts.follow) {
    if (opts.json) printJson(ctx.io, { events: page.events, next: page.next ?? null });
    else {
      printTable(ctx.io, AUDIT_HEADER, auditRows(ctx, page.events));
      if (page.next) say(ctx.io, ctx.style.dim(`More events follow: gate audit --after ${page.next} (same filters).`));
    }
    return;
  }
  // --follow: everything so far, then each new event as it arrives; one line per event.
  let cursor: string | undefined = page.events.at(-1)?.id ?? opts.after;
  let events = page.events;
  let next = page.next;
  for (;;) {
    for (const e of events) {
      if (opts.json) emitEvent(ctx.io, 'audit', { audit: e });
      else ctx.io.stdout.write(`${auditRows(ctx, [e])[0]!.join(ctx.io.stdout.isTTY ? '  ' : '\t')}\n`);
    }
    cursor = events.at(-1)?.id ?? cursor;
    if (!next) {
      try {
        await sleep(FOLLOW_POLL_MS, undefined, { signal: ctx.signal });
      } catch {
        return; // Ctrl-C ends following: the events so far were the output.
      }
    }
    // Before the first event there is no cursor: keep the original query (since/until/…).
    const q = cursor ? { ...query, after: cursor } : query;
    try {
      ({ events, next } = await client.call('GET', '/v1/audit', auditListResponse, { query: q, signal: ctx.signal }));
    } catch (err) {
      if (ctx.signal.aborted) return;
      throw err;
    }
  }
}
