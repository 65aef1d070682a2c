import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GateError } from '../errors.js';
import { dialTunnel } from '../tunnel/dialer.js';
import type { CliContext } from './context.js';
import { TOKEN_ENV_HINT } from './errors.js';
import { kubeCauseForRefusal, refuseKube } from './kube-goodbye.js';
import { cancelRequest, type PgConnectionWatch, refuseStartup, sayGoodbye } from './pg-goodbye.js';

/** A relayed PostgreSQL connection the tunnel may have to end itself. */
export interface PgSession {
  remote: Duplex;
  watch: PgConnectionWatch;
}

/** SQLSTATEs libpq clients know: 28000 invalid authorization, 42501 insufficient privilege, 08006 connection failure. */
function sqlstateFor(err: unknown): string {
  const code = err instanceof GateError ? err.code : undefined;
  if (code === 'GATE_ERR_AUTH_REQUIRED' || code === 'GATE_ERR_AUTH_FAILED') return '28000';
  if (code === 'GATE_ERR_ACCESS_DENIED') return '42501';
  return '08006';
}

/** What the gateway's side going away first means, for the client's last message. */
export const SERVER_GONE = 'the connection to the gate server was lost (it stopped, or the network failed), so the tunnel closed';

/** The next step for a refused tunnel: a login, or (with GATE_TOKEN set, which login cannot replace) a new token. */
function refusalHint(ctx: CliContext, err: unknown): string | undefined {
  const gateErr = err instanceof GateError ? err : undefined;
  const auth = gateErr?.code === 'GATE_ERR_AUTH_REQUIRED' || gateErr?.code === 'GATE_ERR_AUTH_FAILED';
  return auth && ctx.env.token ? TOKEN_ENV_HINT : (gateErr?.hint ?? (auth ? 'Run `gate login`.' : undefined));
}

/** A new connection whose tunnel could not be opened (server down, login expired, grant refused): the client hears why. */
export async function refusePg(ctx: CliContext, local: Socket, err: unknown): Promise<void> {
  const gateErr = err instanceof GateError ? err : undefined;
  const message = `gate: ${gateErr?.message ?? `the tunnel could not be opened: ${String((err as Error)?.message ?? err)}`}`;
  await refuseStartup(local, sqlstateFor(err), message, refusalHint(ctx, err));
}

/**
 * The one refusal path for a local connection whose tunnel could not be
 * opened, in the client's own protocol: a Postgres FATAL, a Kubernetes
 * Status, or the bytes the caller gives (HTTP targets: a JSON error).
 */
export async function refuseLocal(
  ctx: CliContext,
  local: Socket,
  err: unknown,
  protocol: string | undefined,
  localRefusal?: (message: string, code: string | undefined) => string,
): Promise<void> {
  if (protocol === 'postgres') return refusePg(ctx, local, err);
  if (protocol === 'kubernetes') return refuseKube(local, kubeCauseForRefusal(err, refusalHint(ctx, err)));
  if (localRefusal) {
    const gateErr = err instanceof GateError ? err : undefined;
    local.resume();
    local.end(localRefusal(gateErr?.message ?? String(err), gateErr?.code));
    setTimeout(() => local.destroy(), 1_000).unref();
    return;
  }
  local.destroy();
}

/**
 * gate is stopping while a client is connected: cancel its statement upstream
 * (a CancelRequest through a fresh tunnel, with the key the gateway gave the
 * client; the gateway maps it), then a FATAL that says why.
 */
export async function goodbyePg(
  ctx: CliContext,
  server: string,
  grantId: string,
  local: Socket,
  pg: PgSession,
  end: { reason: string; message: string },
  localPassword?: string,
): Promise<void> {
  const key = pg.watch.key;
  // From here the client hears only gate: the backend's answer to the cancel ("canceling statement due to user
  // request") must not reach it first, or psql ends on that ERROR and never shows why.
  pg.watch.stop();
  pg.remote.unpipe(local);
  pg.remote.resume();
  if (key) {
    try {
      const signal = AbortSignal.timeout(3_000);
      const cancel = await dialTunnel({ server, token: await ctx.token(server), grantId, localPassword, signal, timeoutMs: 3_000 });
      await new Promise<void>((done) => {
        // Bounded, and not unref'd: this wait is what keeps gate alive until the cancel is out.
        const timer = setTimeout(() => cancel.destroy(), 3_000);
        cancel.once('close', () => {
          clearTimeout(timer);
          done();
        });
        cancel.on('error', () => {});
        cancel.end(cancelRequest(key.pid, key.key));
        // Read (and drop) whatever comes back, so the end of the stream, and 'close', arrive.
        cancel.resume();
      });
    } catch {
      // The server is gone too: nothing upstream can be reached from here.
    }
  }
  const why = end.reason === 'interrupted' ? 'gate was stopped (Ctrl-C or SIGTERM), so the tunnel closed' : `the tunnel closed: ${end.message}`;
  sayGoodbye(local, pg.remote, '57P01', `gate: ${why}`);
}
