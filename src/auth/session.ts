import { createClient } from '../api/client.js';
import { AuthRequiredError, GateError } from '../errors.js';
import type { CredentialStore, Credentials } from './credentials.js';
import { exchangeIdToken } from './exchange.js';
import { discoverIssuer } from './oidc-client.js';

/** Renew a gate token this long before it expires, so a long command does not fail midway. */
const RENEW_MARGIN_MS = 60_000;

/**
 * Returns a valid gate token for `server`: the stored one while fresh,
 * otherwise renewed silently with the IdP refresh token. Throws
 * AuthRequiredError (exit 4) when there is nothing to renew with.
 */
export async function validAccessToken(options: {
  server: string;
  store: CredentialStore;
  now: Date;
  signal?: AbortSignal;
}): Promise<Credentials> {
  const creds = await options.store.get(options.server);
  if (!creds) throw new AuthRequiredError(`You are not logged in to ${options.server}.`);
  if (Date.parse(creds.expires_at) - RENEW_MARGIN_MS > options.now.getTime()) return creds;
  if (!creds.refresh_token || !creds.issuer || !creds.client_id) {
    throw new AuthRequiredError('Your gate session has expired.');
  }
  let idToken: string | undefined;
  let refreshToken = creds.refresh_token;
  try {
    const config = await discoverIssuer(creds.issuer, creds.client_id);
    const oidc = await import('openid-client');
    const tokens = await oidc.refreshTokenGrant(config, creds.refresh_token);
    idToken = tokens.id_token;
    refreshToken = tokens.refresh_token ?? refreshToken;
  } catch (err) {
    if (err instanceof GateError && err.code === 'GATE_ERR_NETWORK') throw err;
    throw new AuthRequiredError('Your gate session has expired and could not be renewed.', { cause: err });
  }
  if (!idToken) throw new AuthRequiredError('Your gate session has expired (the IdP returned no ID token on refresh).');
  const client = createClient({ server: options.server });
  const exchanged = await exchangeIdToken(client, idToken, options.signal);
  const renewed: Credentials = {
    ...creds,
    access_token: exchanged.access_token,
    expires_at: new Date(options.now.getTime() + exchanged.expires_in * 1000).toISOString(),
    refresh_token: refreshToken,
    user: exchanged.user,
  };
  await options.store.set(renewed);
  return renewed;
}
