import { createRemoteJWKSet } from 'jose';
import { isTrustedIssuerUrl } from '../../config/schema.js';
import { TokenRejected } from './rejected.js';

export type RemoteKeys = ReturnType<typeof createRemoteJWKSet>;

export interface IssuerKeysOptions {
  fetchImpl?: typeof fetch;
  /** Least time between two JWKS fetches triggered by unknown key ids (default 30 s). */
  cooldownMs?: number;
}

/** Resolves an issuer's JWKS through OIDC discovery; one instance per issuer. */
export type IssuerKeys = () => Promise<RemoteKeys>;

/**
 * Discovers `issuer`'s `jwks_uri` once and hands out jose's remote key set,
 * which caches keys and refetches (at most every 30 s) when a token names a
 * key id it has not seen: that is how key rotation is picked up. A failed
 * discovery is not cached, so the next token tries again.
 */
export function createIssuerKeys(issuer: string, options: IssuerKeysOptions = {}): IssuerKeys {
  const fetchImpl = options.fetchImpl ?? fetch;
  let jwks: RemoteKeys | undefined;
  let discovering: Promise<RemoteKeys> | undefined;
  return async () => {
    if (jwks) return jwks;
    discovering ??= (async () => {
      if (!isTrustedIssuerUrl(issuer)) throw new TokenRejected(`issuer ${issuer} is not https (or loopback http)`);
      const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      let meta: { issuer?: string; jwks_uri?: string };
      try {
        const res = await fetchImpl(url, { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        meta = (await res.json()) as typeof meta;
      } catch (err) {
        throw new TokenRejected(`cannot fetch issuer metadata from ${url}: ${(err as Error).message}`);
      }
      if (meta.issuer !== issuer) throw new TokenRejected(`issuer metadata names ${meta.issuer}, expected ${issuer}`);
      if (!meta.jwks_uri) throw new TokenRejected(`issuer metadata at ${url} has no jwks_uri`);
      let jwksUrl: URL;
      try {
        jwksUrl = new URL(meta.jwks_uri);
      } catch {
        throw new TokenRejected(`issuer metadata at ${url} has an invalid jwks_uri`);
      }
      // The key set must be as trustworthy as the issuer itself.
      if (!isTrustedIssuerUrl(jwksUrl.href)) throw new TokenRejected(`jwks_uri ${jwksUrl.href} is not https`);
      jwks = createRemoteJWKSet(jwksUrl, { cooldownDuration: options.cooldownMs ?? 30_000, cacheMaxAge: 600_000 });
      return jwks;
    })().finally(() => {
      discovering = undefined;
    });
    return discovering;
  };
}
