import { rm } from 'node:fs/promises';
import type { Command } from 'commander';
import type { TargetSummary } from '../../api/wire-grants.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { type GrantFlags, grantForTarget } from '../target-grant.js';
import { emitEvent, say } from '../output.js';
import { parsePort } from '../parse.js';
import { connectionDetails, type ConnectionDetails } from '../connection-details.js';
import { httpLocalRefusal } from '../http-details.js';
import { targetInfo } from '../target-info.js';
import { openTunnel, type TunnelEnd } from '../tunnel-session.js';

export interface ConnectOptions extends GrantFlags {
  port?: string;
  socket?: string | boolean;
  localPassword?: boolean;
  json?: boolean;
  server?: string;
}

export function registerConnect(program: Command, ctx: CliContext): void {
  program
    .command('connect')
    .summary('open a local tunnel to a target that any client can use')
    .description(
      'Get (or request and wait for) a grant, then listen on 127.0.0.1 (or a Unix socket in a\n' +
        '0700 directory) and carry every connection to the target through the gateway. The\n' +
        "target's secret never reaches this machine. Runs until Ctrl-C (exit 2) or the grant\n" +
        'ends: expired exits 0, revoked exits 5; either way each client is told why first.\n' +
        'For a Kubernetes target it writes a kubeconfig without credentials and prints\n' +
        '`export KUBECONFIG=…`. For an HTTP target it prints GATE_TARGET_URL=http://127.0.0.1:PORT\n' +
        'and a curl example; the listener answers only loopback Host names, refuses browser\n' +
        'Origins, and with --local-password expects the printed one-time bearer.\n\n' +
        'Examples:\n' +
        '  $ gate connect db-prod --role read\n' +
        '  $ gate connect db-prod --port 15432 --for 2h --reason INC-42\n' +
        '  $ gate connect db-prod --socket --json\n' +
        '  $ gate connect k8s-prod\n' +
        '  $ gate connect billing-api --role read --local-password',
    )
    .argument('<target>', 'target name (see `gate targets`)')
    .option('-r, --role <role>', 'role to use (default: the only one you may request)')
    .option('--for <duration>', 'grant duration when a new grant is requested, e.g. 30m')
    .option('--reason <text>', 'why you need access (required by some policies)')
    .option('-p, --port <port>', 'local TCP port on 127.0.0.1 (default: a free one)')
    .option('--socket [dir]', 'listen on a Unix socket in a new 0700 directory instead of TCP')
    .option('--local-password', 'require a one-time local credential (Postgres: a password; Kubernetes: a token in the kubeconfig)')
    .option('--timeout <duration>', 'how long to wait for an approval', '1h')
    .option('--correlation-id <id>', 'stored on the grant and audit events (default: the CI run id)')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'write NDJSON events on stdout')
    .action(async (target: string, opts: ConnectOptions) => {
      ctx.exitCode = await connect(ctx, target, opts);
    });
}

/** Runs the tunnel until the grant ends or the user stops it; returns the exit code. */
export async function connect(ctx: CliContext, targetName: string, opts: ConnectOptions): Promise<number> {
  const server = await ctx.server(opts.server);
  const port = opts.port === undefined ? 0 : parsePort(opts.port);
  const emit = (event: string, fields: Record<string, unknown>) => {
    if (opts.json) emitEvent(ctx.io, event, fields);
  };
  if (opts.localPassword) {
    // Before any grant is requested: a refused flag must not leave a pending request behind.
    const info = await targetInfo(ctx, server, targetName);
    if (info.type !== 'postgres' && info.type !== 'kubernetes' && info.type !== 'http') {
      throw new UsageError(
        `--local-password does not work for ${info.type} target "${info.name}": gate cannot ask a ${info.type} client for a password.`,
        { hint: `Use --socket to listen on a Unix socket in a 0700 directory only you can open: gate connect ${info.name} --socket` },
      );
    }
  }
  const { target, grant } = await grantForTarget(ctx, server, targetName, opts, { json: Boolean(opts.json), defaultTimeout: '1h' });
  const tunnel = await openTunnel(ctx, {
    server,
    grant: { id: grant.id, target: grant.target, role: grant.role, expires_at: grant.expires_at! },
    port,
    socketDir: opts.socket || undefined,
    socketName: target.type === 'postgres' ? '.s.PGSQL.5432' : undefined,
    protocol: target.type,
    localPassword: opts.localPassword,
    localRefusal: target.type === 'http' ? httpLocalRefusal : undefined,
    localTls: Boolean(opts.localPassword) && target.type === 'kubernetes',
    ownerOnly: target.type !== 'postgres' && target.type !== 'kubernetes',
    onEvent: (event, fields) => {
      if (opts.json) emit(event, fields);
      else if (event === 'expiring') say(ctx.io, ctx.style.yellow(`! grant ${grant.id} expires in ${fields.minutes_left} minute(s)`));
      else if (event === 'connection_error') say(ctx.io, `${ctx.style.red('connection refused by gate:')} ${fields.message}`);
    },
  });
  let details: ConnectionDetails | undefined;
  try {
    details = await connectionDetails(ctx, target, grant.role, tunnel);
    if (opts.json) {
      emit('ready', { ...details.fields, grant_id: grant.id, target: grant.target, role: grant.role, expires_at: grant.expires_at });
    } else {
      printReady(ctx, target, details, grant.expires_at!);
    }
    const end = await tunnel.ended;
    await tunnel.close();
    emit('closed', { reason: end.reason, message: end.message });
    if (!opts.json) say(ctx.io, closedLine(end));
    return exitCodeFor(end);
  } finally {
    await tunnel.close();
    if (details?.cleanup) await rm(details.cleanup, { recursive: true, force: true });
  }
}

function printReady(ctx: CliContext, target: TargetSummary, d: ConnectionDetails, expiresAt: string): void {
  const { style } = ctx;
  say(ctx.io, `${style.green('✓')} Tunnel to ${style.bold(target.name)} is open until ${expiresAt}`);
  // How to connect is the command's output (stdout); the framing around it is prose (stderr).
  for (const line of d.lines) ctx.io.stdout.write(`  ${line}\n`);
  say(ctx.io, style.dim('Press Ctrl-C to close it.'));
}

function closedLine(end: TunnelEnd): string {
  switch (end.reason) {
    case 'expired':
      return `Tunnel closed: the ${end.message}.`;
    case 'revoked':
      return `Tunnel closed: the ${end.message}.`;
    case 'interrupted':
      return 'Tunnel closed.';
    default:
      return `Tunnel closed: ${end.message}.`;
  }
}

function exitCodeFor(end: TunnelEnd): number {
  if (end.reason === 'interrupted') return ExitCode.cancelled;
  if (end.reason === 'revoked') return ExitCode.accessDenied;
  return ExitCode.ok;
}
