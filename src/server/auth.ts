import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../api/errors.js';
import type { Caller, ServerContext } from './context.js';
import { authenticateServiceToken, looksLikeServiceToken } from './service-tokens.js';
import { userKey, workloadKey } from './identity/principal.js';
import { type VerifiedGateToken, verifyGateToken } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

/** Reads the bearer token from an Authorization header value. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m?.[1];
}

/**
 * Gate tokens already verified, until they expire. A signature check costs
 * ~0.5 ms; a recorded session uploads a chunk per second and every tunnel
 * authenticates, all with the same token. Gate tokens are immutable and
 * short-lived (nothing revokes one), so the cache changes no answer.
 */
const VERIFIED_CACHE_SIZE = 1024;
const verifiedCaches = new WeakMap<ServerContext, Map<string, Caller>>();

function verifiedTokens(ctx: ServerContext): Map<string, Caller> {
  let cache = verifiedCaches.get(ctx);
  if (!cache) {
    cache = new Map();
    verifiedCaches.set(ctx, cache);
  }
  return cache;
}

/**
 * Resolves the caller from a bearer token (a gate JWT or a service token). Throws ApiError 401
 * with a reason that names no token.
 */
export async function authenticate(ctx: ServerContext, header: string | undefined): Promise<Caller> {
  const token = bearerToken(header);
  if (!token) throw new ApiError('unauthenticated', 'Authentication required: send a gate token as `Authorization: Bearer …`.');
  // A service token (`gst_…`) is its own bearer: no exchange, checked against the store on every request.
  if (looksLikeServiceToken(token)) return authenticateServiceToken(ctx, token);
  const cache = verifiedTokens(ctx);
  const known = cache.get(token);
  if (known?.expiresAt && known.expiresAt.getTime() > ctx.now().getTime()) return known;
  try {
    const v = await verifyGateToken(ctx.key, ctx.tokenIssuer, token, ctx.now());
    const caller = callerOf(ctx, v);
    if (cache.size >= VERIFIED_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(token, caller);
    return caller;
  } catch (err) {
    ctx.log.warn('gate token rejected', { reason: (err as Error).message });
    throw new ApiError('invalid_token', `Gate token rejected: ${(err as Error).message}.`);
  }
}

/**
 * A verified gate token as a caller with its identity key. Tokens signed
 * before keys existed (they live one token_ttl at most) get the key their
 * signed claims imply: a person of the configured IdP, or the workload rule
 * they name; a workload token without a rule name acts for nobody and owns
 * nothing.
 */
function callerOf(ctx: ServerContext, v: VerifiedGateToken): Caller {
  let key = v.key;
  if (!key) {
    if (v.kind === 'user') key = userKey(ctx.oidc()?.issuer ?? '', v.sub);
    else key = workloadKey(v.workload ?? '(unknown rule)', v.sub);
  }
  return { ...v, key, actsFor: v.kind === 'user' ? key : null, expiresAt: v.expiresAt };
}

/** fastify preHandler: every route but health, config and token exchange requires a caller. */
export function requireCaller(ctx: ServerContext) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    request.caller = await authenticate(ctx, request.headers.authorization);
  };
}

/** True when the caller belongs to one of the config's admin groups. */
export function isAdmin(ctx: ServerContext, caller: Caller): boolean {
  return caller.groups.some((g) => ctx.config.admins.includes(g));
}
