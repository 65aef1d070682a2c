import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The checks every HTTP-speaking handler (Kubernetes, HTTP targets) makes on
 * a request that came in from the CLI's local listener, before anything
 * else. Each handler words the refusal in its own protocol.
 *
 * Host names as `kubectl proxy` accepts by default
 * (`^localhost$,^127\.0\.0\.1$,^\[::1\]$`): anything else is a DNS-rebinding
 * page in a browser or a client gate did not point here. A browser `Origin`
 * (sent on every cross-origin request and WebSocket upgrade) or
 * `Sec-Fetch-Site` (sent by browsers only; Node's fetch sends
 * `Sec-Fetch-Mode`, which therefore says nothing) is refused. With a
 * one-time local password, `Authorization: Bearer <it>` is required; the
 * handler strips it before forwarding.
 */
export type LocalProblem =
  | { problem: 'host'; host: string }
  | { problem: 'origin'; origin: string }
  | { problem: 'password' };

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function hostName(host: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(host.trim());
  return (m?.[1] ?? '').toLowerCase();
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Undefined when the local request may go on; else what is wrong with it. */
export function checkLocalRequest(headers: IncomingHttpHeaders, localPassword: string | undefined): LocalProblem | undefined {
  const host = headers.host;
  if (host === undefined || !LOOPBACK_HOSTS.has(hostName(host))) return { problem: 'host', host: host ?? '' };
  if (headers.origin !== undefined) return { problem: 'origin', origin: headers.origin };
  if (headers['sec-fetch-site'] !== undefined) return { problem: 'origin', origin: `(Sec-Fetch-Site: ${headers['sec-fetch-site']})` };
  if (localPassword !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
    if (!m || !sameSecret(m[1]!, localPassword)) return { problem: 'password' };
  }
  return undefined;
}
