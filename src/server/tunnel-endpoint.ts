import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { isStoreUnavailable, STORE_UNAVAILABLE_MESSAGE } from './store-errors.js';
import type { Socket } from 'node:net';
import { ApiError } from '../api/errors.js';
import { resolveSecret } from '../config/secrets.js';
import type { TargetConfig } from '../config/schema.js';
import { handlerFor } from '../gateway/index.js';
import type { ApprovalCheck, GatewayAuditEvent, GatewayContext, GrantEnded, TunnelGrant } from '../gateway/types.js';
import { FramedStream } from '../tunnel/framed-stream.js';
import { type HeartbeatSettings, secondsText } from '../tunnel/heartbeat.js';
import { pickTunnelProtocol, TUNNEL_PATH, TUNNEL_PROTOCOL_V2, TunnelHeader } from '../tunnel/protocol.js';
import type { StoredSession } from '../store/store.js';
import type { Caller } from './context.js';
import type { Logger } from './log.js';
import { checkSessionBinding } from './tunnel-binding.js';
import { createTunnelCounters, type TunnelLimits, watchTunnelTimeouts } from './tunnel-limits.js';

/** What the tunnel endpoint needs from the rest of the server. */
export interface TunnelDeps {
  log: Logger;
  env: NodeJS.ProcessEnv;
  targets: Record<string, TargetConfig>;
  authenticate(authorization: string | undefined): Promise<Caller>;
  /** The grant if it is active and belongs to `caller`; otherwise a reason. */
  activeGrant(id: string, caller: Caller): Promise<TunnelGrant | { refused: string; status: number }>;
  /** Calls back once when the grant ends; returns an unsubscribe function. */
  onGrantEnded(id: string, cb: (ended: GrantEnded) => void): () => void;
  audit(caller: Caller, grant: TunnelGrant, meta: TunnelMeta, event: GatewayAuditEvent): void;
  /** See GatewayContext.auditSync. */
  auditSync?(): void;
  /** See GatewayContext.auditUnavailable. */
  auditUnavailable?(): string | undefined;
  /** Asks the other replicas to cancel a query this one has no key for (see GatewayContext.forwardCancel). */
  forwardCancel?(key: { pid: number; key: number; grantId: string }): Promise<'sent' | 'failed' | 'unknown'>;
  requestApproval(caller: Caller, grant: TunnelGrant, input: Parameters<GatewayContext['requestApproval']>[0]): Promise<ApprovalCheck>;
  /** The recorded session a `Gate-Session` header names, if it exists. */
  session(id: string): Promise<StoredSession | undefined>;
  limits: TunnelLimits;
  /**
   * GATE_TUNNEL_PING_INTERVAL / _TIMEOUT: `gate-tunnel/2` is offered, and
   * its tunnels pinged, with these; undefined (interval 0): /1 only.
   */
  heartbeat?: HeartbeatSettings;
}

export interface TunnelMeta {
  sessionId?: string;
  correlationId?: string;
  ip: string;
}

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** One open tunnel, as the console's Live page lists it (no secret, no token). */
export interface LiveTunnel {
  id: string;
  target: string;
  role: string;
  grantId: string;
  user: string;
  userKey: string;
  sessionId: string | null;
  ip: string;
  openedAt: string;
}

/** What the server keeps of the tunnel endpoint: list, terminate, and end all at shutdown. */
export interface TunnelRegistry {
  list(): LiveTunnel[];
  /** Cuts one open tunnel; false when it is no longer open. */
  terminate(id: string, message: string): boolean;
  closeAll(): void;
}

/**
 * Ends every tunnel: checks the token and the grant, answers `101`, then
 * hands the socket to the target's protocol handler, and cuts it when the
 * grant ends. Refusals are plain HTTP answers with the JSON error body, so the
 * CLI can show the reason.
 */
