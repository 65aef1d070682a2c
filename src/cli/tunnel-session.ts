import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { z } from 'zod';
import { grantSchema } from '../api/wire-grants.js';
import { GateError } from '../errors.js';
import { type LocalListener, startLocalListener } from '../tunnel/listener.js';
import { withServerRetry } from '../tunnel/retry.js';
import { dialTunnelStream, type TunnelStream } from '../tunnel/dialer.js';
import { heartbeatFrom, isLinkLost } from '../tunnel/heartbeat.js';
import { createLocalCertificate } from '../tunnel/local-cert.js';
import { relay } from '../tunnel/relay.js';
import type { CliContext } from './context.js';
import { type KubeConnectionWatch, kubeCauseForEnd, sayKubeGoodbye, watchKubeConnection } from './kube-goodbye.js';
import { type PgSession, goodbyePg, refuseLocal, SERVER_GONE } from './pg-tunnel-end.js';
import { watchPgConnection } from './pg-goodbye.js';

export interface TunnelGrantInfo {
  id: string;
  target: string;
  role: string;
  expires_at: string;
}

export interface TunnelOptions {
  server: string;
  grant: TunnelGrantInfo;
  /** TCP port on 127.0.0.1 (0 = free). */
  port?: number;
  /** Listen on a Unix socket in a fresh 0700 dir under this dir (true = OS temp dir). */
  socketDir?: string | true;
  socketName?: string;
  localPassword?: boolean;
  /** Drop TCP connections from other local users (for clients gate cannot ask for a credential). */
  ownerOnly?: boolean;
  /** The target's type: `postgres` clients get their goodbye and refusals as ErrorResponses (see pg-goodbye). */
  protocol?: string;
  /** Serve TLS on the local listener with a fresh self-signed certificate (kubectl sends a token only over https). */
  localTls?: boolean;
  sessionId?: string;
  /** The bytes to answer a local client with when its tunnel cannot be opened (HTTP targets: a JSON error). */
  localRefusal?(message: string, code: string | undefined): string;
  onEvent?(event: string, fields: Record<string, unknown>): void;
}

export interface OpenTunnel {
  listener: LocalListener;
  localPassword?: string;
  /** PEM of the local listener's own certificate, with `localTls`: clients pin it. */
  localCertificate?: string;
  /** Resolves with why the tunnel ended: the grant expired or was revoked, or close() was called. */
  ended: Promise<TunnelEnd>;
  close(reason?: TunnelEnd): Promise<void>;
}

export interface TunnelEnd {
  reason: 'expired' | 'revoked' | 'interrupted' | 'closed' | 'error';
  message: string;
}

/**
 * The CLI side of `gate connect` / `psql` / `exec` / `kubectl`: a loopback
 * listener where every accepted connection becomes one tunnel to the server.
 * Watches the grant so it can say why it closed.
 */
