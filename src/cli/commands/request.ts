import type { Command } from 'commander';
import type { GrantWire } from '../../api/wire-grants.js';
import { GateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { ensureGrant, type GrantEventName } from '../grant-flow.js';
import { cappedMessage } from '../grant-progress.js';
import { emitEvent, relativeTime, say } from '../output.js';
import { parseDurationFlag } from '../parse.js';
import { waitingLine } from '../waiting-line.js';

interface RequestOptions {
  role?: string;
  for?: string;
  reason?: string;
  wait?: boolean;
  timeout?: string;
  server?: string;
  json?: boolean;
  correlationId?: string;
  new?: boolean;
}

export function registerRequest(program: Command, ctx: CliContext): void {
  program
    .command('request <target>')
    .summary('request just-in-time access to a target')
    .description(
      'Ask for a role on a target for a while. Auto-approved policies grant at once; otherwise gate\n' +
        'shows who can approve and waits (until approved, denied, --timeout or Ctrl-C).\n' +
        'An identical grant of yours (same target and role) that is active or pending is reused, unless --new.\n' +
        'Ctrl-C while waiting withdraws the request on the server (exit 2).\n' +
        'Exit codes: 0 granted, 5 denied or not allowed by policy, 8 still pending, 4 not logged in.\n\n' +
        'Examples:\n  $ gate request db-prod --role read --for 30m\n' +
        '  $ gate request db-prod --role write --reason "INC-42 fix" --timeout 10m\n' +
        '  $ gate request db-prod --role write --no-wait --json',
    )
    .option('--role <role>', 'role to request (optional when only one is open to you)')
    .option('--for <duration>', 'how long, e.g. 30m, 1h30m or 1.5h (capped at the policy maximum)')
    .option('--reason <text>', 'why (some policies require it)')
    .option('--wait', 'wait for approval (default)')
    .option('--no-wait', 'return at once when approval is needed (exit 8)')
    .option('--timeout <duration>', 'stop waiting after this long (exit 8)')
    .option('--new', 'ask again even when an identical grant is active or pending (default: reuse it)')
    .option('--correlation-id <id>', 'stored on the grant and its audit events (default: the CI run id)')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'write NDJSON events on stdout')
    .action(async (target: string, opts: RequestOptions) => {
      await request(ctx, target, opts);
    });
}

/** The ink spinner on a terminal, plain lines otherwise; always on stderr. */
function waitingDisplay(ctx: CliContext, text: string): () => void {
  if (!ctx.io.stderr.isTTY) {
    say(ctx.io, text);
    return () => {};
  }
  return waitingLine(ctx.io, ctx.style.enabled, text);
}

async function request(ctx: CliContext, target: string, opts: RequestOptions): Promise<void> {
  const server = await ctx.server(opts.server);
  const timeoutMs = opts.timeout ? parseDurationFlag(opts.timeout, '--timeout') : undefined;
  if (opts.for) parseDurationFlag(opts.for, '--for');
  let stopSpinner = () => {};
  const onEvent = (name: GrantEventName, fields: Record<string, unknown>) => {
    if (opts.json) {
      emitEvent(ctx.io, name, fields);
      return;
    }
    if (name === 'reused') {
      const g = fields.grant as GrantWire;
      say(
        ctx.io,
        g.state === 'active'
          ? `You already have ${g.target}/${g.role}: reusing grant ${g.id} (active, ends ${relativeTime(g.expires_at, ctx.now())}). Pass --new for another.`
          : `Your request ${g.id} for ${g.target}/${g.role} is already waiting for approval: reusing it. Pass --new for another.`,
      );
    }
    if (name === 'requested') {
      const g = fields.grant as GrantWire;
      if (g.duration_capped) {
        say(ctx.io, ctx.style.yellow(cappedMessage(g, opts.for)));
      }
    }
    if (name === 'waiting_approval') {
      const approvers = (fields.approvers as string[]).join(', ');
      const n = fields.approvals_required as number;
      say(ctx.io, `Grant ${fields.grant_id} needs approval by ${n === 1 ? 'a member' : `${n} different members`} of ${approvers}.`);
      if (opts.wait !== false) stopSpinner = waitingDisplay(ctx, `Waiting for approval (an approver runs \`gate approve ${fields.grant_id}\`)…`);
    }
    if (name !== 'waiting_approval' && name !== 'requested') {
      stopSpinner();
      stopSpinner = () => {};
    }
  };
  try {
    const grant = await ensureGrant(ctx, {
      server,
      target,
      role: opts.role,
      duration: opts.for,
      reason: opts.reason,
      wait: opts.wait !== false,
      timeoutMs,
      reuse: !opts.new,
      reusePending: !opts.new,
      correlationId: opts.correlationId,
      onEvent,
    });
    if (!opts.json) printGrant(ctx, grant);
  } catch (err) {
    stopSpinner();
    if (err instanceof GateError && err.code === 'GATE_ERR_PENDING_APPROVAL') {
      const id = String(err.details?.grant_id ?? '');
      if (opts.json) emitEvent(ctx.io, 'pending', { grant_id: id, exit_code: err.exitCode });
      else {
        ctx.io.stdout.write(`${id}\n`);
        say(ctx.io, `${err.message} ${opts.wait !== false ? 'Stopped waiting.' : ''}`.trim());
        if (err.hint) say(ctx.io, ctx.style.dim(err.hint));
      }
      ctx.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}

function printGrant(ctx: CliContext, g: GrantWire): void {
  say(ctx.io, `${ctx.style.green('✓')} Access granted: ${g.target}/${g.role} until ${g.expires_at}`);
  const out = (k: string, v: string) => ctx.io.stdout.write(`${k.padEnd(9)}${v}\n`);
  out('id', g.id);
  out('target', g.target);
  out('role', g.role);
  out('state', g.state);
  out('expires', g.expires_at ?? '');
}
