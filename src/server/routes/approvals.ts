import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.js';
import { decisionRequest } from '../../api/wire-grants.js';
import { requireCaller } from '../auth.js';
import type { ServerContext } from '../context.js';
import { actorOf } from '../grants/actor.js';
import { parseBody } from './validate.js';

const STATES = ['pending', 'approved', 'denied'] as const;

/** Command approvals (ids `a_…`) held by `require_approval` guardrails. */
export function approvalRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const auth = { preHandler: requireCaller(ctx) };

  app.get<{ Querystring: Record<string, string> }>('/v1/approvals', auth, async (request) => {
    const state = request.query.state;
    if (state !== undefined && !(STATES as readonly string[]).includes(state)) {
      throw new ApiError('bad_request', `Unknown state ${JSON.stringify(state)}; use one of ${STATES.join(', ')}.`);
    }
    return { approvals: await ctx.grants.listApprovals(actorOf(request), { state: state as (typeof STATES)[number] | undefined }) };
  });

  app.get<{ Params: { id: string } }>('/v1/approvals/:id', auth, async (request) => ({
    approval: await ctx.grants.getApproval(actorOf(request), request.params.id),
  }));

  app.post<{ Params: { id: string } }>('/v1/approvals/:id/approve', auth, async (request) => {
    const { comment } = parseBody(decisionRequest, request.body);
    return { approval: await ctx.grants.approveCommand(actorOf(request), request.params.id, comment) };
  });

  app.post<{ Params: { id: string } }>('/v1/approvals/:id/deny', auth, async (request) => {
    const { comment } = parseBody(decisionRequest, request.body);
    return { approval: await ctx.grants.denyCommand(actorOf(request), request.params.id, comment) };
  });
}