export async function openTunnel(ctx: CliContext, options: TunnelOptions): Promise<OpenTunnel> {
  const { grant, server } = options;
  const emit = options.onEvent ?? (() => {});
  const localPassword = options.localPassword ? randomBytes(18).toString('base64url') : undefined;
  const localCert = options.localTls ? createLocalCertificate() : undefined;
  // Read before listening: a bad GATE_TUNNEL_PING_INTERVAL or _TIMEOUT is a usage error now, not one per connection.
  const heartbeat = heartbeatFrom(ctx.env.tunnelPing.interval, ctx.env.tunnelPing.timeout);
  const sockets = new Set<Socket>();
  const pgSessions = new Map<Socket, PgSession>();
  const kubeSessions = new Map<Socket, { remote: TunnelStream; watch: KubeConnectionWatch }>();
  /** One entry per local connection, settled once its relay ended and `connection_closed` went out. */
  const relays = new Set<Promise<void>>();
  let nextId = 1;

  const listener = await startLocalListener({
    port: options.port,
    socketDir: options.socketDir,
    socketName: options.socketName,
    tls: localCert,
    ownerOnly: options.ownerOnly,
    onRefused: (message) => emit('connection_error', { message }),
    onConnection(local) {
      const id = nextId++;
      sockets.add(local);
      local.pause();
      emit('connection_opened', { connection: id, grant_id: grant.id });
      const done: Promise<void> = (async () => {
        let stats = { bytesIn: 0, bytesOut: 0 };
        try {
          // A replica restarting behind the balancer: dial again (opening a tunnel changes nothing until it is open).
          const remote = await withServerRetry(
            async () =>
              dialTunnelStream({
                server,
                heartbeat,
                token: await ctx.token(server),
                grantId: grant.id,
                sessionId: options.sessionId,
                correlationId: ctx.env.correlationId,
                localPassword,
                signal: ctx.signal,
              }),
            { say: (line) => ctx.io.stderr.write(`${line}\n`), signal: ctx.signal },
          );
          let lastWords: ((cause?: Error) => string | Buffer | undefined) | undefined;
          // The heartbeat's verdict names itself ("lost the gate server: no answer for 15 s"); any other end is SERVER_GONE.
          const gone = (cause?: Error) => (isLinkLost(cause) ? { message: cause.message, hint: cause.hint } : { message: SERVER_GONE, hint: undefined });
          if (options.protocol === 'postgres') {
            const watch = watchPgConnection(local, remote);
            pgSessions.set(local, { remote, watch });
            lastWords = (cause) => {
              const why = gone(cause);
              return watch.lastWords(`gate: ${why.message}`, why.hint);
            };
          } else if (options.protocol === 'kubernetes') {
            const watch = watchKubeConnection(local, remote);
            kubeSessions.set(local, { remote, watch });
            lastWords = (cause) => {
              const why = gone(cause);
              return watch.farewell(kubeCauseForEnd({ reason: 'server_gone', message: why.hint ? `${why.message}. ${why.hint}` : why.message }));
            };
          }
          remote.once('error', (err) => {
            if (isLinkLost(err)) emit('connection_error', { connection: id, reason: 'link_lost', message: `gate: ${err.message}` });
          });
          local.resume();
          stats = await relay(local, remote, { lastWords });
        } catch (err) {
          const message = err instanceof GateError ? err.message : String(err);
          await refuseLocal(ctx, local, err, options.protocol, options.localRefusal);
          emit('connection_error', { connection: id, message });
        } finally {
          pgSessions.get(local)?.watch.stop();
          pgSessions.delete(local);
          kubeSessions.get(local)?.watch.stop();
          kubeSessions.delete(local);
          sockets.delete(local);
          emit('connection_closed', { connection: id, bytes_in: stats.bytesIn, bytes_out: stats.bytesOut });
        }
      })();
      relays.add(done);
      void done.finally(() => relays.delete(done));
    },
  });

  let resolveEnded!: (end: TunnelEnd) => void;
  const ended = new Promise<TunnelEnd>((r) => {
    resolveEnded = r;
  });
  const watcher = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  const expiresAt = Date.parse(grant.expires_at);
  for (const minutes of [5, 1]) {
    const at = expiresAt - minutes * 60_000;
    if (at > Date.now()) {
      timers.push(setTimeout(() => emit('expiring', { grant_id: grant.id, expires_at: grant.expires_at, minutes_left: minutes }), at - Date.now()));
    }
  }
  timers.push(
    setTimeout(() => resolveEnded({ reason: 'expired', message: `grant ${grant.id} expired at ${grant.expires_at}` }), Math.max(0, expiresAt - Date.now())),
  );
  void watchGrant(ctx, server, grant.id, watcher.signal).then((end) => end && resolveEnded(end));
  const onAbort = () => resolveEnded({ reason: 'interrupted', message: 'interrupted' });
  ctx.signal.addEventListener('abort', onAbort, { once: true });

  let closing: Promise<void> | undefined;
  const close = (reason: TunnelEnd = { reason: 'closed', message: 'closed' }) => {
    resolveEnded(reason);
    closing ??= (async () => {
      watcher.abort();
      for (const t of timers) clearTimeout(t);
      ctx.signal.removeEventListener('abort', onAbort);
      const closed = listener.close();
      // When the grant ended, the gateway is sending each client its reason
      // (FATAL 57P01 "gate grant … expired"): cutting the local sockets now
      // would race it and leave the client with "connection terminated
      // unexpectedly". Let open connections drain for a moment first.
      const end = await ended;
      const drained = (ms: number) => Promise.race([Promise.all([...relays]), new Promise((r) => setTimeout(r, ms).unref())]);
      if (end.reason === 'expired' || end.reason === 'revoked') await drained(GRANT_END_GRACE_MS);
      // gate itself is going away (Ctrl-C, SIGTERM): cancel what runs upstream, and tell each client why.
      else {
        for (const [local, k] of kubeSessions) sayKubeGoodbye(local, k.remote, k.watch, kubeCauseForEnd(end));
        await Promise.all([...pgSessions].map(([local, pg]) => goodbyePg(ctx, server, grant.id, local, pg, end, localPassword)));
      }
      for (const s of sockets) s.destroy();
      // So every `connection_closed` goes out before the caller's `closed`; bounded, a stuck dial must not hold Ctrl-C.
      await drained(1_000);
      await closed;
    })();
    return closing;
  };
  void ended.then((end) => close(end));
  return { listener, localPassword, localCertificate: localCert?.cert, ended, close };
}

/** How long open connections may take to receive the gateway's goodbye after the grant ended. */
const GRANT_END_GRACE_MS = 3_000;

const grantResponse = z.object({ grant: grantSchema });

/** Long-polls the grant so a revocation reaches the user at once, not at the next connection. */
async function watchGrant(ctx: CliContext, server: string, id: string, signal: AbortSignal): Promise<TunnelEnd | undefined> {
  const client = ctx.client(server);
  let failures = 0;
  while (!signal.aborted) {
    try {
      const { grant: g } = await client.call('GET', `/v1/grants/${encodeURIComponent(id)}`, grantResponse, {
        query: { wait: 50, state: 'active' },
        signal,
        timeoutMs: 65_000,
      });
      failures = 0;
      if (g.state === 'revoked') return { reason: 'revoked', message: `grant ${id} was revoked` };
      if (g.state === 'expired') return { reason: 'expired', message: `grant ${id} expired` };
      if (g.state !== 'active') return { reason: 'closed', message: `grant ${id} is ${g.state}` };
    } catch {
      if (signal.aborted) return undefined;
      // The server may be restarting; the gateway still cuts tunnels on its side.
      failures += 1;
      await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** failures)).unref());
    }
  }
  return undefined;
}
