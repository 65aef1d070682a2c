import type { Configuration } from 'openid-client';
import { GateError } from '../errors.js';

/**
 * Discovers the IdP for a public client (no secret: the device flow runs on
 * the user's machine). Plain http is allowed only for loopback issuers, which
 * is what `gate dev` serves.
 */
export async function discoverIssuer(issuer: string, clientId: string): Promise<Configuration> {
  const url = new URL(issuer);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol === 'http:' && !loopback) {
    throw new GateError('GATE_ERR_AUTH_FAILED', `The identity provider ${issuer} is not served over https.`);
  }
  // Loaded on first use: most commands never talk to the IdP, and this keeps their start-up short.
  const oidc = await import('openid-client');
  try {
    return await oidc.discovery(url, clientId, undefined, oidc.None(), {
      execute: url.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
      timeout: 15,
    });
  } catch (err) {
    throw new GateError('GATE_ERR_NETWORK', `Cannot reach the identity provider at ${issuer}: ${(err as Error).message}.`, {
      cause: err,
    });
  }
}
