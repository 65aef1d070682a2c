import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { Identity } from '../api/wire.js';
import type { SigningKey } from './keys.js';

export const GATE_AUDIENCE = 'gate';

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

/** Signs a short-lived gate token (EdDSA JWT) for an identity. */
export async function issueGateToken(
  key: SigningKey,
  issuer: string,
  who: Identity & { correlationId?: string },
  ttlMs: number,
  now = new Date(),
): Promise<IssuedToken> {
  const expiresAt = new Date(now.getTime() + ttlMs);
  const token = await new SignJWT({
    email: who.email,
    name: who.name,
    groups: who.groups,
    kind: who.kind,
    ...(who.workload ? { wl: who.workload } : {}),
    ...(who.correlationId ? { cid: who.correlationId } : {}),
    ...(who.key ? { pk: who.key } : {}),
  })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
    .setSubject(who.sub)
    // A unique id: two tokens for the same person in the same second are still two tokens.
    .setJti(randomUUID())
    .setIssuer(issuer)
    .setAudience(GATE_AUDIENCE)
    .setIssuedAt(Math.floor(now.getTime() / 1000))
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(key.privateKey);
  return { token, expiresAt };
}

export interface VerifiedGateToken extends Identity {
  expiresAt: Date;
  correlationId?: string;
}

/** Verifies a gate token; throws a short reason (never the token) when it is not valid. */
export async function verifyGateToken(key: SigningKey, issuer: string, token: string, now = new Date()): Promise<VerifiedGateToken> {
  try {
    const { payload } = await jwtVerify(token, key.publicKey, {
      issuer,
      audience: GATE_AUDIENCE,
      algorithms: ['EdDSA'],
      currentDate: now,
    });
    return {
      sub: String(payload.sub),
      email: typeof payload.email === 'string' ? payload.email : undefined,
      name: typeof payload.name === 'string' ? payload.name : undefined,
      groups: Array.isArray(payload.groups) ? payload.groups.map(String) : [],
      kind: payload.kind === 'workload' || payload.kind === 'service' ? payload.kind : 'user',
      ...(typeof payload.wl === 'string' ? { workload: payload.wl } : {}),
      ...(typeof payload.pk === 'string' ? { key: payload.pk } : {}),
      expiresAt: new Date((payload.exp ?? 0) * 1000),
      correlationId: typeof payload.cid === 'string' ? payload.cid : undefined,
    };
  } catch (err) {
    throw new Error(describeJoseError(err));
  }
}

/** A one-line reason for a failed JWT verification, fit for a 401 body and a log line. */
export function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `token claim "${err.claim}" is not valid (${err.reason})`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature is not valid';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'token algorithm is not allowed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'token signed by an unknown key';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'token is malformed';
  if (err instanceof errors.JOSENotSupported) return 'token algorithm is not supported';
  if (err instanceof errors.JWKSTimeout) return 'timed out fetching the issuer keys';
  return 'token is not valid';
}
