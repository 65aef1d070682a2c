import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

/**
 * Fresh signing keys for one run of the dev IdP: RS256 (the client's ID token
 * algorithm, which every OIDC library accepts) and ES256. They live in memory
 * only, so tokens from an earlier run stop verifying after a restart.
 */
export async function generateSigningKeys(): Promise<{ keys: JWK[] }> {
  const keys: JWK[] = [];
  for (const alg of ['RS256', 'ES256'] as const) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    keys.push({ ...(await exportJWK(privateKey)), alg, use: 'sig', kid: `dev-${alg.toLowerCase()}-${randomUUID().slice(0, 8)}` });
  }
  return { keys };
}

/** Random keys for oidc-provider's signed cookies. */
export function generateCookieKeys(): string[] {
  return [randomBytes(32).toString('base64url')];
}
