import { decodeJwt, type JWTPayload, jwtVerify } from 'jose';
import { describeJoseError } from '../tokens.js';
import { createIssuerKeys } from './issuer-keys.js';
import { TokenRejected } from './rejected.js';

export { TokenRejected } from './rejected.js';

export interface OidcVerifierOptions {
  issuer: string;
  audience: string;
  algorithms: string[];
  /** Where the issuer's metadata lives; defaults to OIDC discovery under the issuer. */
  fetchImpl?: typeof fetch;
}

export type TokenVerifier = (token: string) => Promise<JWTPayload>;

/**
 * Verifies IdP-issued JWTs: signature against the issuer's JWKS (discovered,
 * cached, refetched by jose on an unknown key id), issuer, audience, expiry and
 * an algorithm allow-list (`none` can never be on it).
 */
export function createOidcVerifier(options: OidcVerifierOptions): TokenVerifier {
  const algorithms = options.algorithms.filter((a) => a.toLowerCase() !== 'none');
  const keys = createIssuerKeys(options.issuer, { fetchImpl: options.fetchImpl });

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
