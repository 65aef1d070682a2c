import { offeredTargets } from '../context.js';
import { activeGrants } from '../grant.js';
import type { ToolDefinition } from '../tool.js';

export const targetsTool: ToolDefinition<Record<string, never>> = {
  name: 'gate_targets',
  title: 'List the targets gate lets you use',
  description:
    'Lists the targets you may request through gate and, per role, whether approval is needed (and by whom), the ' +
    'longest duration, whether a reason is required, and your active grant if you hold one. For Postgres targets it ' +
    'also lists the guardrails in force (deny: refused outright; require_approval: held until a human approves) and ' +
    'the masked columns and value detectors; for HTTP targets the method/path rules (deny, require_approval) and ' +
    'the masked JSON fields, so you know the rules before you call. Takes no arguments.',
  input: {},
  readOnly: true,
  async run(mcp) {
    const [targets, grants] = await Promise.all([offeredTargets(mcp), activeGrants(mcp)]);
    const list = targets.map((t) => ({
      name: t.name,
      type: t.type,
      ...(t.description ? { description: t.description } : {}),
      ...(t.database ? { database: t.database } : {}),
      roles: t.roles.map((r) => {
        const g = grants.find((x) => x.target === t.name && x.role === r.role);
        return {
          role: r.role,
          approval_required: r.approval_required,
          approvers: r.approvers,
          max_duration: r.max_duration,
          reason_required: r.reason_required,
          ...(g ? { active_grant: { id: g.id, expires_at: g.expires_at } } : {}),
        };
      }),
      ...(t.guardrails ? { guardrails: t.guardrails } : {}),
      ...(t.rules ? { rules: t.rules } : {}),
      ...(t.masking?.columns ? { masked_columns: t.masking.columns } : {}),
      ...(t.masking?.json_fields ? { masked_fields: t.masking.json_fields } : {}),
      ...(t.masking ? { detectors: t.masking.detectors } : {}),
    }));
    const text =
      list.length === 0
        ? 'No policy lets you request any target here.'
        : list
            .map((t) => {
              const roles = t.roles
                .map((r) => `${r.role} (${r.approval_required ? `approval by ${r.approvers.join(', ')}` : 'auto-approved'}${r.active_grant ? `, active grant ${r.active_grant.id}` : ''})`)
                .join(', ');
              const rules = t.guardrails?.length ? `; guardrails: ${t.guardrails.map((g) => `${g.kind} /${g.pattern}/${g.message ? ` "${g.message}"` : ''}`).join(', ')}` : '';
              const httpRules = t.rules?.length
                ? `; rules: ${t.rules.map((r) => `${r.kind} ${(r.methods ?? ['*']).join(',')} ${(r.paths ?? ['/**']).join(',')}${r.message ? ` "${r.message}"` : ''}`).join(', ')}`
                : '';
              const masked = t.masked_columns?.length ? `; masked columns: ${t.masked_columns.join(', ')}` : '';
              const fields = t.masked_fields?.length ? `; masked JSON fields: ${t.masked_fields.join(', ')}` : '';
              return `${t.name} [${t.type}]${t.description ? ` ${t.description}` : ''}: roles ${roles}${rules}${httpRules}${masked}${fields}`;
            })
            .join('\n');
    return { structured: { targets: list }, text };
  },
};
