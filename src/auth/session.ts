import { createClient } from '../api/client.js';
import { AuthRequiredError, GateError } from '../errors.js';
import type { CredentialStore, Credentials } from './credentials.js';
import { exchangeIdToken } from './exchange.js';
import { discoverIssuer } from './oidc-client.js';
import { withRenewLock } from './renew-lock.js';

/** Renew a gate token this long before it expires, so a long command does not fail midway. */
const RENEW_MARGIN_MS = 60_000;

/** Renewals in flight in this process, per server: concurrent callers share one. */
const inflight = new Map<string, Promise<Credentials>>();

function fresh(creds: Credentials, now: Date): boolean {
  return Date.parse(creds.expires_at) - RENEW_MARGIN_MS > now.getTime();
}

interface RenewOptions {
  server: string;
  store: CredentialStore;
  now: Date;
  signal?: AbortSignal;
  /**
   * Directory for the cross-process renewal lock (the CLI's config dir), so
   * several gate processes sharing the store renew once. Without it only
   * callers in this process are serialised.
   */
  lockDir?: string;
}

/**
 * Returns a valid gate token for `server`: the stored one while fresh,
 * otherwise renewed silently with the IdP refresh token. Renews once for
 * all concurrent callers of this process and, with `lockDir`, of every
 * process sharing the store: a refresh token is spent once, as rotation
 * demands. Throws AuthRequiredError (exit 4) when there is nothing to renew
 * with. Never deletes stored credentials.
 */
export async function validAccessToken(options: RenewOptions): Promise<Credentials> {
  const creds = await options.store.get(options.server);
  if (!creds) throw new AuthRequiredError(`You are not logged in to ${options.server}.`);
  if (fresh(creds, options.now)) return creds;
  if (!creds.refresh_token || !creds.issuer || !creds.client_id) {
    throw new AuthRequiredError('Your gate session has expired.');
  }
  let shared = inflight.get(options.server);
  if (!shared) {
    shared = renewOnce(options).finally(() => inflight.delete(options.server));
    inflight.set(options.server, shared);
  }
  return shared;
}

async function renewOnce(options: RenewOptions): Promise<Credentials> {
  const run = async () => {
    // Another process may have renewed while this one waited for the lock.
    const current = await options.store.get(options.server);
    if (!current) throw new AuthRequiredError(`You are not logged in to ${options.server}.`);
    if (fresh(current, options.now)) return current;
    return renew(current, options);
  };
  return options.lockDir ? withRenewLock(options.lockDir, options.server, run, options.signal) : run();
}

async function renew(creds: Credentials, options: RenewOptions): Promise<Credentials> {
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
    // A renewal outside the lock (another tool, an older gate) may have replaced the
    // refresh token meanwhile: use what it stored rather than give up.
    const current = await options.store.get(options.server);
    if (current && current.refresh_token !== creds.refresh_token && fresh(current, options.now)) return current;
    throw new AuthRequiredError('Your gate session has expired and could not be renewed.', { cause: err });
  }
  if (!idToken) throw new AuthRequiredError('Your gate session has expired (the IdP returned no ID token on refresh).');
  // The refresh token is spent: keep the rotated one even if the exchange below fails.
  if (refreshToken !== creds.refresh_token) await options.store.set({ ...creds, refresh_token: refreshToken });
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
