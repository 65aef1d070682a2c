import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { auditRefusal } from '../fail-closed.js';
import { admit, parseRequest, ruleFor } from './admission.js';
import { type ExchangeRecord, httpAuditDetails } from './audit.js';
import { type HttpRefusal, writeRawRefusal } from './errors.js';
import type { HttpTunnel } from './tunnel-state.js';
import { describeHttpUpstreamError, type HttpUpstream, HttpSetupError, upstreamRequestHeaders } from './upstream.js';

/** Response headers of the upstream's 101 the client needs to finish its handshake. */
const HANDSHAKE_HEADERS = ['sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions'];

/**
 * A WebSocket close frame (server to client: unmasked), code 1008 "policy
 * violation" with the reason, so the client's library reports why.
 */
function closeFrame(reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 120);
  const payload = Buffer.concat([Buffer.from([0x03, 0xf0]), text]);
  return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
}

function endThenDestroy(s: Duplex): void {
  if (s.destroyed) return;
  s.once('finish', () => s.destroy());
  s.end();
  setTimeout(() => s.destroy(), 2_000).unref();
}

/**
 * Passes a WebSocket upgrade through, checked by the same rules as any
 * request (method GET, canonical path); after the 101, frames flow both ways
 * untouched until either side closes or the grant ends (then the client gets
 * a close frame saying why). Audited as one `http.request` with `websocket: true`.
 */
export async function forwardHttpUpgrade(t: HttpTunnel, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const { ctx } = t;
  const record: ExchangeRecord = { method: (req.method ?? 'GET').toUpperCase(), path: (req.url ?? '/').split('?', 1)[0]!, query: '', bytesIn: 0, bytesOut: 0, started: Date.now(), websocket: true };
  const audit = (result: 'ok' | 'error' | 'denied' | 'held', extra: Record<string, unknown> = {}) =>
    ctx.audit({ action: 'http.request', result, details: httpAuditDetails(ctx.target, record, extra) });
  const refuse = (r: HttpRefusal, result: 'error' | 'denied' | 'held', extra: Record<string, unknown> = {}) => {
    record.status = r.status;
    writeRawRefusal(socket, r);
    audit(result, { code: r.code, ...extra });
  };
  socket.on('error', () => socket.destroy());

  const ended = t.ended();
  if (ended) return refuse(ended, 'denied');
  const unaudited = auditRefusal(ctx, 'requests');
  if (unaudited) return refuse({ status: 503, code: 'audit_unavailable', message: unaudited }, 'denied');
  if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    return refuse({ status: 400, code: 'upgrade_not_supported', message: 'gate: only WebSocket upgrades pass through an HTTP target.' }, 'error');
  }
  const parsed = parseRequest(req, ctx.localPassword);
  if (!parsed.ok) return refuse(parsed.refusal, parsed.refusal.status === 400 ? 'error' : 'denied');
  const r = parsed.req;
  Object.assign(record, { path: r.path, query: r.query });

  let stopped = false;
  let upSocket: Duplex | undefined;
  const abort = new AbortController();
  const untrack = t.track((refusal) => {
    stopped = true;
    abort.abort();
    if (!upSocket) return refuse(refusal, 'error', { ended: refusal.code });
    upSocket.destroy();
    socket.write(closeFrame(refusal.message));
    endThenDestroy(socket);
  });
  socket.once('close', untrack);

  const decision = ruleFor(ctx.target, r);
  if (decision) {
    const admission = await admit(ctx, r, decision, Buffer.alloc(0));
    if (stopped) return;
    if (!admission.allowed) return refuse(admission.refusal, admission.result, { rule: decision.rule, ...(admission.approvalId ? { approval: admission.approvalId } : {}) });
  }
  let up: HttpUpstream;
  try {
    up = await t.upstream();
  } catch (err) {
    const message = err instanceof HttpSetupError ? err.message : 'gate: the upstream could not be set up.';
    return refuse({ status: 500, code: 'upstream_setup', message }, 'error');
  }
  if (stopped || socket.destroyed) return;

  let upgraded: { headers: Record<string, string | string[] | undefined>; socket: Duplex };
  try {
    upgraded = await up.pool.upgrade({
      path: up.prefix + r.path + (r.query ? `?${r.query}` : ''),
      method: 'GET',
      headers: upstreamRequestHeaders(req.rawHeaders, req.headers, up, ctx.target.strip_headers, { identity: false }),
      protocol: 'websocket',
      signal: abort.signal,
    });
  } catch (err) {
    if (stopped) return;
    const d = describeHttpUpstreamError(err, ctx.targetName, up);
    const refusedUpgrade = (err as { code?: string }).code === 'UND_ERR_SOCKET' && /upgrade/i.test(String((err as Error).message));
    return refuse(
      refusedUpgrade
        ? { status: 502, code: 'upgrade_refused', message: `gate: the API of target "${ctx.targetName}" refused the WebSocket upgrade of ${r.path}.` }
        : { status: d.status, code: 'upstream_unreachable', message: d.message },
      'error',
    );
  }
  upSocket = upgraded.socket;
  if (stopped || socket.destroyed) {
    upSocket.destroy();
    return;
  }
  record.status = 101;
  const lines = ['HTTP/1.1 101 Switching Protocols', 'upgrade: websocket', 'connection: Upgrade'];
  for (const name of HANDSHAKE_HEADERS) {
    const v = upgraded.headers[name];
    if (v !== undefined) lines.push(`${name}: ${Array.isArray(v) ? v.join(', ') : v}`);
  }
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  const upSock = upSocket;
  if (head.length) upSock.write(head);
  upSock.on('data', (c: Buffer) => {
    record.bytesOut += c.length;
  });
  socket.on('data', (c: Buffer) => {
    record.bytesIn += c.length;
  });
  upSock.on('error', () => socket.destroy());
  upSock.pipe(socket);
  socket.pipe(upSock);
  let closed = false;
  const done = () => {
    if (closed) return;
    closed = true;
    audit('ok');
  };
  upSock.once('close', () => {
    if (!stopped) endThenDestroy(socket);
    done();
  });
  socket.once('close', () => {
    endThenDestroy(upSock);
    done();
  });
}
