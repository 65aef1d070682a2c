import type { HttpMatch, HttpTarget } from '../../config/http-target.js';

/** The first guardrail that applies to a request, and what it asks for. */
export interface HttpRuleDecision {
  kind: 'deny' | 'require_approval';
  index: number;
  /** A stable, readable name of the rule, e.g. `deny methods=DELETE paths=/v1/customers/**`. */
  rule: string;
  message: string | undefined;
}

/**
 * The segment a rule compares: case-folded (many servers route
 * case-insensitively) and without `;parameters` (Java servlet containers
 * drop them before routing), so neither spelling slips past a rule.
 */
function comparable(segment: string): string {
  const semi = segment.indexOf(';');
  return (semi === -1 ? segment : segment.slice(0, semi)).toLowerCase();
}

function segmentGlob(pattern: string): RegExp {
  const escaped = pattern.toLowerCase().replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
  return new RegExp(`^${escaped}$`);
}

/** Compiles `/v1/customers/**` into a matcher over decoded segments: `*` is one segment, `**` any number (also none). */
export function compilePathPattern(pattern: string): (segments: readonly string[]) => boolean {
  const parts = pattern.split('/').filter((p) => p !== '');
  const tests = parts.map((p) => (p === '**' ? '**' : p === '*' ? '*' : segmentGlob(p)));
  const match = (pi: number, si: number, segs: readonly string[]): boolean => {
    if (pi === tests.length) return si === segs.length;
    const t = tests[pi]!;
    if (t === '**') {
      for (let k = si; k <= segs.length; k++) if (match(pi + 1, k, segs)) return true;
      return false;
    }
    if (si >= segs.length) return false;
    if (t === '*') return segs[si] !== '' && match(pi + 1, si + 1, segs);
    return t.test(segs[si]!) && match(pi + 1, si + 1, segs);
  };
  return (segments) => match(0, 0, segments.map(comparable));
}

/** A HEAD is a GET without the body: a rule on GET covers it too. */
function methodMatches(methods: string[] | undefined, method: string): boolean {
  if (!methods) return true;
  const m = method.toUpperCase();
  return methods.some((x) => x === '*' || x === m || (m === 'HEAD' && x === 'GET'));
}

export function matchesRule(match: HttpMatch, method: string, segments: readonly string[]): boolean {
  if (!methodMatches(match.methods, method)) return false;
  if (!match.paths) return true;
  return match.paths.some((p) => compilePathPattern(p)(segments));
}

export function describeHttpRule(kind: 'deny' | 'require_approval', match: HttpMatch): string {
  const parts: string[] = [kind];
  if (match.methods) parts.push(`methods=${match.methods.join(',')}`);
  if (match.paths) parts.push(`paths=${match.paths.join(',')}`);
  return parts.join(' ');
}

/**
 * Checks a request against the target's guardrails: any matching `deny`
 * wins over any `require_approval`, whatever their order; within a kind the
 * first match in file order is reported.
 */
export function checkHttpRules(
  guardrails: HttpTarget['guardrails'],
  method: string,
  segments: readonly string[],
): HttpRuleDecision | undefined {
  let held: HttpRuleDecision | undefined;
  for (const [index, g] of guardrails.entries()) {
    if ('deny' in g) {
      if (matchesRule(g.deny, method, segments)) return { kind: 'deny', index, rule: describeHttpRule('deny', g.deny), message: g.message };
    } else if (!held && matchesRule(g.require_approval, method, segments)) {
      held = { kind: 'require_approval', index, rule: describeHttpRule('require_approval', g.require_approval), message: g.message };
    }
  }
  return held;
}
