/**
 * SQL guardrails: case-insensitive regular expressions from the target's
 * config, matched against every statement of a query (see sql-split.ts for how
 * statements are split and normalised). `deny` wins over `require_approval`;
 * the first matching rule of that kind is reported.
 */
import type { PostgresTarget } from '../../config/schema.js';
import { splitStatements } from './sql-split.js';

export interface GuardrailRule {
  kind: 'deny' | 'require_approval';
  /** The regular expression's source, as written in gate.yaml. */
  source: string;
  re: RegExp;
  message?: string;
}

export interface GuardrailHit {
  rule: GuardrailRule;
  /** The (normalised) statement that matched. */
  statement: string;
}

type RegexGuardrail = { deny: string; message?: string } | { require_approval: string; message?: string };

// Structured rules are evaluated by src/gateway/sql/rules.ts (compileSqlRules/evaluateQuery); this file goes with the old relay.
export function compileGuardrails(config: PostgresTarget['guardrails']): GuardrailRule[] {
  const regexOnly = config.filter(
    (g): g is RegexGuardrail => typeof ('deny' in g ? g.deny : g.require_approval) === 'string',
  );
  return regexOnly.map((g) =>
    'deny' in g
      ? { kind: 'deny' as const, source: g.deny, re: new RegExp(g.deny, 'i'), message: g.message }
      : {
          kind: 'require_approval' as const,
          source: g.require_approval,
          re: new RegExp(g.require_approval, 'i'),
          message: g.message,
        },
  );
}

/** The guardrail a query's text trips, or undefined. */
export function checkGuardrails(rules: GuardrailRule[], text: string): GuardrailHit | undefined {
  if (rules.length === 0) return undefined;
  const statements = splitStatements(text);
  let held: GuardrailHit | undefined;
  for (const statement of statements) {
    for (const rule of rules) {
      if (rule.kind === 'require_approval' && held) continue;
      if (!rule.re.test(statement)) continue;
      if (rule.kind === 'deny') return { rule, statement };
      held = { rule, statement };
    }
  }
  return held;
}

/** The client-facing text for a denied statement. */
export function denyMessage(rule: GuardrailRule, targetName: string): string {
  return rule.message
    ? `gate: ${rule.message}`
    : `gate: statement denied on ${targetName} by guardrail /${rule.source}/`;
}
