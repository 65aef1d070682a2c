import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.js';
import { requireCaller } from '../auth.js';
import type { ServerContext } from '../context.js';
import { actorOf } from '../grants/actor.js';
import { listPending, MAX_PENDING_WAIT_S, waitPending } from '../grants/pending.js';

/** `GET /v1/pending`: what the caller may approve or deny, with a long-poll on its cursor. */
export function pendingRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const auth = { preHandler: requireCaller(ctx) };
  // app.close() waits for in-flight requests: release every long-poll first.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  app.get<{ Querystring: Record<string, string> }>('/v1/pending', auth, async (request, reply) => {
    const who = actorOf(request);
    const { wait, cursor } = request.query;
    if (wait === undefined) return listPending(ctx, who);
    const seconds = Number(wait);
    if (wait === '' || !Number.isFinite(seconds) || seconds < 0) {
      throw new ApiError('bad_request', `wait must be a number of seconds (at most ${MAX_PENDING_WAIT_S}), got ${JSON.stringify(wait)}.`);
    }
    if (cursor !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(cursor)) throw new ApiError('bad_request', 'cursor must be a value an earlier /v1/pending answer gave.');
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    return waitPending(ctx, who, {
      cursor: cursor || undefined,
      timeoutMs: Math.min(seconds, MAX_PENDING_WAIT_S) * 1000,
      signal: AbortSignal.any([gone.signal, closing.signal]),
    });
  });
}
