import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { auditRefusal } from '../fail-closed.js';
import { guardRefusal, refusedPath, upstreamFailure, type TunnelState } from './forward.js';
import { admit, auditDetails } from './policy.js';
import { classifyRequest } from './request-info.js';
import { kubeStatus, rawStatusResponse } from './status.js';
import { downstreamHeaders, openUpstreamRequest, type Upstream, upstreamHeaders } from './upstream.js';

/** Error bodies of refused upgrades are small; cap what we hold in memory. */
const MAX_REFUSAL_BODY = 1 << 20;

/** Ends a socket after its queued writes, then frees it (a half-open peer must not keep it alive). */
function endThenDestroy(s: Duplex): void {
  if (s.destroyed) return;
  s.once('finish', () => s.destroy());
  s.end();
  setTimeout(() => s.destroy(), 5_000).unref();
}

function headerLines(rawHeaders: string[], keepUpgrade: boolean, extra: string[] = []): string {
  const headers = downstreamHeaders(rawHeaders, keepUpgrade);
  const lines: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  return [...lines, ...extra].map((l) => `${l}\r\n`).join('');
}

/**
 * Passes an Upgrade request (`kubectl exec`, `attach`, `port-forward` over
 * SPDY/3.1 or WebSocket) through to the API server with the role's
 * credential: after the 101, bytes flow both ways untouched until either
 * side closes or the grant ends.
 */
export async function forwardUpgrade(t: TunnelState, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const classified = classifyRequest(req.method ?? 'GET', req.url ?? '/');
  const { info } = classified;
  const ended = t.endedMessage();
  if (ended) {
    socket.end(rawStatusResponse(kubeStatus(403, 'Forbidden', ended, info)));
    return;
  }
  const unaudited = auditRefusal(t.ctx, 'requests');
  if (unaudited) {
    socket.end(rawStatusResponse(kubeStatus(503, 'ServiceUnavailable', unaudited, info)));
    return;
  }
  const guard = guardRefusal(t, req, info);
  if (guard) {
    socket.end(rawStatusResponse(guard));
    return;
  }
  if (!classified.ok) {
    socket.end(rawStatusResponse(refusedPath(t, info, req.url ?? '/', classified.reason)));
    return;
  }
  const url = classified.target;

  let stopped = false;
  let upSocket: Duplex | undefined;
  const untrack = t.track((message) => {
    stopped = true;
    upSocket?.destroy();
    if (upSocket) socket.destroy();
    else socket.end(rawStatusResponse(kubeStatus(403, 'Forbidden', message, info)));
  });
  socket.once('close', untrack);

  const admission = await admit(t.ctx, info, url);
  if (stopped) return;
  if (!admission.allowed) {
    socket.end(rawStatusResponse(admission.status));
    return;
  }
  let up: Upstream;
  try {
    up = await t.upstream();
  } catch (err) {
    if (!stopped) socket.end(rawStatusResponse(upstreamFailure(t, info, url, err, undefined)));
    return;
  }
  if (stopped || socket.destroyed) return;

  const headers = upstreamHeaders(req.rawHeaders, req.headers, up, true);
  // Without a length Node would send a chunked (empty) body before the upgraded bytes.
  if (req.headers['content-length'] === undefined) headers['Content-Length'] = '0';
  const upReq = openUpstreamRequest(up, req.method ?? 'GET', url, headers);

  upReq.on('upgrade', (upRes: IncomingMessage, upSock: Duplex, upHead: Buffer) => {
    upSocket = upSock;
    t.ctx.audit({ action: 'k8s.request', result: 'ok', details: auditDetails(info, url, upRes.statusCode ?? 101) });
    if (stopped || socket.destroyed) {
      upSock.destroy();
      return;
    }
    socket.write(`HTTP/1.1 101 ${upRes.statusMessage || 'Switching Protocols'}\r\n${headerLines(upRes.rawHeaders, true)}\r\n`);
    if (upHead.length) socket.write(upHead);
    if (head.length) upSock.write(head);
    upSock.on('error', () => socket.destroy());
    upSock.pipe(socket);
    socket.pipe(upSock);
    upSock.once('close', () => endThenDestroy(socket));
    socket.once('close', () => endThenDestroy(upSock));
  });

  upReq.on('response', (upRes) => {
    // The API server refused the upgrade (403, 404, 400…): relay its answer and close.
    const code = upRes.statusCode ?? 502;
    t.ctx.audit({ action: 'k8s.request', result: code < 400 ? 'ok' : 'error', details: auditDetails(info, url, code) });
    const chunks: Buffer[] = [];
    let size = 0;
    upRes.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_REFUSAL_BODY) chunks.push(c);
    });
    upRes.on('error', () => socket.destroy());
    upRes.on('end', () => {
      const body = Buffer.concat(chunks);
      const drop = ['content-length', 'transfer-encoding', 'connection', 'keep-alive'];
      const raw: string[] = [];
      for (let i = 0; i + 1 < upRes.rawHeaders.length; i += 2) {
        if (!drop.includes(upRes.rawHeaders[i]!.toLowerCase())) raw.push(upRes.rawHeaders[i]!, upRes.rawHeaders[i + 1]!);
      }
      const lines = headerLines(raw, false, [`Content-Length: ${body.length}`, 'Connection: close']);
      socket.write(`HTTP/1.1 ${code} ${upRes.statusMessage ?? ''}\r\n${lines}\r\n`);
      socket.end(body);
    });
  });

  upReq.on('error', (err) => {
    if (stopped) return;
    if (upSocket) socket.destroy();
    else socket.end(rawStatusResponse(upstreamFailure(t, info, url, err, up)));
  });
  upReq.end();
}
