import type { DeviceAuthorizationResponse } from 'openid-client';
import { CancelledError, GateError } from '../errors.js';
import { discoverIssuer } from './oidc-client.js';

export interface DeviceCode {
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
}

export interface DeviceLoginResult {
  idToken: string;
  refreshToken?: string;
}

/**
 * Runs the RFC 8628 device authorization grant against the IdP: shows the
 * code through `onCode`, then polls with the server's interval and `slow_down`
 * back-off (openid-client implements both) until the user finishes or the
 * code expires.
 */
export async function deviceLogin(options: {
  issuer: string;
  clientId: string;
  scopes: string[];
  signal: AbortSignal;
  onCode(code: DeviceCode): void | Promise<void>;
}): Promise<DeviceLoginResult> {
  const config = await discoverIssuer(options.issuer, options.clientId);
  const oidc = await import('openid-client');
  let response: DeviceAuthorizationResponse;
  try {
    response = await oidc.initiateDeviceAuthorization(config, { scope: options.scopes.join(' ') });
  } catch (err) {
    throw new GateError('GATE_ERR_AUTH_FAILED', `The identity provider refused to start a device login: ${describe(err)}.`, {
      cause: err,
    });
  }
  await options.onCode({
    user_code: response.user_code,
    verification_uri: response.verification_uri,
    verification_uri_complete: response.verification_uri_complete,
    expires_in: response.expires_in,
  });
  try {
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, response, undefined, { signal: options.signal });
    if (!tokens.id_token) throw new GateError('GATE_ERR_AUTH_FAILED', 'The identity provider returned no ID token.');
    return { idToken: tokens.id_token, refreshToken: tokens.refresh_token };
  } catch (err) {
    if (options.signal.aborted) throw new CancelledError('Login cancelled.');
    if (err instanceof GateError) throw err;
    const code = (err as { error?: string }).error;
    if (code === 'expired_token') {
      throw new GateError('GATE_ERR_AUTH_FAILED', 'The login code expired before it was confirmed.', { hint: 'Run `gate login` again.' });
    }
    if (code === 'access_denied') {
      throw new GateError('GATE_ERR_AUTH_FAILED', 'The login was denied in the browser.', { hint: 'Run `gate login` again.' });
    }
    throw new GateError('GATE_ERR_AUTH_FAILED', `Device login failed: ${describe(err)}.`, { cause: err });
  }
}

function describe(err: unknown): string {
  const e = err as { error?: string; error_description?: string; message?: string };
  return e.error_description ?? e.error ?? e.message ?? String(err);
}
