import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.js';
import type { AuditRow } from '../../store/store.js';
import { isAdmin, requireCaller } from '../auth.js';
import { auditVerifyRequest } from '../../api/wire-grants.js';
import { verifyWithCheckpoints } from '../audit/checkpoints.js';
import type { Caller, ServerContext } from '../context.js';
import { parseBody } from './validate.js';
import { targetsApprovedBy } from '../grants/policy.js';

/** Details as an object for readers; a row that no longer parses shows its raw text. */
function present(row: AuditRow) {
  let details: unknown;
  try {
    details = JSON.parse(row.details);
  } catch {
    details = row.details;
  }
  return { ...row, details };
}

/** `GET /v1/audit` (admins: everything; approvers: their targets) and `GET /v1/audit/verify` (admins). */
export function auditRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const auth = { preHandler: requireCaller(ctx) };

  app.get<{ Querystring: Record<string, string> }>('/v1/audit', auth, async (request) => {
    const caller = request.caller!;
    const { since, target, limit } = request.query;
    let sinceDate: Date | undefined;
    if (since) {
      sinceDate = new Date(since);
      if (Number.isNaN(sinceDate.getTime())) throw new ApiError('bad_request', `since must be an ISO time, got ${JSON.stringify(since)}.`);
    }
    const n = limit === undefined ? 1000 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new ApiError('bad_request', `limit must be a whole number from 1 to 10000, got ${JSON.stringify(limit)}.`);
    let targets: string[] | undefined;
    if (!isAdmin(ctx, caller)) {
      targets = targetsApprovedBy(ctx.config, caller);
      if (targets.length === 0) {
        throw new ApiError('forbidden', 'The audit log is for admins and approvers; your groups approve no target.');
      }
    }
    if (target) {
      if (targets && !targets.includes(target)) throw new ApiError('forbidden', `You are not an approver of ${target}, so you cannot read its audit events.`);
      targets = [target];
    }
    const rows = await ctx.audit.list({ since: sinceDate, targets, limit: n });
    return { events: rows.map(present) };
  });

  const adminOnly = (request: { caller?: Caller }, what: string) => {
    if (!isAdmin(ctx, request.caller!)) throw new ApiError('forbidden', `Only admins may ${what}.`);
  };
  app.get('/v1/audit/verify', auth, async (request) => {
    adminOnly(request, 'verify the audit log');
    return verifyWithCheckpoints(ctx.audit, ctx.store.audit, ctx.key);
  });
  // The same, held also against checkpoints someone kept outside the server.
  app.post('/v1/audit/verify', auth, async (request) => {
    adminOnly(request, 'verify the audit log');
    const { checkpoints } = parseBody(auditVerifyRequest, request.body ?? {});
    return verifyWithCheckpoints(ctx.audit, ctx.store.audit, ctx.key, checkpoints);
  });
  app.get('/v1/audit/checkpoints', auth, async (request) => {
    adminOnly(request, 'read the audit checkpoints');
    return { checkpoints: await ctx.store.audit.listCheckpoints() };
  });
  app.post('/v1/audit/checkpoints', auth, async (request) => {
    adminOnly(request, 'sign an audit checkpoint');
    return { checkpoint: (await ctx.checkpoints.checkpoint()) ?? null };
  });
}
