import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KubernetesTarget } from '../../config/schema.js';
import type { GrantEnded, ProtocolHandler } from '../types.js';
import { forwardRequest, type TunnelState } from './forward.js';
import { forwardUpgrade } from './upgrade.js';
import { createUpstream, type Upstream } from './upstream.js';

/**
 * Idle time a tunnel's HTTP connection stays open between requests. Go's
 * client keeps idle connections for 90 s; staying a little under that spares
 * kubectl a new tunnel (an upgrade and a grant check) per request.
 */
const KEEP_ALIVE_MS = 60_000;

/**
 * The gateway's Kubernetes protocol handler: serves HTTP/1.1 on one tunnel
 * socket (kubectl speaks plain HTTP to the local listener, without
 * credentials) and reverse-proxies every request to the target's API server
 * with the granted role's token or client certificate. Each request is
 * classified like kube-apiserver does (verb, resource, namespace, name),
 * checked against the target's guardrails and audited as `k8s.request`.
 * Upgrades (exec, attach, port-forward) pass through. When `ctx.signal`
 * aborts, in-flight requests, watches and streams end and the socket closes.
 * Resolves when the socket has closed.
 */
export const handleKubernetes: ProtocolHandler<KubernetesTarget> = (socket, ctx) =>
  new Promise<void>((resolve) => {
    const stops = new Set<(message: string) => void>();
    let upstream: Promise<Upstream> | undefined;
    let ended: string | undefined;

    const state: TunnelState = {
      ctx,
      upstream: () => {
        upstream ??= createUpstream(ctx);
        return upstream;
      },
      track(stop) {
        stops.add(stop);
        return () => stops.delete(stop);
      },
      endedMessage: () => ended,
    };

    const server = createServer();
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    server.on('request', (req, res) => {
      forwardRequest(state, req, res).catch(() => res.destroy());
    });
    server.on('upgrade', (req: IncomingMessage, sock: Duplex, head: Buffer) => {
      forwardUpgrade(state, req, sock, head).catch(() => sock.destroy());
    });
    server.on('clientError', (_err, sock: Duplex) => {
      if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else sock.destroy();
    });

    const endedMessage = () => {
      const reason = ctx.signal.reason as Partial<GrantEnded> | undefined;
      return `gate: access to target "${ctx.targetName}" has ended: ${reason?.message ?? 'the grant is no longer active'}`;
    };
    const onAbort = () => {
      ended = endedMessage();
      for (const stop of [...stops]) stop(ended);
      // Let the refusals and final watch events flush, then close the tunnel.
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    };

    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      ctx.signal.removeEventListener('abort', onAbort);
      upstream?.then((up) => up.agent.destroy()).catch(() => {});
      resolve();
    });
    if (ctx.signal.aborted) {
      // Answer the first request with the reason (kubectl shows it, and does not
      // retry as it would after a reset), then close.
      ended = endedMessage();
      setTimeout(() => socket.destroy(), 10_000).unref();
    } else {
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    }
    server.emit('connection', socket);
  });
