import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpRefusal } from './errors.js';

/**
 * Checks on what reached `gate connect`'s loopback listener, made here where
 * the HTTP is parsed. A web page the user visits can make the browser send
 * requests to 127.0.0.1 (and, through DNS rebinding, with any Host): only
 * loopback Host names are answered and any request carrying a browser
 * `Origin` (or `Sec-Fetch-Site`) is refused. With `--local-password` the client
 * must also send `Authorization: Bearer <one-time password>`, which the
 * gateway strips before forwarding.
 */
const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d{1,5})?$/i;

export function isLoopbackHost(host: string | undefined): boolean {
  return host !== undefined && LOOPBACK_HOST.test(host.trim());
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Undefined when the local client may go on; else the refusal to send. */
export function checkLocalClient(headers: IncomingHttpHeaders, localPassword: string | undefined): HttpRefusal | undefined {
  if (!isLoopbackHost(headers.host)) {
    return {
      status: 421,
      code: 'host_not_allowed',
      message: `gate: this local tunnel answers only loopback Host names (127.0.0.1, localhost, [::1]), not ${JSON.stringify(headers.host ?? '')}.`,
    };
  }
  // Sec-Fetch-Site is sent by browsers only (Node's fetch sends Sec-Fetch-Mode, so that one says nothing).
  if (headers.origin !== undefined || headers['sec-fetch-site'] !== undefined) {
    return {
      status: 403,
      code: 'browser_origin_refused',
      message: `gate: requests from a browser page (Origin ${JSON.stringify(headers.origin ?? '(fetch metadata)')}) are refused by the local tunnel.`,
    };
  }
  if (localPassword === undefined) return undefined;
  const auth = headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (!m || !sameSecret(m[1]!, localPassword)) {
    return {
      status: 401,
      code: 'local_password_required',
      message: 'gate: this local tunnel needs the one-time local bearer that `gate connect --local-password` printed: send it as `Authorization: Bearer …`.',
      headers: { 'www-authenticate': 'Bearer realm="gate local tunnel"' },
    };
  }
  return undefined;
}
