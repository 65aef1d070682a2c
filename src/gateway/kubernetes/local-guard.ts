import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type KubeStatus, kubeStatus } from './status.js';

/**
 * Host names the local listener answers to, as `kubectl proxy` accepts by
 * default (`^localhost$,^127\.0\.0\.1$,^\[::1\]$`). Anything else is a DNS
 * rebinding page in a browser or a client that was not pointed here by gate.
 */
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

/**
 * Checks one request that came in on the tunnel from the CLI's local
 * listener, before anything else: a loopback `Host`, no browser `Origin`
 * (kubectl and client-go never send one; a web page always does on a
 * cross-origin request and on every WebSocket upgrade), and, when the tunnel
 * was opened with a one-time local password, `Authorization: Bearer <it>`
 * (the temporary kubeconfig carries it; the gateway strips it and sends the
 * role's own credential upstream). Returns the refusal, or undefined.
 */
export function localGuard(req: IncomingMessage, localPassword: string | undefined): KubeStatus | undefined {
  const host = req.headers.host;
  if (host === undefined || !LOOPBACK_HOSTS.has(hostName(host))) {
    return kubeStatus(
      403,
      'Forbidden',
      `gate: the local Kubernetes listener only answers requests for localhost, 127.0.0.1 or [::1] (Host: ${JSON.stringify(host ?? '')}).`,
    );
  }
  if (req.headers.origin !== undefined) {
    return kubeStatus(
      403,
      'Forbidden',
      `gate: the local Kubernetes listener refuses requests with an Origin header (${JSON.stringify(req.headers.origin)}): browsers may not use it.`,
    );
  }
  if (localPassword !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m || !sameSecret(m[1]!, localPassword)) {
      return kubeStatus(
        401,
        'Unauthorized',
        'gate: this tunnel needs the one-time local token from the kubeconfig gate wrote; use that kubeconfig (KUBECONFIG) to reach it.',
      );
    }
  }
  return undefined;
}
