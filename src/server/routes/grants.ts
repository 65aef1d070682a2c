import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.js';
import { createGrantRequest, decisionRequest, GRANT_STATES, type GrantStateWire } from '../../api/wire-grants.js';
import { requireCaller } from '../auth.js';
import type { ServerContext } from '../context.js';
import { actorOf } from '../grants/actor.js';
import { MAX_WAIT_S } from '../grants/service.js';
import { parseBody } from './validate.js';

type IdParams = { Params: { id: string } };

/** Reads `?state=` and rejects an unknown one. */
export function stateQuery(value: unknown): GrantStateWire | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string' && (GRANT_STATES as readonly string[]).includes(value)) return value as GrantStateWire;
  throw new ApiError('bad_request', `Unknown state ${JSON.stringify(value)}; use one of ${GRANT_STATES.join(', ')}.`);
}

const flag = (v: unknown) => v === '1' || v === 'true' || v === '';

/** The grant lifecycle over HTTP: request, list, long-poll, approve, deny, revoke, cancel. */
export function grantRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const auth = { preHandler: requireCaller(ctx) };

  app.post('/v1/grants', auth, async (request, reply) => {
    const body = parseBody(createGrantRequest, request.body);
    const grant = await ctx.grants.request(actorOf(request), body);
    return reply.status(201).send({ grant });
  });

  app.get<{ Querystring: Record<string, string> }>('/v1/grants', auth, async (request) => {
    const q = request.query;
    return { grants: await ctx.grants.list(actorOf(request), { state: stateQuery(q.state), all: q.all !== undefined && flag(q.all) }) };
  });

  app.get<IdParams & { Querystring: Record<string, string> }>('/v1/grants/:id', auth, async (request, reply) => {
    const who = actorOf(request);
    const { wait, state } = request.query;
    if (wait === undefined) return { grant: await ctx.grants.get(who, request.params.id) };
    const seconds = Number(wait);
    if (!Number.isFinite(seconds) || seconds < 0) throw new ApiError('bad_request', `wait must be a number of seconds (at most ${MAX_WAIT_S}), got ${JSON.stringify(wait)}.`);
    // Stop waiting when the client goes away (the response closes before it is sent).
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    const grant = await ctx.grants.wait(who, request.params.id, {
      whileState: stateQuery(state),
      timeoutMs: Math.min(seconds, MAX_WAIT_S) * 1000,
      signal: gone.signal,
    });
    return { grant };
  });

  const decisions = ['approve', 'deny', 'revoke', 'cancel'] as const;
  for (const action of decisions) {
    app.post<IdParams>(`/v1/grants/:id/${action}`, auth, async (request) => {
      const { comment } = parseBody(decisionRequest, request.body);
      return { grant: await ctx.grants[action](actorOf(request), request.params.id, comment) };
    });
  }
}
