import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { httpError, networkError } from '../api/client.js';
import { GateError } from '../errors.js';
import { FramedStream } from './framed-stream.js';
import type { HeartbeatSettings } from './heartbeat.js';
import { TUNNEL_PATH, TUNNEL_PROTOCOL, TUNNEL_PROTOCOL_V2, TunnelHeader } from './protocol.js';

export interface DialOptions {
  server: string;
  token: string;
  grantId: string;
  sessionId?: string;
  correlationId?: string;
  localPassword?: string;
  signal?: AbortSignal;
  /** Handshake timeout in ms. */
  timeoutMs?: number;
}

/**
 * Opens one tunnel: an HTTP/1.1 Upgrade to the server's tunnel endpoint. On
 * 101 the returned socket carries the target protocol both ways. A refusal
 * comes back as a GateError carrying the server's own reason.
 *
 * node:http rather than undici: undici's `upgrade()` hides a non-101 answer's
 * status and body (it throws "bad upgrade"), and the refusal reason is exactly
 * what the user needs to see.
 */
export async function dialTunnel(options: DialOptions): Promise<Socket> {
  return (await upgrade(options, [TUNNEL_PROTOCOL])).socket;
}

/** A tunnel's byte stream: the socket itself (`gate-tunnel/1`) or its framed stream (`gate-tunnel/2`). */
export type TunnelStream = Socket | FramedStream;

/** Servers that answered an offer of /2 with "no upgrade endpoint" (before 0.x), until when: they get /1 at once. */
const v1Only = new Map<string, number>();
const V1_ONLY_MS = 5 * 60_000;

/**
 * As dialTunnel, offering `gate-tunnel/2` first when `heartbeat` is set: the
 * server's choice decides whether the stream is framed, with pings every
 * interval and a LinkLostError after the timeout without any frame. A
 * server that does not speak /2 refuses the offer (it predates it); then
 * the same tunnel is dialled again on /1, and that server gets /1 at once
 * for the next minutes (a rolling upgrade replaces it soon enough).
 */
export async function dialTunnelStream(options: DialOptions & { heartbeat?: HeartbeatSettings }): Promise<TunnelStream> {
  const { heartbeat } = options;
  const key = options.server.replace(/\/+$/, '');
  const known = v1Only.get(key);
  const offerV2 = heartbeat !== undefined && !(known !== undefined && known > Date.now());
  let opened: Upgraded;
  try {
    opened = await upgrade(options, offerV2 ? [TUNNEL_PROTOCOL_V2, TUNNEL_PROTOCOL] : [TUNNEL_PROTOCOL]);
  } catch (err) {
    if (!offerV2 || !predatesV2(err)) throw err;
    v1Only.set(key, Date.now() + V1_ONLY_MS);
    opened = await upgrade(options, [TUNNEL_PROTOCOL]);
  }
  if (opened.protocol !== TUNNEL_PROTOCOL_V2) return opened.socket;
  return new FramedStream(opened.socket, { head: opened.head, heartbeat, peer: 'gate server' });
}

/** An old server's answer to an Upgrade it does not know: 404 "No upgrade endpoint … for protocol …". */
function predatesV2(err: unknown): boolean {
  if (!(err instanceof GateError)) return false;
  const status = (err.details as { status?: unknown } | undefined)?.status;
  return status === 404 && /no upgrade endpoint/i.test(err.message);
}

interface Upgraded {
  socket: Socket;
  /** The protocol the server answered with. */
  protocol: string;
  /** Bytes after the 101 (framed ones are fed to the decoder; /1 ones are unshifted). */
  head: Buffer;
}

function upgrade(options: DialOptions, offer: string[]): Promise<Upgraded> {
  const url = new URL(TUNNEL_PATH, `${options.server.replace(/\/+$/, '')}/`);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = {
    connection: 'Upgrade',
    upgrade: offer.join(', '),
    authorization: `Bearer ${options.token}`,
    [TunnelHeader.grant]: options.grantId,
    'user-agent': 'gate-cli',
  };
  if (options.sessionId) headers[TunnelHeader.session] = options.sessionId;
  if (options.correlationId) headers[TunnelHeader.correlation] = options.correlationId;
  if (options.localPassword) headers[TunnelHeader.localPassword] = options.localPassword;

  return new Promise<Upgraded>((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, signal: options.signal, timeout: options.timeoutMs ?? 15_000 });
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      const protocol = String(res.headers.upgrade ?? '').trim().toLowerCase();
      socket.setNoDelay(true);
      if (protocol === TUNNEL_PROTOCOL_V2) {
        resolve({ socket, protocol, head });
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve({ socket, protocol: TUNNEL_PROTOCOL, head: Buffer.alloc(0) });
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c));
      res.on('end', () => reject(httpError(res.statusCode ?? 500, Buffer.concat(chunks).toString('utf8'), options.server)));
      res.on('error', (err) => reject(networkError(err, options.server)));
    });
    req.on('timeout', () => {
      req.destroy(new GateError('GATE_ERR_TIMEOUT', `The gate server at ${options.server} did not open the tunnel in time.`));
    });
    req.on('error', (err) => reject(err instanceof GateError ? err : networkError(err, options.server)));
    req.end();
  });
}
