import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../api/errors.js';
import { createServiceTokenRequest } from '../../api/wire-tokens.js';
import { isAdmin, requireCaller } from '../auth.js';
import type { Caller, ServerContext } from '../context.js';
import { actorOf } from '../grants/actor.js';
import { serviceKey } from '../identity/principal.js';
import { createServiceToken, describeServiceToken, serviceTokenRepo } from '../service-tokens.js';
import { parseBody } from './validate.js';

/** Service tokens over HTTP: create (secret shown once), list, revoke. Admins only. */
export function tokenRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const authenticate = requireCaller(ctx);
  const admin = {
    preHandler: async (request: FastifyRequest, reply: Parameters<typeof authenticate>[1]) => {
      await authenticate(request, reply);
      if (!isAdmin(ctx, request.caller!)) {
        throw new ApiError('forbidden', 'Only admins manage service tokens.', { admins: ctx.config.admins });
      }
    },
  };

  app.post('/v1/tokens', admin, async (request, reply) => {
    const body = parseBody(createServiceTokenRequest, request.body);
    const caller = request.caller!;
    const { token, info } = await createServiceToken(ctx, { ...body, creator: caller.sub, creatorKey: caller.actsFor ?? caller.key });
    ctx.log.info('service token created', { id: info.id, name: info.name, groups: info.groups, by: caller.sub });
    await ctx.audit.append({
      action: 'token.created',
      actor: caller.sub,
      actorKind: caller.kind,
      actorKey: caller.key,
      ip: request.ip,
      details: { token_id: info.id, name: info.name, groups: info.groups, expires_at: info.expires_at },
    });
    return reply.status(201).send({ token, service_token: info });
  });

  app.get('/v1/tokens', admin, async () => {
    const now = ctx.now();
    return { tokens: (await serviceTokenRepo(ctx).list()).map((t) => describeServiceToken(t, now)) };
  });

  const revoke = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const caller: Caller = request.caller!;
    const repo = serviceTokenRepo(ctx);
    const id = request.params.id;
    const existing = await repo.get(id);
    if (!existing) throw new ApiError('not_found', `No service token ${id}.`);
    if (existing.revokedAt) throw new ApiError('conflict', `Service token ${id} was revoked already at ${existing.revokedAt}.`);
    await repo.revoke(id, caller.sub, ctx.now().toISOString());
    // Revocation is total: what the token requested ends with it, and ending a grant cuts its tunnels.
    const ended = await ctx.grants.endGrantsOf(serviceKey(id), actorOf(request), `service token ${id} (${existing.name}) was revoked`);
    ctx.log.info('service token revoked', { id, name: existing.name, by: caller.sub, grants_ended: ended });
    await ctx.audit.append({
      action: 'token.revoked',
      actor: caller.sub,
      actorKind: caller.kind,
      actorKey: caller.key,
      ip: request.ip,
      details: { token_id: id, name: existing.name, grants_ended: ended },
    });
    return { service_token: describeServiceToken((await repo.get(id))!, ctx.now()) };
  };
  app.delete<{ Params: { id: string } }>('/v1/tokens/:id', admin, revoke);
  app.post<{ Params: { id: string } }>('/v1/tokens/:id/revoke', admin, revoke);
}
