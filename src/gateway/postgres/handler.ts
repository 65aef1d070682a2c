/**
 * The gateway's PostgreSQL protocol handler: one call serves one tunnel.
 *
 * It answers the client's startup itself (no TLS on the tunnel's inner leg,
 * an optional local password), logs in upstream as the grant's role with the
 * server-held secret, gives the client its own cancel key, then relays with
 * audit, guardrails and masking until either side closes or the grant ends.
 * Every failure reaches the client as an ErrorResponse; nothing here throws.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import { DEFAULT_AUDIT_STATEMENT_BYTES, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_STATEMENT_BYTES } from '../../config/postgres-limits.js';
import type { PostgresTarget } from '../../config/schema.js';
import type { GatewayContext, ProtocolHandler } from '../types.js';
import {
  authenticationCleartextPassword,
  authenticationOk,
  backendKeyData,
  cstringAt,
  errorResponse,
  readyForQuery,
} from './backend.js';
import { viewMaskedEntries } from '../sql/view-masking.js';
import { loadMaskCatalog, type MaskCatalog } from './catalog.js';
import { lookupCancelTarget, registerCancelTarget, sendCancel } from './cancel-registry.js';
import { readClientStart } from './client-startup.js';
import { ProtocolError } from './framing.js';
import { F } from './frontend.js';
import { createMasker } from './masking.js';
import { relay } from './relay.js';
import { parseStartupOptions, refusedNotice } from './startup-options.js';
import { createPolicy } from './statement-policy.js';
import { encodingSupported, loadSqlParser } from '../sql/index.js';
import { SocketReader } from './socket-reader.js';
import { connectUpstream, splitAddress, UpstreamError } from './upstream.js';

const debug = debuglog('gate');

/** Startup parameters passed upstream from the client; `options` only through its allow-list (startup-options.ts); user and database are gate's. */
const FORWARDED_PARAMS = ['application_name', 'client_encoding', 'DateStyle', 'TimeZone', 'IntervalStyle', 'extra_float_digits', 'search_path'];

export const handlePostgres: ProtocolHandler<PostgresTarget> = async (socket, ctx) => {
  socket.on('error', () => {});
  try {
    await serve(socket, ctx);
  } catch (err) {
    debug('postgres handler for %s: %s', ctx.targetName, (err as Error)?.message ?? err);
    socket.destroy();
  }
};

