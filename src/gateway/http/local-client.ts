import type { IncomingHttpHeaders } from 'node:http';
import { checkLocalRequest } from '../local-guard.js';
import type { HttpRefusal } from './errors.js';

/**
 * The local-listener checks (../local-guard.ts, shared with Kubernetes),
 * worded as the HTTP target's JSON errors: only loopback Host names, no
 * browser Origin, and with `--local-password` the one-time bearer.
 */
export function checkLocalClient(headers: IncomingHttpHeaders, localPassword: string | undefined): HttpRefusal | undefined {
  const p = checkLocalRequest(headers, localPassword);
  if (!p) return undefined;
  switch (p.problem) {
    case 'host':
      return {
        status: 421,
        code: 'host_not_allowed',
        message: `gate: this local tunnel answers only loopback Host names (localhost, 127.0.0.1, [::1]), not ${JSON.stringify(p.host)}.`,
      };
    case 'origin':
      return {
        status: 403,
        code: 'browser_origin_refused',
        message: `gate: requests from a browser page (Origin ${JSON.stringify(p.origin)}) are refused by the local tunnel.`,
      };
    case 'password':
      return {
        status: 401,
        code: 'local_password_required',
        message: 'gate: this local tunnel needs the one-time local bearer that `gate connect --local-password` printed: send it as `Authorization: Bearer …`.',
        headers: { 'www-authenticate': 'Bearer realm="gate local tunnel"' },
      };
  }
}
