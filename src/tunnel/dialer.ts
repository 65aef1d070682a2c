import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { httpError, networkError } from '../api/client.js';
import { GateError } from '../errors.js';
import { TUNNEL_PATH, TUNNEL_PROTOCOL, TunnelHeader } from './protocol.js';

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
export function dialTunnel(options: DialOptions): Promise<Socket> {
  const url = new URL(TUNNEL_PATH, `${options.server.replace(/\/+$/, '')}/`);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = {
    connection: 'Upgrade',
    upgrade: TUNNEL_PROTOCOL,
    authorization: `Bearer ${options.token}`,
    [TunnelHeader.grant]: options.grantId,
    'user-agent': 'gate-cli',
  };
  if (options.sessionId) headers[TunnelHeader.session] = options.sessionId;
  if (options.correlationId) headers[TunnelHeader.correlation] = options.correlationId;
  if (options.localPassword) headers[TunnelHeader.localPassword] = options.localPassword;

  return new Promise<Socket>((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, signal: options.signal, timeout: options.timeoutMs ?? 15_000 });
    req.on('upgrade', (_res: IncomingMessage, socket: Socket, head: Buffer) => {
      if (head.length > 0) socket.unshift(head);
      socket.setNoDelay(true);
      resolve(socket);
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
