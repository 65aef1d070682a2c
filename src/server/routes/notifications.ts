import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.js';
import { isAdmin, requireCaller } from '../auth.js';
import type { ServerContext } from '../context.js';

/** `GET /v1/notifications/status`: each sink's deliveries and last failure, for admins (`gate status`). */
export function notificationRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const authenticate = requireCaller(ctx);
  app.get('/v1/notifications/status', { preHandler: authenticate }, async (request) => {
    if (!isAdmin(ctx, request.caller!)) {
      throw new ApiError('forbidden', 'Only admins see notification delivery.', { admins: ctx.config.admins });
    }
    return { sinks: await ctx.notifications.status() };
  });
}
