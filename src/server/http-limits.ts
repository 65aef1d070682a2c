import type { Socket } from 'node:net';
import type { LimitsConfig } from '../config/hardening.js';
import { parseDuration } from '../config/duration.js';
import type { AuditLog } from './audit/log.js';

/**
 * node:http's own clocks against slow clients: a request (an upgrade
 * included) must finish its headers within `limits.header_timeout`. Node
 * checks its clocks every `connectionsCheckingInterval`, so that interval
 * is kept well under the timeout.
 */
export function httpServerTimeouts(limits: LimitsConfig): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  const headersTimeout = parseDuration(limits.header_timeout);
  return {
    headersTimeout,
    // The whole request (body included) gets more: recording chunks are up to a few MB.
    requestTimeout: Math.max(headersTimeout, 120_000),
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 4))),
  };
}

/**
 * fastify's `clientErrorHandler`: what node:http refuses before any route
 * runs (a slowloris client, oversized headers, garbage) is answered with
 * gate's JSON error body, and the limits among them are audited.
 */
export function clientErrorHandler(audit: AuditLog, limits: LimitsConfig) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let status = 400;
    let code = 'bad_request';
    let message = 'The request could not be parsed.';
    let limit: string | undefined;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      code = 'request_timeout';
      message = `The request's headers did not arrive within ${limits.header_timeout} (limits.header_timeout).`;
      limit = 'header_timeout';
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      code = 'headers_too_large';
      message = 'The request headers are larger than the server accepts.';
      limit = 'max_header_size';
    }
    if (limit) {
      audit
        .append({ action: 'http.limit', result: 'denied', ip: socket.remoteAddress ?? null, details: { limit } })
        .catch(() => {});
    }
    const body = JSON.stringify({ error: { code, message } });
    if (socket.writable) {
      const reason = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[status];
      socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.destroy();
  };
}
