/**
 * The relay's one question about a statement: may it run? The answer comes
 * from the target's guardrails applied to gate's SQL analysis of each
 * statement of the text (read under the session's settings), before any of
 * it is forwarded.
 */
import type { PostgresTarget } from '../../config/schema.js';
import type { StatementSummary } from './audit-record.js';
import { checkGuardrails, compileGuardrails, denyMessage } from './guardrails.js';
import type { SessionState } from './session-state.js';

export interface HeldRule {
  /** A readable form of the rule, as the approver and the audit see it. */
  source: string;
  message?: string;
  /** How many times one approval lets the statement run (default 1). */
  reuse?: number;
}

export type Verdict =
  | { action: 'allow'; statements: StatementSummary[] }
  | { action: 'deny'; statements: StatementSummary[]; rule: string; message: string; code: string; hint?: string }
  | { action: 'hold'; statements: StatementSummary[]; rule: HeldRule };

export interface StatementPolicy {
  /** True when the target has guardrails or masking: what gate cannot read is refused. */
  guarded: boolean;
  check(text: string, session: SessionState): Verdict;
}

/** Policy from the target's regex guardrails (each statement's normalised text). */
export function createPolicy(target: PostgresTarget, targetName: string): StatementPolicy {
  const rules = compileGuardrails(target.guardrails);
  const masking = target.masking.columns.length > 0 || target.masking.detectors.length > 0;
  return {
    guarded: rules.length > 0 || masking,
    check(text) {
      const hit = checkGuardrails(rules, text);
      if (!hit) return { action: 'allow', statements: [] };
      if (hit.rule.kind === 'deny') {
        return { action: 'deny', statements: [], rule: hit.rule.source, message: denyMessage(hit.rule, targetName), code: '42501' };
      }
      return { action: 'hold', statements: [], rule: { source: hit.rule.source, message: hit.rule.message } };
    },
  };
}
