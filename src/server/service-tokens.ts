import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../api/errors.js';
import type { ServiceTokenInfo } from '../api/wire-tokens.js';
import { parseDuration } from '../config/schema.js';
import type { ServiceTokenRepository, StoredServiceToken } from '../store/store.js';
import type { Caller, ServerContext } from './context.js';
import { isPersonKey, serviceKey } from './identity/principal.js';

/**
 * Service tokens: long-lived bearer secrets for what has no OIDC issuer.
 * Format `gst_<id>_<secret>`: the id (16 hex) finds the row, the secret
 * (32 random bytes, base64url) is checked against its SHA-256 in constant
 * time. A fast hash is enough: the secret is random and 256 bits long, so
 * there is nothing to brute-force that a slow hash would protect.
 */
export const SERVICE_TOKEN_PREFIX = 'gst_';
const FORMAT = /^gst_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** Longest lifetime a service token may be given. */
export const MAX_SERVICE_TOKEN_TTL_MS = 366 * 86_400_000;

/** The service-token repository of this server's store. */
export function serviceTokenRepo(ctx: Pick<ServerContext, 'store'>): ServiceTokenRepository {
  return ctx.store.serviceTokens;
}

/** True when `token` has the shape of a service token (not that it is valid). */
export function looksLikeServiceToken(token: string): boolean {
  return token.startsWith(SERVICE_TOKEN_PREFIX);
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The listing view of a stored token: no hash, no secret. */
export function describeServiceToken(t: StoredServiceToken, now: Date): ServiceTokenInfo {
  const state = t.revokedAt ? 'revoked' : Date.parse(t.expiresAt) <= now.getTime() ? 'expired' : 'active';
  return {
    id: t.id,
    name: t.name,
    groups: t.groups,
    creator: t.creator,
    created_at: t.createdAt,
    expires_at: t.expiresAt,
    last_used_at: t.lastUsedAt,
    revoked_at: t.revokedAt,
    state,
  };
}

/** Creates a token; the returned `token` is the only time the secret exists outside the caller's hands. */
export async function createServiceToken(
  ctx: Pick<ServerContext, 'store' | 'now'>,
  input: { name: string; groups: string[]; ttl: string; creator: string; creatorKey: string },
): Promise<{ token: string; info: ServiceTokenInfo }> {
  const ttlMs = parseDuration(input.ttl);
  if (ttlMs <= 0 || ttlMs > MAX_SERVICE_TOKEN_TTL_MS) {
    throw new ApiError('bad_request', `A service token lives between 1s and 366d; got ${input.ttl}.`, { field: 'ttl' });
  }
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const now = ctx.now();
  const stored: StoredServiceToken = {
    id,
    name: input.name,
    groups: [...new Set(input.groups)],
    secretHash: hashSecret(secret),
    creator: input.creator,
    creatorKey: input.creatorKey,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
    lastUsedAt: null,
    revokedAt: null,
    revokedBy: null,
  };
  await serviceTokenRepo(ctx).insert(stored);
  return { token: `${SERVICE_TOKEN_PREFIX}${id}_${secret}`, info: describeServiceToken(stored, now) };
}

/**
 * Resolves a service token presented as a bearer into a caller. Throws
 * ApiError 401 with a reason that names the token id at most, never the secret.
 */
export async function authenticateServiceToken(ctx: Pick<ServerContext, 'store' | 'now' | 'log'>, token: string): Promise<Caller> {
  const m = FORMAT.exec(token);
  const reject = (reason: string, id?: string): never => {
    ctx.log.warn('service token rejected', { reason, ...(id ? { token_id: id } : {}) });
    throw new ApiError('invalid_token', `Service token rejected: ${reason}.`);
  };
  if (!m) return reject('it is malformed');
  const [, id, secret] = m as unknown as [string, string, string];
  const stored = await serviceTokenRepo(ctx).get(id);
  const expected = Buffer.from(stored?.secretHash ?? '0'.repeat(64), 'hex');
  const actual = Buffer.from(hashSecret(secret), 'hex');
  // Compare even when the id is unknown, so timing does not tell which ids exist.
  const same = timingSafeEqual(expected, actual);
  if (!stored || !same) return reject('it is not valid', id);
  if (stored.revokedAt) return reject(`it was revoked at ${stored.revokedAt}`, id);
  const now = ctx.now();
  if (Date.parse(stored.expiresAt) <= now.getTime()) return reject(`it expired at ${stored.expiresAt}`, id);
  await serviceTokenRepo(ctx).touch(id, now.toISOString());
  return {
    // `sub` names the token for people; `key` (its id) is what owns grants and sessions.
    sub: `service:${stored.name}`,
    key: serviceKey(stored.id),
    // A token made by a workload (or by a token made by one) acts for nobody.
    actsFor: isPersonKey(stored.creatorKey) ? stored.creatorKey : null,
    serviceTokenId: stored.id,
    groups: stored.groups,
    kind: 'service',
    expiresAt: new Date(stored.expiresAt),
  };
}
