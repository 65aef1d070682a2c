import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.js';
import { toolCallRequest } from '../../api/wire-sessions.js';
import { detectJson, detectText } from '../../gateway/mcp/detectors.js';
import type { StoredSession } from '../../store/store.js';
import { requireCaller } from '../auth.js';
import type { Caller, ServerContext } from '../context.js';
import { parseBody } from './validate.js';

/**
 * `POST /v1/sessions/:id/tool-calls`: the owner of an `mcp` session reports
 * one tool call, stored as an `mcp.tool_call` audit event with the session's
 * id and correlation id. The gateway audits what the call did on a target by
 * itself; this event is what the agent asked for and what it was told.
 */
export function mcpToolCallRoute(
  app: FastifyInstance,
  ctx: ServerContext,
  owned: (caller: Caller, id: string) => Promise<StoredSession>,
): void {
  app.post<{ Params: { id: string } }>('/v1/sessions/:id/tool-calls', { preHandler: requireCaller(ctx) }, async (request, reply) => {
    const caller = request.caller!;
    const session = await owned(caller, request.params.id);
    if (session.kind !== 'mcp') throw new ApiError('bad_request', `Session ${session.id} is not an MCP session.`);
    const body = parseBody(toolCallRequest, request.body);
    // Only the caller's own grant lends its role to the event.
    const stored = body.grant_id ? await ctx.store.grants.get(body.grant_id) : undefined;
    const own = stored && stored.requester === caller.sub ? (stored.data as { role?: string }) : undefined;
    await ctx.audit.append({
      action: 'mcp.tool_call',
      result: body.outcome,
      actor: caller.sub,
      actorKind: caller.kind,
      target: body.target ?? null,
      role: own?.role ?? null,
      grantId: own ? body.grant_id : null,
      sessionId: session.id,
      correlationId: session.correlationId,
      ip: request.ip,
      // Detectors again: the server does not trust the client to have applied them.
      details: {
        tool: body.tool,
        arguments: detectJson(body.arguments),
        outcome: body.outcome,
        ...(body.message ? { message: detectText(body.message) } : {}),
        ...(body.approval_id ? { approval_id: body.approval_id } : {}),
        ...(body.duration_ms !== undefined ? { duration_ms: body.duration_ms } : {}),
        ...(session.client ? { client: session.client } : {}),
      },
    });
    return reply.status(201).send({ status: 'recorded' });
  });
}
