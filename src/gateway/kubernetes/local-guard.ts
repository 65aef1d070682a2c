import type { IncomingMessage } from 'node:http';
import { checkLocalRequest } from '../local-guard.js';
import { type KubeStatus, kubeStatus } from './status.js';

/**
 * Checks one request that came in on the tunnel from the CLI's local
 * listener (see ../local-guard.ts): a loopback `Host`, no browser `Origin`
 * (kubectl and client-go never send one), and, when the tunnel was opened
 * with a one-time local password, `Authorization: Bearer <it>` (the
 * temporary kubeconfig carries it; the gateway strips it and sends the
 * role's own credential upstream). Returns the refusal, or undefined.
 */
export function localGuard(req: IncomingMessage, localPassword: string | undefined): KubeStatus | undefined {
  const p = checkLocalRequest(req.headers, localPassword);
  if (!p) return undefined;
  switch (p.problem) {
    case 'host':
      return kubeStatus(
        403,
        'Forbidden',
        `gate: the local Kubernetes listener only answers requests for localhost, 127.0.0.1 or [::1] (Host: ${JSON.stringify(p.host)}).`,
      );
    case 'origin':
      return kubeStatus(
        403,
        'Forbidden',
        `gate: the local Kubernetes listener refuses requests with an Origin header (${JSON.stringify(p.origin)}): browsers may not use it.`,
      );
    case 'password':
      return kubeStatus(
        401,
        'Unauthorized',
        'gate: this tunnel needs the one-time local token from the kubeconfig gate wrote; use that kubeconfig (KUBECONFIG) to reach it.',
      );
  }
}