export function attachTunnelEndpoint(server: Server, deps: TunnelDeps): TunnelRegistry {
  const open = new Map<AbortController, LiveTunnel>();
  const counters = createTunnelCounters(deps.limits);

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    const path = (req.url ?? '').split('?')[0];
    const protocol = path === TUNNEL_PATH ? pickTunnelProtocol(req.headers.upgrade, deps.heartbeat !== undefined) : undefined;
    if (!protocol) {
      refuse(socket, new ApiError('not_found', `No upgrade endpoint ${path} for protocol ${req.headers.upgrade ?? '(none)'}.`));
      return;
    }
    void accept(req, socket, head, protocol).catch((err) => {
      if (err instanceof ApiError) refuse(socket, err);
      else if (isStoreUnavailable(err)) refuse(socket, new ApiError('unavailable', STORE_UNAVAILABLE_MESSAGE));
      else {
        deps.log.error('tunnel failed', { error: String((err as Error)?.message ?? err) });
        refuse(socket, new ApiError('internal', 'The tunnel could not be opened.'));
      }
    });
  });

  async function accept(req: IncomingMessage, raw: Socket, head: Buffer, protocol: string): Promise<void> {
    const caller = await deps.authenticate(req.headers.authorization);
    const grantId = header(req, TunnelHeader.grant);
    if (!grantId) throw new ApiError('bad_request', `The tunnel request has no ${TunnelHeader.grant} header.`);
    const found = await deps.activeGrant(grantId, caller);
    if ('refused' in found) {
      deps.log.warn('tunnel refused', { sub: caller.sub, grant: grantId, reason: found.refused });
      throw new ApiError(found.status === 404 ? 'not_found' : 'forbidden', found.refused, { grant_id: grantId });
    }
    const grant = found;
    const target = deps.targets[grant.target];
    if (!target) throw new ApiError('not_found', `Target ${grant.target} is no longer configured.`);
    const rawSession = header(req, TunnelHeader.session);
    if (rawSession && !SESSION_ID.test(rawSession)) throw new ApiError('bad_request', 'Invalid session id.');
    const sessionId = rawSession?.toLowerCase();
    const meta: TunnelMeta = { sessionId, correlationId: header(req, TunnelHeader.correlation) ?? caller.correlationId, ip: req.socket.remoteAddress ?? '' };
    const audit = (event: GatewayAuditEvent) => deps.audit(caller, grant, meta, event);
    try {
      checkSessionBinding({ caller, grant, target, sessionId, session: sessionId ? await deps.session(sessionId) : undefined });
    } catch (err) {
      // The session id is not this caller's to use: nothing of this attempt is filed under it.
      const refusedMeta = { ...meta, sessionId: undefined };
      deps.audit(caller, grant, refusedMeta, {
        action: 'tunnel.refused',
        result: 'denied',
        details: { reason: (err as ApiError).code, message: (err as Error).message, session_id: sessionId ?? null },
      });
      throw err;
    }
    // Fail closed: a tunnel whose events could not be kept is not opened (open ones refuse each statement or request).
    const unaudited = deps.auditUnavailable?.();
    if (unaudited) throw new ApiError('unavailable', `The gate server cannot keep audit events right now (${unaudited}); no tunnel is opened until it can.`);
    // Counted and taken with no await in between: two upgrades cannot both take the last slot.
    const slot = counters.take(grant);
    if ('refused' in slot) {
      audit({ action: 'tunnel.limit', result: 'denied', details: { limit: slot.limit, max: slot.max } });
      throw new ApiError('too_many_connections', slot.refused, { limit: slot.limit, max: slot.max });
    }

    const controller = new AbortController();
    open.set(controller, {
      id: randomUUID(),
      target: grant.target,
      role: grant.role,
      grantId: grant.id,
      user: caller.sub,
      userKey: caller.key,
      sessionId: sessionId ?? null,
      ip: meta.ip,
      openedAt: new Date().toISOString(),
    });
    const unsubscribe = deps.onGrantEnded(grant.id, (ended) => controller.abort(ended));
    // A grant can end between the check above and the subscription.
    const expiresIn = grant.expiresAt.getTime() - Date.now();
    const timer = setTimeout(
      () => controller.abort({ reason: 'expired', message: `gate grant ${grant.id} expired` } satisfies GrantEnded),
      Math.max(0, expiresIn),
    );
    timer.unref();

    raw.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${protocol}\r\nConnection: Upgrade\r\n\r\n`);
    raw.setNoDelay(true);
    let socket: Socket | FramedStream = raw;
    if (protocol === TUNNEL_PROTOCOL_V2) {
      const heartbeat = deps.heartbeat;
      socket = new FramedStream(raw, {
        head,
        heartbeat,
        peer: 'gate client',
        // Said before the stream goes, so the handler's cleanup and tunnel.close see why.
        onLinkLost: () =>
          controller.abort({
            reason: 'link_lost',
            message: `gate tunnel closed: no answer from the gate client for ${secondsText(heartbeat?.timeoutMs ?? 0)}`,
          } satisfies GrantEnded),
      });
      socket.on('error', () => {});
    } else if (head.length > 0) raw.unshift(head);
    const stopTimeouts = watchTunnelTimeouts(socket, deps.limits, head.length > 0, (ended, limit) => {
      audit({ action: 'tunnel.limit', result: 'denied', details: { limit, message: ended.message } });
      controller.abort(ended);
    });
    const started = Date.now();
    audit({ action: 'tunnel.open', result: 'ok', details: { target: grant.target, role: grant.role, type: target.type } });
    try {
      await handlerFor(target)(socket, {
        targetName: grant.target,
        target,
        grant,
        sessionId: meta.sessionId,
        correlationId: meta.correlationId,
        localPassword: header(req, TunnelHeader.localPassword),
        secret: (ref) => resolveSecret(ref, deps.env),
        audit,
        auditSync: deps.auditSync,
        auditUnavailable: deps.auditUnavailable,
        forwardCancel: deps.forwardCancel && ((pid, key) => deps.forwardCancel!({ pid, key, grantId: grant.id })),
        requestApproval: (input) => deps.requestApproval(caller, grant, input),
        signal: controller.signal,
      });
    } finally {
      stopTimeouts();
      slot.release();
      clearTimeout(timer);
      unsubscribe();
      open.delete(controller);
      socket.destroy();
      const reason = controller.signal.aborted ? (controller.signal.reason as GrantEnded).reason : 'closed';
      audit({ action: 'tunnel.close', result: 'ok', details: { reason, duration_ms: Date.now() - started } });
    }
  }

  return {
    list: () => [...open.values()],
    terminate(id, message) {
      for (const [c, t] of open) {
        if (t.id !== id) continue;
        c.abort({ reason: 'terminated', message } satisfies GrantEnded);
        return true;
      }
      return false;
    },
    closeAll() {
      for (const c of open.keys()) c.abort({ reason: 'server_shutdown', message: 'the gate server is shutting down' } satisfies GrantEnded);
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v || undefined;
}

function refuse(socket: Socket, err: ApiError): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: { code: err.code, message: err.message, details: err.details } });
  socket.end(
    `HTTP/1.1 ${err.status} ${statusText(err.status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  return (
    {
      400: 'Bad Request',
      401: 'Unauthorized',
      403: 'Forbidden',
      404: 'Not Found',
      408: 'Request Timeout',
      410: 'Gone',
      429: 'Too Many Requests',
      431: 'Request Header Fields Too Large',
      500: 'Internal Server Error',
    }[status] ?? 'Error'
  );
}
