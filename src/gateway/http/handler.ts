import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpTarget } from '../../config/http-target.js';
import type { ProtocolHandler } from '../types.js';
import type { HttpRefusal } from './errors.js';
import { forwardHttpRequest } from './forward.js';
import { createHttpMasker } from './masking.js';
import { grantEndedRefusal, type HttpTunnel } from './tunnel-state.js';
import { createHttpUpstream, type HttpUpstream } from './upstream.js';
import { forwardHttpUpgrade } from './websocket.js';

/** Idle time a tunnel's client connection stays open between requests. */
const KEEP_ALIVE_MS = 60_000;

/**
 * The gateway's HTTP-target handler: serves HTTP/1.1 on one tunnel socket
 * (the client speaks plain HTTP to `gate connect`'s loopback listener) and
 * forwards every request to the target's API with the role's credential,
 * after the local checks, the canonical-path guardrails and approvals;
 * masks responses and audits each exchange as `http.request`. When
 * `ctx.signal` aborts, requests, streams and WebSockets in flight end within
 * a second and the client is told why. Resolves when the socket has closed.
 */
export const handleHttp: ProtocolHandler<HttpTarget> = (socket, ctx) =>
  new Promise<void>((resolve) => {
    const stops = new Set<(r: HttpRefusal) => void>();
    let upstream: Promise<HttpUpstream> | undefined;
    let ended: HttpRefusal | undefined;

    const state: HttpTunnel = {
      ctx,
      masker: createHttpMasker(ctx.target.masking),
      upstream: () => {
        upstream ??= createHttpUpstream(ctx);
        // A failed set-up (a secret missing) is retried by the next request, not cached.
        upstream.catch(() => {
          upstream = undefined;
        });
        return upstream;
      },
      track(stop) {
        stops.add(stop);
        return () => stops.delete(stop);
      },
      ended: () => ended,
    };

    const server = createServer();
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    server.on('request', (req, res) => {
      forwardHttpRequest(state, req, res).catch(() => res.destroy());
    });
    server.on('upgrade', (req: IncomingMessage, sock: Duplex, head: Buffer) => {
      forwardHttpUpgrade(state, req, sock, head).catch(() => sock.destroy());
    });
    server.on('clientError', (_err, sock: Duplex) => {
      if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else sock.destroy();
    });

    const onAbort = () => {
      ended = grantEndedRefusal(ctx);
      for (const stop of [...stops]) stop(ended);
      // Let the refusals flush, then close the tunnel.
      setTimeout(() => socket.destroy(), 1_000).unref();
      if (stops.size === 0) socket.end();
    };
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      ctx.signal.removeEventListener('abort', onAbort);
      resolve();
    });
    if (ctx.signal.aborted) {
      // Answer the first request with the reason, then close.
      ended = grantEndedRefusal(ctx);
      setTimeout(() => socket.destroy(), 10_000).unref();
    } else {
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    }
    server.emit('connection', socket);
  });
