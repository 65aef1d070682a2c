import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import {
  type AuditCheckpointWire,
  type AuditEventWire,
  auditCheckpointResponse,
  auditCheckpointSchema,
  auditCheckpointsResponse,
  auditListResponse,
  auditVerifyResponse,
} from '../../api/wire-grants.js';
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
    .summary('check the audit log hash chain and its signed checkpoints')
    .description(
      'Recompute every event hash and link (admins only), and hold the log against the signed checkpoints: the server\'s own and\n' +
        'those in --checkpoints FILE (the checkpoint file, or the output of `gate audit checkpoints --json`). A checkpoint past the\n' +
        'end of the log means events were cut from its tail; one whose head differs means the chain was re-hashed.\n' +
        'Exits 1 naming the first broken event or contradicted checkpoint.\n\n' +
        'Examples:\n  $ gate audit verify\n  $ gate audit verify --checkpoints /mnt/offsite/gate-checkpoints.jsonl',
    )
    .option('--server <url>', 'gate server URL')
    .option('--checkpoints <file>', 'checkpoints kept outside the server (JSON lines, or `gate audit checkpoints --json` output)')
    .option('--json', 'print JSON')
    .action(async (own: { server?: string; json?: boolean; checkpoints?: string }) => {
      // The parent's --json/--server also match after `verify`: read both.
      const opts = { ...audit.opts(), ...own } as { server?: string; json?: boolean; checkpoints?: string };
      const server = await ctx.server(opts.server);
      const kept = opts.checkpoints ? await readCheckpointFile(opts.checkpoints) : undefined;
      const result = kept
        ? await ctx.client(server).call('POST', '/v1/audit/verify', auditVerifyResponse, { body: { checkpoints: kept }, signal: ctx.signal })
        : await ctx.client(server).call('GET', '/v1/audit/verify', auditVerifyResponse, { signal: ctx.signal });
      if (opts.json) printJson(ctx.io, result);
      const cps = result.checkpoints;
      if (result.ok) {
        if (!opts.json) {
          const signed = cps?.latest ? `, ${cps.checked} signed checkpoints hold (latest: ${cps.latest.count} events at ${cps.latest.time})` : ', no signed checkpoint yet';
          say(ctx.io, `${ctx.style.green('✓')} Audit log intact: ${result.events} events verified${signed}.`);
        }
        return;
      }
      if (result.broken) {
        const b = result.broken;
        say(ctx.io, `${ctx.style.red('✗')} Audit chain broken at event ${b.id} (#${b.seq}): ${b.reason}.`);
      }
      if (cps?.failure) say(ctx.io, `${ctx.style.red('✗')} Audit checkpoint contradicted: ${cps.failure.reason}.`);
      ctx.exitCode = ExitCode.failure;
    });

  audit
    .command('checkpoints')
    .summary('list the signed audit checkpoints (keep them somewhere else)')
    .description(
      'Print the server-signed checkpoints of the audit chain (admins only): each says the log had COUNT events ending in HEAD.\n' +
        'Keep the output outside the server; `gate audit verify --checkpoints FILE` later proves the log was not cut or rewritten.\n\n' +
        'Examples:\n  $ gate audit checkpoints --json > checkpoints.json\n  $ gate audit checkpoints --now',
    )
    .option('--server <url>', 'gate server URL')
    .option('--now', 'sign a checkpoint of the current head first')
    .option('--json', 'print JSON')
    .action(async (own: { server?: string; json?: boolean; now?: boolean }) => {
      const opts = { ...audit.opts(), ...own } as { server?: string; json?: boolean; now?: boolean };
      const server = await ctx.server(opts.server);
      const client = ctx.client(server);
      if (opts.now) await client.call('POST', '/v1/audit/checkpoints', auditCheckpointResponse, { body: {}, signal: ctx.signal });
      const { checkpoints } = await client.call('GET', '/v1/audit/checkpoints', auditCheckpointsResponse, { signal: ctx.signal });
      if (opts.json) {
        printJson(ctx.io, { checkpoints });
        return;
      }
      printTable(ctx.io, ['time', 'events', 'head'], checkpoints.map((c) => [c.time, String(c.count), c.head]));
    });
}

/** Checkpoints from a file: JSON lines (the checkpoint file) or one JSON document `{ checkpoints: [...] }`. */
async function readCheckpointFile(file: string): Promise<AuditCheckpointWire[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`Cannot read --checkpoints ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
  try {
    const trimmed = text.trim();
    if (trimmed.startsWith('{') && trimmed.includes('"checkpoints"')) return auditCheckpointsResponse.parse(JSON.parse(trimmed)).checkpoints;
    return trimmed
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => auditCheckpointSchema.parse(JSON.parse(l)));
  } catch {
    throw new UsageError(`--checkpoints ${file} holds no checkpoints gate wrote (JSON lines, or \`gate audit checkpoints --json\` output).`);
  }
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
