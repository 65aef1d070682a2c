import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../api/errors.js';
import type { Caller, ServerContext } from './context.js';
import { authenticateServiceToken, looksLikeServiceToken } from './service-tokens.js';
import { verifyGateToken } from './tokens.js';

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
 * Resolves the caller from a bearer token (a gate JWT or a service token). Throws ApiError 401
 * with a reason that names no token.
 */
export async function authenticate(ctx: ServerContext, header: string | undefined): Promise<Caller> {
  const token = bearerToken(header);
  if (!token) throw new ApiError('unauthenticated', 'Authentication required: send a gate token as `Authorization: Bearer …`.');
  // A service token (`gst_…`) is its own bearer: no exchange, checked against the store on every request.
  if (looksLikeServiceToken(token)) return authenticateServiceToken(ctx, token);
  try {
    const v = await verifyGateToken(ctx.key, ctx.tokenIssuer, token);
    return { ...v, expiresAt: v.expiresAt };
  } catch (err) {
    ctx.log.warn('gate token rejected', { reason: (err as Error).message });
    throw new ApiError('invalid_token', `Gate token rejected: ${(err as Error).message}.`);
  }
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