async function serve(socket: Duplex, ctx: GatewayContext<PostgresTarget>): Promise<void> {
  const started = Date.now();
  const reader = new SocketReader(socket);
  let ended = false;
  const endWith = (code: string, message: string) => {
    if (ended) return;
    ended = true;
    reader.detach();
    socket.end(errorResponse({ severity: 'FATAL', code, message }));
    setTimeout(() => socket.destroy(), 1_000).unref();
  };
  const grantEnded = () => {
    const reason = ctx.signal.reason as { message?: string } | undefined;
    endWith('57P01', `terminating connection: ${reason?.message ?? 'gate grant ended'}`);
  };
  ctx.signal.addEventListener('abort', grantEnded, { once: true });
  try {
    let start: Awaited<ReturnType<typeof readClientStart>>;
    try {
      start = await readClientStart(reader, (b) => socket.write(b));
    } catch (err) {
      // A bad startup is answered in the protocol (libpq shows an ErrorResponse before startup too), not with a bare close.
      if (!(err instanceof ProtocolError) || err.message === 'connection closed') throw err;
      return endWith(/^unsupported frontend protocol/.test(err.message) ? '0A000' : '08P01', `gate: ${err.message}`);
    }
    if (start.kind === 'cancel') {
      reader.detach();
      socket.destroy();
      await handleCancel(start.pid, start.key, ctx);
      return;
    }
    if (ctx.signal.aborted) return grantEnded();

    if (ctx.localPassword !== undefined) {
      socket.write(authenticationCleartextPassword());
      const msg = await reader.readTyped(10_000);
      const given = msg.type === F.Password ? cstringAt(msg.body, 0)[0] : '';
      if (!sameSecret(given, ctx.localPassword)) {
        ctx.audit({ action: 'pg.connect', result: 'denied', details: { error: 'wrong local password' } });
        return endWith('28P01', 'gate: password authentication failed: wrong local password for this gate tunnel');
      }
    }

    const role = ctx.target.roles[ctx.grant.role];
    if (!role) {
      ctx.audit({ action: 'pg.connect', result: 'error', details: { error: `role ${ctx.grant.role} not configured` } });
      return endWith('28000', `gate: role ${ctx.grant.role} is not defined for ${ctx.targetName}`);
    }
    const clientInfo = {
      database: ctx.target.database,
      role: ctx.grant.role,
      username: role.username,
      client_user: start.params.user,
      client_database: start.params.database,
      application_name: start.params.application_name,
    };
    const fail = (code: string, reason: string) => {
      const text = `gate: cannot reach ${ctx.targetName} upstream: ${reason}`;
      ctx.audit({ action: 'pg.connect', result: 'error', details: { ...clientInfo, sqlstate: code, error: text } });
      endWith(code, text);
    };

    let password: string;
    let ca: string | undefined;
    try {
      password = await ctx.secret(role.password);
      if (ctx.target.tls.mode === 'verify-full' && ctx.target.tls.ca) ca = await ctx.secret(ctx.target.tls.ca);
    } catch {
      return fail('08001', `the server cannot resolve the credential for role ${ctx.grant.role}`);
    }
    if (ctx.signal.aborted) return grantEnded();

    const params: Record<string, string> = { application_name: 'gate' };
    for (const k of FORWARDED_PARAMS) if (start.params[k] !== undefined) params[k] = start.params[k];
    const options = parseStartupOptions(start.params.options);
    Object.assign(params, options.allowed);
    const encoding = params.client_encoding;
    if (guarded(ctx.target) && encoding && !encodingSupported(encoding)) {
      ctx.audit({ action: 'pg.connect', result: 'denied', details: { ...clientInfo, error: `unsupported client_encoding ${encoding}` } });
      return endWith('0A000', `gate: client_encoding ${encoding} cannot be read by gate on ${ctx.targetName}, whose guardrails or masking read every statement; use UTF8`);
    }
    if (options.refused.length > 0) {
      ctx.audit({ action: 'pg.startup_options_refused', result: 'denied', details: { ...clientInfo, refused: options.refused } });
    }
    let address: { host: string; port: number };
    let upstream: Awaited<ReturnType<typeof connectUpstream>>;
    try {
      address = splitAddress(ctx.target.address);
      upstream = await connectUpstream({
        ...address,
        tls: { mode: ctx.target.tls.mode, ca },
        user: role.username,
        database: ctx.target.database,
        password,
        auth: role.auth,
        params,
        signal: ctx.signal,
      });
    } catch (err) {
      if (ctx.signal.aborted) return grantEnded();
      const e = err instanceof UpstreamError ? err : new UpstreamError('08006', 'connection failed');
      return fail(e.code, redact(e.message, password));
    }
    if (ended || ctx.signal.aborted) {
      upstream.socket.destroy();
      return grantEnded();
    }
    ctx.signal.removeEventListener('abort', grantEnded);
    const settings = serverSettings(upstream.frames);
    if (guarded(ctx.target) && settings.standard_conforming_strings === 'off') {
      upstream.socket.destroy();
      ctx.audit({ action: 'pg.connect', result: 'denied', details: { ...clientInfo, error: 'standard_conforming_strings is off' } });
      return endWith('0A000', `gate: ${ctx.targetName} runs with standard_conforming_strings off; gate reads statements only with it on`);
    }

    let catalog: MaskCatalog | undefined;
    let upstreamLeftover = upstream.leftover;
    if (ctx.target.masking.columns.length > 0) {
      try {
        ({ catalog, leftover: upstreamLeftover } = await loadMaskCatalog(upstream.socket, upstream.leftover, ctx.target.masking.columns));
      } catch (err) {
        upstream.socket.destroy();
        return fail('08006', `could not resolve the masked columns: ${(err as Error).message}`);
      }
    }

    // Masking follows views: read their definitions with the same analysis (needs the parser).
    await loadSqlParser();
    const viewColumns = catalog ? viewMaskedEntries(catalog.views, { columns: ctx.target.masking.columns }) : [];

    const cancelTarget = { ...address, pid: upstream.pid, key: upstream.key, grantId: ctx.grant.id };
    const cancel = registerCancelTarget(cancelTarget);
    const clientLeftover = reader.detach();
    socket.write(
      Buffer.concat([
        ...(start.negotiate ? [start.negotiate] : []),
        authenticationOk(),
        ...upstream.frames,
        ...(options.refused.length > 0
          ? [errorResponse({ severity: 'NOTICE', code: '01000', message: refusedNotice(options.refused, ctx.targetName) }, true)]
          : []),
        backendKeyData(cancel.pid, cancel.key),
        readyForQuery(upstream.txStatus),
      ]),
    );
    ctx.audit({ action: 'pg.connect', result: 'ok', details: clientInfo });
    try {
      await loadSqlParser();
      const result = await relay({
        client: socket,
        upstream: upstream.socket,
        ctx,
        policy: createPolicy(ctx.target, ctx.targetName, viewColumns),
        masker: createMasker(ctx.target.masking),
        limits: {
          maxMessageBytes: ctx.target.limits?.max_message_bytes ?? DEFAULT_MAX_MESSAGE_BYTES,
          maxStatementBytes: ctx.target.limits?.max_statement_bytes ?? DEFAULT_MAX_STATEMENT_BYTES,
          auditStatementBytes: ctx.target.audit?.max_statement_bytes ?? DEFAULT_AUDIT_STATEMENT_BYTES,
        },
        txStatus: upstream.txStatus,
        settings,
        clientLeftover,
        upstreamLeftover,
        catalog,
        cancelUpstream: () => void sendCancel(cancelTarget),
      });
      ctx.audit({
        action: 'pg.disconnect',
        result: 'ok',
        details: {
          duration_ms: Date.now() - started,
          bytes_in: result.bytesFromClient,
          bytes_out: result.bytesToClient,
          statements: result.statements,
          ...(ctx.signal.aborted ? { reason: (ctx.signal.reason as { reason?: string })?.reason ?? 'grant ended' } : {}),
        },
      });
    } finally {
      cancel.release();
    }
  } finally {
    ctx.signal.removeEventListener('abort', grantEnded);
  }
}

