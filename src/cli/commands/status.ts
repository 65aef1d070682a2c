import type { Command } from 'commander';
import { createClient } from '../../api/client.js';
import { healthResponse, meResponse } from '../../api/wire.js';
import { notificationStatusResponse, type SinkStatusWire } from '../../api/wire-notifications.js';
import { GateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { printJson } from '../output.js';

export interface StatusReport {
  server: string;
  reachable: boolean;
  server_version?: string;
  error?: string;
  logged_in: boolean;
  user?: { sub: string; email?: string; groups: string[] };
  expires_at?: string | null;
  credential_store?: string;
  /** Admins only: each notification sink's deliveries and last failure. */
  notifications?: SinkStatusWire[];
}

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .summary('show the server, whether it is reachable, and who you are')
    .description('Check the configured server and your identity on it; admins also see, per notification sink, what was delivered, what is pending or failed, and the last error. Exits 0 even when not logged in.\n\nExamples:\n  $ gate status\n  $ gate status --json')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (opts: { server?: string; json?: boolean }) => {
      const report = await status(ctx, opts.server);
      if (opts.json) printJson(ctx.io, report);
      else printStatus(ctx, report);
    });
}

export async function status(ctx: CliContext, serverFlag?: string): Promise<StatusReport> {
  const server = await ctx.server(serverFlag);
  const report: StatusReport = { server, reachable: false, logged_in: false };
  try {
    const health = await createClient({ server, timeoutMs: 5000 }).call('GET', '/v1/health', healthResponse, { anonymous: true, signal: ctx.signal });
    report.reachable = true;
    report.server_version = health.version;
  } catch (err) {
    report.error = err instanceof GateError ? err.message : String(err);
    return report;
  }
  try {
    if (!ctx.env.token) report.credential_store = (await ctx.credentials()).location;
    else report.credential_store = 'GATE_TOKEN';
    const me = await ctx.client(server).call('GET', '/v1/me', meResponse, { signal: ctx.signal });
    report.logged_in = true;
    report.user = { sub: me.sub, email: me.email, groups: me.groups };
    report.expires_at = me.expires_at;
  } catch (err) {
    if (!(err instanceof GateError) || (err.code !== 'GATE_ERR_AUTH_REQUIRED' && err.code !== 'GATE_ERR_AUTH_FAILED')) throw err;
    return report;
  }
  report.notifications = await notificationHealth(ctx, server);
  return report;
}

/** The admin section: undefined for anyone else (403), or on a server too old to have it (404). */
async function notificationHealth(ctx: CliContext, server: string): Promise<SinkStatusWire[] | undefined> {
  try {
    return (await ctx.client(server).call('GET', '/v1/notifications/status', notificationStatusResponse, { signal: ctx.signal })).sinks;
  } catch (err) {
    if (err instanceof GateError && (err.code === 'GATE_ERR_ACCESS_DENIED' || err.code === 'GATE_ERR_NOT_FOUND')) return undefined;
    throw err;
  }
}

function printStatus(ctx: CliContext, r: StatusReport): void {
  const { style } = ctx;
  const out = (line: string) => ctx.io.stdout.write(`${line}\n`);
  out(`server   ${r.server}`);
  out(`reachable ${r.reachable ? style.green('yes') : style.red('no')}${r.server_version ? ` (gate ${r.server_version})` : ''}${r.error ? ` — ${r.error}` : ''}`);
  if (!r.reachable) return;
  if (r.logged_in && r.user) {
    out(`user     ${r.user.sub}${r.user.email ? ` <${r.user.email}>` : ''}`);
    out(`groups   ${r.user.groups.join(', ') || '(none)'}`);
    if (r.expires_at) out(`expires  ${r.expires_at}`);
  } else {
    out(`user     ${style.yellow('not logged in')} — run \`gate login\``);
  }
  if (r.credential_store) out(`store    ${r.credential_store}`);
  if (r.notifications && r.notifications.length > 0) {
    out('notifications');
    for (const n of r.notifications) {
      const health = n.failed > 0 || n.last_error ? style.red : style.green;
      out(`  ${n.name} (${n.type ?? 'no longer configured'}${n.host ? `, ${n.host}` : ''}): ${n.delivered} delivered, ${n.pending} pending, ${health(`${n.failed} failed`)}, ${n.failed_attempts} failed attempts`);
      if (n.last_error) out(`    last error ${n.last_error_at}: ${n.last_error}`);
    }
  }
}
