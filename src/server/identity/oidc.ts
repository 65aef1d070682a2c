import { createRemoteJWKSet, decodeJwt, type JWTPayload, jwtVerify } from 'jose';
import { describeJoseError } from '../tokens.js';

export interface OidcVerifierOptions {
  issuer: string;
  audience: string;
  algorithms: string[];
  /** Where the issuer's metadata lives; defaults to OIDC discovery under the issuer. */
  fetchImpl?: typeof fetch;
}

export type TokenVerifier = (token: string) => Promise<JWTPayload>;

/** A token the server refuses; `reason` goes to the log, the caller sees a generic 401. */
export class TokenRejected extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'TokenRejected';
    this.reason = reason;
  }
}

/**
 * Verifies IdP-issued JWTs: signature against the issuer's JWKS (discovered,
 * cached, refetched by jose on an unknown key id), issuer, audience, expiry and
 * an algorithm allow-list (`none` can never be on it).
 */
export function createOidcVerifier(options: OidcVerifierOptions): TokenVerifier {
  const fetchImpl = options.fetchImpl ?? fetch;
  const algorithms = options.algorithms.filter((a) => a.toLowerCase() !== 'none');
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  async function keys() {
    if (jwks) return jwks;
    discovering ??= (async () => {
      const url = `${options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      let meta: { issuer?: string; jwks_uri?: string };
      try {
        const res = await fetchImpl(url, { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        meta = (await res.json()) as typeof meta;
      } catch (err) {
        throw new TokenRejected(`cannot fetch issuer metadata from ${url}: ${(err as Error).message}`);
      }
      if (meta.issuer !== options.issuer) {
        throw new TokenRejected(`issuer metadata names ${meta.issuer}, expected ${options.issuer}`);
      }
      if (!meta.jwks_uri) throw new TokenRejected(`issuer metadata at ${url} has no jwks_uri`);
      jwks = createRemoteJWKSet(new URL(meta.jwks_uri), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
      return jwks;
    })().finally(() => {
      discovering = undefined;
    });
    return discovering;
  }

  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, await keys(), {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        clockTolerance: 30,
        requiredClaims: ['exp', 'sub'],
      });
      return payload;
    } catch (err) {
      if (err instanceof TokenRejected) throw err;
      throw new TokenRejected(describeJoseError(err));
    }
  };
}

/** The unverified `iss` of a JWT, to pick which verifier applies. Never trust anything else from it. */
export function unverifiedIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}
