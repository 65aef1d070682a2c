import type { FastifyInstance } from 'fastify';
import type { HttpRuleSummary } from '../../api/wire-grants.js';
import type { GateConfig } from '../../config/schema.js';
import { requireCaller } from '../auth.js';
import type { ServerContext } from '../context.js';
import { requestableTargets } from '../grants/policy.js';

/**
 * What a user of an HTTP target should know before calling it: its rules
 * and masked fields. Copied field by field (no address, no credential).
 */
function httpTargetRules(config: GateConfig, name: string): { rules?: HttpRuleSummary[]; masking?: { json_fields: string[]; detectors: string[] } } {
  const target = config.targets[name];
  if (target?.type !== 'http') return {};
  const rules = target.guardrails.map((g): HttpRuleSummary => {
    const [kind, match] = 'deny' in g ? (['deny', g.deny] as const) : (['require_approval', g.require_approval] as const);
    return {
      kind,
      ...(match.methods ? { methods: [...match.methods] } : {}),
      ...(match.paths ? { paths: [...match.paths] } : {}),
      ...(g.message ? { message: g.message } : {}),
    };
  });
  return { rules, masking: { json_fields: [...target.masking.json_fields], detectors: [...target.masking.detectors] } };
}

/**
 * `GET /v1/targets`: what the caller may request. Built field by field from
 * the policy, so no address or credential reference can leak.
 */
export function targetRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/targets', { preHandler: requireCaller(ctx) }, async (request) => ({
    targets: requestableTargets(ctx.config, request.caller!).map((t) => ({ ...t, ...httpTargetRules(ctx.config, t.name) })),
  }));
}
