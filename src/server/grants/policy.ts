import { type GateConfig, type PolicyConfig, type PostgresTarget, parseDuration } from '../../config/schema.js';
import { compileSqlRules } from '../../gateway/sql/rules.js';

/** Who is asking, as far as policy cares. */
export interface PolicySubject {
  groups: string[];
}

export interface GrantRequestInput {
  target: string;
  role: string;
  /** Requested seconds. */
  duration: number;
  reason?: string;
}

export type Approval = { kind: 'auto' } | { kind: 'approvers'; approvers: string[]; min: number };

export type PolicyDecision =
  | {
      ok: true;
      policy: PolicyConfig;
      approval: Approval;
      /** Seconds granted: the request, capped at the policy's max_duration. */
      duration: number;
      capped: boolean;
      maxDuration: number;
    }
  | {
      ok: false;
      /** `unknown_target` and `unknown_role` are bad input; `no_policy` and `reason_required` are policy answers. */
      why: 'unknown_target' | 'unknown_role' | 'no_policy' | 'reason_required';
      message: string;
    };

const matches = (list: string[], value: string) => list.includes(value) || list.includes('*');

/** Policies whose groups, targets and roles all cover this request. */
export function matchingPolicies(config: GateConfig, who: PolicySubject, target: string, role: string): PolicyConfig[] {
  return config.policies.filter(
    (p) => p.groups.some((g) => who.groups.includes(g)) && matches(p.targets, target) && matches(p.roles, role),
  );
}

/** Seconds of a policy's max_duration. */
export function maxDurationSeconds(policy: PolicyConfig): number {
  return parseDuration(policy.max_duration) / 1000;
}

function approvalOf(policy: PolicyConfig): Approval {
  return policy.approval === 'auto'
    ? { kind: 'auto' }
    : { kind: 'approvers', approvers: policy.approval.approvers, min: policy.approval.min };
}

/**
 * When several policies match, the most permissive wins: auto-approval over
 * approval, then the longest max_duration, then config order. A user in two
 * groups gets the better of the two, never a mix.
 */
function best(policies: PolicyConfig[]): PolicyConfig {
  return [...policies].sort((a, b) => {
    const auto = Number(b.approval === 'auto') - Number(a.approval === 'auto');
    if (auto !== 0) return auto;
    return maxDurationSeconds(b) - maxDurationSeconds(a);
  })[0]!;
}

/** Decides a grant request: which policy applies, whether approval is needed, and the duration granted. */
export function decide(config: GateConfig, who: PolicySubject, req: GrantRequestInput): PolicyDecision {
  const target = config.targets[req.target];
  if (!target) return { ok: false, why: 'unknown_target', message: `There is no target named ${JSON.stringify(req.target)}.` };
  const roles = Object.keys(target.roles);
  if (!roles.includes(req.role)) {
    return {
      ok: false,
      why: 'unknown_role',
      message: `Target ${req.target} has no role ${JSON.stringify(req.role)}; its roles are: ${roles.join(', ')}.`,
    };
  }
  const candidates = matchingPolicies(config, who, req.target, req.role);
  if (candidates.length === 0) {
    return {
      ok: false,
      why: 'no_policy',
      message: `No policy lets your groups (${who.groups.join(', ') || 'none'}) request role ${req.role} on ${req.target}.`,
    };
  }
  const policy = best(candidates);
  if (policy.reason === 'required' && !req.reason?.trim()) {
    return { ok: false, why: 'reason_required', message: `Policy ${policy.name} requires a reason for ${req.target}/${req.role}: pass one with --reason.` };
  }
  const max = maxDurationSeconds(policy);
  const capped = req.duration > max;
  return { ok: true, policy, approval: approvalOf(policy), duration: capped ? max : req.duration, capped, maxDuration: max };
}

/** One role a caller may request on a target. */
export interface RequestableRole {
  role: string;
  policy: string;
  approval_required: boolean;
  approvers: string[];
  min_approvals: number;
  max_duration: string;
  reason_required: boolean;
  /** postgres: the upstream user name (never its password). */
  username?: string;
}

/** Every target the caller may request, with the roles and what each needs. No credential reference is copied. */
export function requestableTargets(
  config: GateConfig,
  who: PolicySubject,
): {
  name: string;
  type: string;
  description?: string;
  database?: string;
  record_input: boolean;
  recording: 'required' | 'best-effort';
  record_output: 'terminal' | 'full';
  default_role?: string;
  roles: RequestableRole[];
  guardrails?: { kind: 'deny' | 'require_approval'; pattern: string; message?: string }[];
  masking?: { columns: string[]; detectors: string[] };
}[] {
  const out = [];
  for (const [name, target] of Object.entries(config.targets)) {
    const roles: RequestableRole[] = [];
    for (const role of Object.keys(target.roles)) {
      const candidates = matchingPolicies(config, who, name, role);
      if (candidates.length === 0) continue;
      const p = best(candidates);
      const approval = approvalOf(p);
      roles.push({
        role,
        policy: p.name,
        approval_required: approval.kind === 'approvers',
        approvers: approval.kind === 'approvers' ? approval.approvers : [],
        min_approvals: approval.kind === 'approvers' ? approval.min : 0,
        max_duration: p.max_duration,
        reason_required: p.reason === 'required',
        // Copied field by field: a role's secret reference must never reach this object.
        ...(target.type === 'postgres' ? { username: target.roles[role]!.username } : {}),
      });
    }
    if (roles.length > 0) {
      out.push({
        name,
        type: target.type,
        description: target.description,
        ...(target.type === 'postgres' ? { database: target.database } : {}),
        record_input: target.record_input,
        recording: target.recording,
        record_output: target.record_output ?? 'terminal',
        ...(target.default_role && roles.some((r) => r.role === target.default_role) ? { default_role: target.default_role } : {}),
        roles,
        // The rules in force, so an agent (gate mcp's gate_targets) knows them before it tries.
        ...(target.type === 'postgres' ? postgresRules(target) : {}),
      });
    }
  }
  return out;
}

/** Every approver group named by a policy that covers `target`. */
export function approverGroupsFor(config: GateConfig, target: string): string[] {
  const groups = new Set<string>();
  for (const p of config.policies) {
    if (p.approval !== 'auto' && matches(p.targets, target)) for (const g of p.approval.approvers) groups.add(g);
  }
  return [...groups];
}

/** Targets on which the caller is an approver (sees their grants and audit events). */
export function targetsApprovedBy(config: GateConfig, who: PolicySubject): string[] {
  return Object.keys(config.targets).filter((t) => approverGroupsFor(config, t).some((g) => who.groups.includes(g)));
}

/** A Postgres target's guardrails and masking as the caller may see them (readable rules and messages, no secrets). */
function postgresRules(target: PostgresTarget): {
  guardrails: { kind: 'deny' | 'require_approval'; pattern: string; message?: string }[];
  opaque_sql: string;
  masking: { columns: string[]; detectors: string[] };
} {
  const compiled = compileSqlRules({
    guardrails: target.guardrails,
    opaqueSql: target.opaque_sql,
    masking: target.masking.columns.length > 0 || target.masking.detectors.length > 0,
    maskedColumns: target.masking.columns,
  });
  return {
    guardrails: compiled.rules.map((r) => ({ kind: r.kind, pattern: r.source, ...(r.message ? { message: r.message } : {}) })),
    opaque_sql: compiled.opaque,
    masking: { columns: [...target.masking.columns], detectors: [...target.masking.detectors] },
  };
}