/**
 * A CancelRequest: honoured only for a key gate issued under this grant. A key
 * this replica does not hold may belong to another one behind the same
 * balancer; the shared store carries it there.
 */
async function handleCancel(pid: number, key: number, ctx: GatewayContext<PostgresTarget>): Promise<void> {
  const target = lookupCancelTarget(pid, key, ctx.grant.id);
  let outcome: 'sent' | 'failed' | 'unknown';
  if (target) outcome = (await sendCancel(target)) ? 'sent' : 'failed';
  else outcome = (await ctx.forwardCancel?.(pid, key)) ?? 'unknown';
  if (outcome === 'unknown') {
    ctx.audit({ action: 'pg.cancel', result: 'denied', details: { error: 'unknown cancel key for this grant' } });
    return;
  }
  ctx.audit({ action: 'pg.cancel', result: outcome === 'sent' ? 'ok' : 'error', details: target ? {} : { via: 'another replica' } });
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Belt and braces: no message built from an upstream or TLS error may carry the password. */
function redact(text: string, password: string): string {
  return password && text.includes(password) ? text.split(password).join('****') : text;
}

function guarded(t: PostgresTarget): boolean {
  return t.guardrails.length > 0 || t.masking.columns.length > 0 || t.masking.detectors.length > 0;
}

/** The ParameterStatus values the server reported at login. */
function serverSettings(frames: Buffer[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of frames) {
    if (f[0] !== 0x53) continue;
    const [name, at] = cstringAt(f, 5);
    out[name] = cstringAt(f, at)[0];
  }
  return out;
}
