import type { FastifyInstance } from 'fastify';
import { decodeJwt, type JWTPayload } from 'jose';
import { ApiError } from '../../api/errors.js';
import { type Identity, JWT_TOKEN_TYPE, tokenExchangeRequest } from '../../api/wire.js';
import { isAdmin, requireCaller } from '../auth.js';
import type { ServerContext } from '../context.js';
import { TokenRejected, unverifiedIssuer } from '../identity/oidc.js';
import { WorkloadRejected } from '../identity/workload.js';
import { userKey, workloadKey } from '../identity/principal.js';
import { issueGateToken } from '../tokens.js';
import { parseBody } from './validate.js';

/** Token exchange (an IdP token in, a gate token out) and `me`. */
export function authRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/auth/token', async (request) => {
    const body = parseBody(tokenExchangeRequest, request.body);
    const who = await identify(ctx, body.subject_token, request.ip);
    const issued = await issueGateToken(ctx.key, ctx.tokenIssuer, who, ctx.tokenTtlMs, ctx.now());
    await ctx.store.recordLogin(who, ctx.now());
    ctx.log.info('login', { sub: who.sub, kind: who.kind, groups: who.groups, ip: request.ip, ...(who.workload ? { workload: who.workload } : {}) });
    await ctx.audit.append({
      action: 'auth.login',
      actor: who.sub,
      actorKind: who.kind,
      actorKey: who.key,
      ip: request.ip,
      details: {
        email: who.email ?? null,
        groups: who.groups,
        expires_in: Math.floor(ctx.tokenTtlMs / 1000),
        ...(who.workload ? { workload: who.workload } : {}),
      },
    });
    return {
      access_token: issued.token,
      issued_token_type: JWT_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: Math.floor(ctx.tokenTtlMs / 1000),
      // The key rides in the signed token; the response's identity stays what the CLI shows.
      user: withoutKey(who),
    };
  });

  app.get('/v1/me', { preHandler: requireCaller(ctx) }, async (request) => {
    const caller = request.caller!;
    return {
      sub: caller.sub,
      email: caller.email,
      name: caller.name,
      groups: caller.groups,
      kind: caller.kind,
      ...(caller.workload ? { workload: caller.workload } : {}),
      key: caller.key,
      expires_at: caller.expiresAt?.toISOString() ?? null,
      admin: isAdmin(ctx, caller),
    };
  });
}

/** Verifies an IdP token and maps it to a gate identity; any failure is a generic 401 for the caller. */
async function identify(ctx: ServerContext, token: string, ip: string): Promise<Identity> {
  const oidc = ctx.oidc();
  const verifier = ctx.userVerifier();
  const iss = unverifiedIssuer(token);
  // Workload rules first: a CI platform's issuer is never the people's IdP, and
  // when an admin trusts the same issuer for both, the rule's audience decides.
  if (ctx.workloads.handles(iss) && !(oidc && iss === oidc.issuer && !workloadAudience(ctx, token))) {
    return workloadIdentity(ctx, token, ip);
  }
  if (oidc && verifier && iss === oidc.issuer) {
    let claims: JWTPayload;
    try {
      claims = await verifier(token);
    } catch (err) {
      const reason = err instanceof TokenRejected ? err.reason : 'verification failed';
      return refuseUserToken(ctx, reason, iss, ip);
    }
    return { ...userIdentity(claims, oidc.groups_claim), key: userKey(oidc.issuer, String(claims.sub)) };
  }
  return refuseUserToken(ctx, 'not issued by a trusted issuer', iss, ip);
}

/**
 * The caller learns only that the token was refused (a reason would tell a
 * forger which check to get past); the reason goes to the log and the audit log.
 */
async function refuseUserToken(ctx: ServerContext, reason: string, iss: string | undefined, ip: string): Promise<never> {
  const issuer = iss ?? null;
  ctx.log.warn('identity token rejected', { reason, issuer, ip });
  await ctx.audit.append({ action: 'auth.login', result: 'denied', actorKind: 'user', ip, details: { issuer, reason } });
  throw new ApiError('invalid_token', 'Identity token rejected.');
}

/** True when the token's unverified audience names some workload rule's audience (used only to route, never to trust). */
function workloadAudience(ctx: ServerContext, token: string): boolean {
  let aud: unknown;
  try {
    aud = decodeJwt(token).aud;
  } catch {
    return false;
  }
  const auds = Array.isArray(aud) ? aud : [aud];
  return ctx.config.identity.workloads.some((r) => auds.includes(r.audience));
}

/**
 * A CI job's token under `identity.workloads`. The caller learns only that it
 * was refused; the log names every rule tried and why, and the audit log keeps
 * the refusal.
 */
async function workloadIdentity(ctx: ServerContext, token: string, ip: string): Promise<Identity> {
  try {
    const who = await ctx.workloads.verify(token);
    return { ...who, key: workloadKey(who.workload, who.sub) };
  } catch (err) {
    const reason = err instanceof TokenRejected ? err.reason : 'verification failed';
    const rules = err instanceof WorkloadRejected ? err.misses : [];
    const issuer = unverifiedIssuer(token) ?? null;
    ctx.log.warn('workload token rejected', { reason, issuer, rules, ip });
    await ctx.audit.append({ action: 'auth.login', result: 'denied', actorKind: 'workload', ip, details: { issuer, reason, rules } });
    throw new ApiError('invalid_token', 'Identity token rejected.');
  }
}

function userIdentity(claims: JWTPayload, groupsClaim: string): Identity {
  const groups = claims[groupsClaim];
  return {
    sub: String(claims.sub),
    email: typeof claims.email === 'string' ? claims.email : undefined,
    name: typeof claims.name === 'string' ? claims.name : undefined,
    groups: Array.isArray(groups) ? groups.map(String) : typeof groups === 'string' ? [groups] : [],
    kind: 'user',
  };
}

function withoutKey({ key: _key, ...who }: Identity): Identity {
  return who;
}
