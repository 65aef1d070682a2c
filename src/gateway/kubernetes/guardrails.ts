import type { KubernetesTarget } from '../../config/schema.js';
import type { RequestInfo } from './request-info.js';

/** One `{verbs?, resources?, namespaces?}` matcher from a kubernetes target's guardrails. */
export interface K8sMatch {
  verbs?: string[] | undefined;
  resources?: string[] | undefined;
  namespaces?: string[] | undefined;
}

export type K8sGuardrail = KubernetesTarget['guardrails'][number];

/** The first guardrail that applies to a request, and what it asks for. */
export interface GuardrailDecision {
  kind: 'deny' | 'require_approval';
  /** Position in the target's `guardrails` list (0-based). */
  index: number;
  /** A stable, human-readable name of the rule, e.g. `deny verbs=delete resources=namespaces`. */
  rule: string;
  message: string | undefined;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 'i');
}

function anyMatch(patterns: string[], values: string[]): boolean {
  return patterns.some((p) => {
    const re = globToRegExp(p);
    return values.some((v) => re.test(v));
  });
}

/**
 * The names a `resources` entry may use for this request: `pods`,
 * `pods/exec`, and the group-qualified `deployments.apps`,
 * `deployments.apps/scale`. As in RBAC, `pods` alone does not cover
 * `pods/exec`; `pods/*` and `*` do.
 */
function resourceNames(info: RequestInfo): string[] {
  const base = [info.resource];
  if (info.apiGroup) base.push(`${info.resource}.${info.apiGroup}`);
  return info.subresource ? base.map((b) => `${b}/${info.subresource}`) : base;
}

/**
 * The words a `verbs` entry may use for this request: the RBAC verb, the
 * action, and `exec` for everything that can run a command (see
 * RequestInfo.runsCommand), so `verbs: [exec]` cannot be sidestepped with
 * `attach`, an ephemeral debug container or the kubelet's `nodes/proxy`.
 */
export function verbWords(info: RequestInfo): string[] {
  const words = [info.verb, info.action];
  if (info.runsCommand) words.push('exec');
  return words;
}

/**
 * Whether a matcher applies. Every list given must match; an absent list
 * matches anything. Patterns may use `*` as a wildcard (`*`, `prod-*`).
 * `verbs` match the RBAC verb, the action (`exec`, `log`, `portforward`…) or
 * `exec` for anything that runs a command ({@link verbWords}).
 * Non-resource requests (discovery, `/version`) match only matchers without
 * `resources` and `namespaces`. `namespaces` never match a cluster-scoped
 * request unless a pattern is exactly `*`.
 */
export function matches(match: K8sMatch, info: RequestInfo): boolean {
  if (match.verbs && !anyMatch(match.verbs, verbWords(info))) return false;
  if (!info.isResourceRequest) return !match.resources && !match.namespaces;
  if (match.resources && !anyMatch(match.resources, resourceNames(info))) return false;
  if (match.namespaces) {
    if (info.namespace === '') return match.namespaces.includes('*');
    if (!anyMatch(match.namespaces, [info.namespace])) return false;
  }
  return true;
}

export function describeRule(kind: 'deny' | 'require_approval', match: K8sMatch): string {
  const parts: string[] = [kind];
  if (match.verbs) parts.push(`verbs=${match.verbs.join(',')}`);
  if (match.resources) parts.push(`resources=${match.resources.join(',')}`);
  if (match.namespaces) parts.push(`namespaces=${match.namespaces.join(',')}`);
  return parts.join(' ');
}

/**
 * Checks a request against the target's guardrails. Any matching `deny`
 * wins over any `require_approval`, whatever their order; within a kind the
 * first match in file order is reported.
 */
export function checkGuardrails(guardrails: readonly K8sGuardrail[], info: RequestInfo): GuardrailDecision | undefined {
  let held: GuardrailDecision | undefined;
  for (const [index, g] of guardrails.entries()) {
    if ('deny' in g) {
      if (matches(g.deny, info)) return { kind: 'deny', index, rule: describeRule('deny', g.deny), message: g.message };
    } else if (!held && matches(g.require_approval, info)) {
      held = { kind: 'require_approval', index, rule: describeRule('require_approval', g.require_approval), message: g.message };
    }
  }
  return held;
}
