import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { createHttpSessionApi } from '../api/sessions-client.js';
import { recordSession } from '../record/index.js';
import { connectionDetails } from './connection-details.js';
import type { CliContext } from './context.js';
import { httpLocalRefusal, PROXY_VARIABLES } from './http-details.js';
import { say } from './output.js';
import { uploadNotices } from './upload-notices.js';
import { flushPendingRecordings } from './pending-recordings.js';
import { type GrantFlags, grantForTarget } from './target-grant.js';
import { openTunnel } from './tunnel-session.js';

export interface WrappedOptions extends GrantFlags {
  server?: string;
}

/** Variables never passed to a wrapped tool: gate's own token, and client secrets the tunnel makes pointless. */
const STRIPPED = ['GATE_TOKEN', 'PGPASSWORD', 'PGPASSFILE', 'PGSERVICEFILE', 'KUBECONFIG'];

/**
 * `gate exec|psql|kubectl`: get the grant, open the tunnel in-process, run the
 * tool with an environment that points at it (and holds no secret), record the
 * terminal, and return the tool's own exit code.
 */
export async function runWrapped(
  ctx: CliContext,
  targetName: string,
  tool: { file: string; args: string[] },
  opts: WrappedOptions,
): Promise<number> {
  const server = await ctx.server(opts.server);
  await flushPendingRecordings(ctx, server);
  const { target, grant } = await grantForTarget(ctx, server, targetName, opts, { json: false });
  const sessionId = randomUUID();
  const tunnel = await openTunnel(ctx, {
    server,
    grant: { id: grant.id, target: grant.target, role: grant.role, expires_at: grant.expires_at! },
    ...privateListener(target.type, tool.file),
    protocol: target.type,
    sessionId,
    localRefusal: target.type === 'http' ? httpLocalRefusal : undefined,
    onEvent: (event, fields) => {
      if (event !== 'connection_error') return;
      const line = `${ctx.style.red('gate:')} ${fields.message}`;
      // While the tool runs the terminal passes output through untouched (stty -opost): \n alone does not return the cursor.
      if (ctx.io.stdin.isTTY && ctx.io.stdout.isTTY) ctx.io.stderr.write(`\r\n${line}\r\n`);
      else say(ctx.io, line);
    },
  });
  const details = await connectionDetails(ctx, target, grant.role, tunnel);
  const env: Record<string, string> = {};
  // An HTTP target is reached on loopback: a proxy variable would send the tool elsewhere.
  const stripped = target.type === 'http' ? [...STRIPPED, ...PROXY_VARIABLES] : STRIPPED;
  for (const [k, v] of Object.entries(ctx.rawEnv)) if (v !== undefined && !stripped.includes(k)) env[k] = v;
  Object.assign(env, details.env, { GATE_SESSION_ID: sessionId, GATE_GRANT_ID: grant.id });

  const { stdin, stdout, stderr } = ctx.io;
  const tty = Boolean(stdin.isTTY && stdout.isTTY);
  // The tool may outlive its access (an open psql, a watch that ignores the
  // gateway's goodbye): say why its connection died. While the tool runs the
  // terminal's output processing is off (see runTool), so a bare \n does not
  // return the cursor, hence \r\n.
  void tunnel.ended.then((end) => {
    if (end.reason !== 'expired' && end.reason !== 'revoked') return;
    const line = `${ctx.style.yellow('gate:')} access to ${targetName} has ended: the ${end.message}.`;
    if (tty) ctx.io.stderr.write(`\r\n${line}\r\n`);
    else say(ctx.io, line);
  });
  // While the tool runs, Ctrl-C belongs to it: in pipe mode the terminal sends
  // SIGINT to the whole process group, and gate must outlive the tool.
  // Upload trouble is said once, not per failed chunk; the uploader keeps retrying from the spool.
  const notices = uploadNotices(sessionId, (text) => {
    const line = `${ctx.style.yellow('gate:')} ${text}`;
    if (tty) ctx.io.stderr.write(`\r\n${line}\r\n`);
    else say(ctx.io, line);
  });
  const restoreInterrupts = ctx.deferInterrupts();
  try {
    const result = await recordSession({
      configDir: ctx.env.configDir,
      api: createHttpSessionApi(ctx.client(server), { correlationId: ctx.env.correlationId }),
      meta: {
        id: sessionId,
        target: targetName,
        user: grant.requester,
        grant: grant.id,
        command: [tool.file, ...tool.args].map(shellQuote).join(' '),
        recordInput: target.record_input ?? false,
      },
      run: { file: tool.file, args: tool.args, env, stdin, stdout, stderr, tty, signal: ctx.signal },
      required: target.recording === 'required',
      // A redirected stdout (`pg_dump > file`) is counted and hashed, not stored, unless the target says full.
      recordOutput: target.record_output ?? 'terminal',
      shell: env.SHELL,
      upload: notices,
    });
    if (result.upload.status === 'pending') {
      say(ctx.io, ctx.style.dim(`gate: the recording of session ${sessionId} is kept locally and will be uploaded by the next gate command.`));
    }
    return result.exitCode;
  } finally {
    restoreInterrupts();
    await tunnel.close();
    if (details.cleanup) await rm(details.cleanup, { recursive: true, force: true });
  }
}

/**
 * How a wrapped tool's listener keeps other local users out (they can list
 * loopback ports in /proc/net/tcp and connect to them). psql gets a Unix
 * socket in a fresh 0700 directory (PGHOST), which nobody else can enter.
 * Every Postgres and Kubernetes tunnel also gets a one-time local password
 * that only the child learns: PGPASSWORD, or the bearer token in the 0600
 * temporary kubeconfig (served over TLS with a pinned throw-away
 * certificate, as kubectl sends tokens only over https); the gateway refuses
 * connections without it. Neither
 * is the target's secret.
 */
function privateListener(
  type: string,
  file: string,
): { port: number; socketDir?: true; socketName?: string; localPassword?: boolean; localTls?: boolean; ownerOnly?: boolean } {
  const local = type === 'postgres' || type === 'kubernetes';
  const psql = type === 'postgres' && basename(file) === 'psql';
  return {
    port: 0,
    ...(psql ? { socketDir: true as const, socketName: '.s.PGSQL.5432' } : {}),
    ...(local ? { localPassword: true } : {}),
    ...(type === 'kubernetes' ? { localTls: true } : {}),
    // A TCP client cannot be asked for anything: drop other users' connections (Linux).
    ...(local ? {} : { ownerOnly: true }),
  };
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
