import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import {
  type AuditCheckpointWire,
  auditCheckpointResponse,
  auditCheckpointSchema,
  auditCheckpointsResponse,
  auditListResponse,
  auditVerifyResponse,
} from '../../api/wire-grants.js';
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
