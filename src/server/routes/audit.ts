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

function isoQuery(name: string, value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new ApiError('bad_request', `${name} must be an ISO time, got ${JSON.stringify(value)}.`);
  return d;
}

/** `?action=grant.requested,pg.*` */
function listQuery(value: string | undefined): string[] | undefined {
  const list = value?.split(',').map((s) => s.trim()).filter(Boolean);
  return list && list.length > 0 ? list : undefined;
}

/** `GET /v1/audit` (admins: everything; approvers: their targets) and `GET /v1/audit/verify` (admins). */
export function auditRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const auth = { preHandler: requireCaller(ctx) };

  app.get<{ Querystring: Record<string, string> }>('/v1/audit', auth, async (request) => {
    const caller = request.caller!;
    const q = request.query;
    const n = q.limit === undefined ? 1000 : Number(q.limit);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new ApiError('bad_request', `limit must be a whole number from 1 to 10000, got ${JSON.stringify(q.limit)}.`);
    let targets: string[] | undefined;
    if (!isAdmin(ctx, caller)) {
      targets = targetsApprovedBy(ctx.config, caller);
      if (targets.length === 0) {
        throw new ApiError('forbidden', 'The audit log is for admins and approvers; your groups approve no target.');
      }
    }
    if (q.target) {
      if (targets && !targets.includes(q.target)) throw new ApiError('forbidden', `You are not an approver of ${q.target}, so you cannot read its audit events.`);
      targets = [q.target];
    }
    // One row more than asked tells whether another page follows.
    const rows = await ctx.audit.list({
      since: isoQuery('since', q.since),
      until: isoQuery('until', q.until),
      targets,
      actions: listQuery(q.action),
      actor: q.user || undefined,
      grantId: q.grant || undefined,
      sessionId: q.session || undefined,
      after: q.after || undefined,
      // Pages run forward from the oldest match: every event is reachable, none capped away.
      fromStart: true,
      limit: n + 1,
    });
    const page = rows.slice(0, n);
    return { events: page.map(present), next: rows.length > n ? page[page.length - 1]!.id : null };
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
