import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Gateway-made answers for HTTP targets: always JSON,
 * `{"error": {"code", "message", …}}`, so a script or SDK can show why.
 */
export interface HttpRefusal {
  status: number;
  /** Stable machine-readable code, e.g. `guardrail_denied`, `approval_required`, `grant_expired`. */
  code: string;
  message: string;
  /** Extra fields (approval_id, rule). */
  details?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export function refusalBody(r: HttpRefusal): string {
  return JSON.stringify({ error: { code: r.code, message: r.message, ...(r.details ?? {}) } });
}

/** Sends a refusal on a response that has not started; a started one can only be cut. */
export function sendRefusal(res: ServerResponse, r: HttpRefusal, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = refusalBody(r);
  res.writeHead(r.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(r.headers ?? {}),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/** The refusal as a raw HTTP/1.1 response, for an upgrade socket no http.Server answers for any more. */
export function writeRawRefusal(socket: Duplex, r: HttpRefusal): void {
  if (socket.destroyed) return;
  const body = refusalBody(r);
  const extra = Object.entries(r.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
  );
}
