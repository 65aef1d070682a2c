import type { FastifyInstance } from 'fastify';
import { requireCaller } from '../auth.js';
import type { ServerContext } from '../context.js';
import { requestableTargets } from '../grants/policy.js';

/**
 * `GET /v1/targets`: what the caller may request. Built field by field from
 * the policy, so no address or credential reference can leak.
 */
export function targetRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/targets', { preHandler: requireCaller(ctx) }, async (request) => ({
    targets: requestableTargets(ctx.config, request.caller!),
  }));
}
