/**
 * What `gate policy test` shows: how gate reads each statement and what a
 * target's rules decide, without a server or a database. The same analysis
 * and evaluation the gateway runs, so the answer is the gateway's.
 */
import type { PostgresTarget } from '../../config/schema.js';
import { analyzeQuery } from './analyze.js';
import { maskedOutputColumns } from './mask-plan.js';
import { compileSqlRules, type Decision, evaluateQuery, type PreparedLookup } from './rules.js';
import type { StatementAnalysis, TableRef } from './types.js';

export interface ExplainedStatement {
  text: string;
  tag: string;
  tags: string[];
  tables: string[];
  filtered: boolean;
  opaque: boolean;
  opaque_reason: string | null;
  functions: string[];
  decision: Decision;
  /** Readable rule (`guardrails[2]: require_approval {…}`, `opaque_sql: deny`, `masking`), null when allowed. */
  rule: string | null;
  rule_index: number | null;
  reason: string | null;
  masked_columns: string[];
  fingerprint: string;
}

export type ExplainResult =
  | { ok: true; target: string; role?: string; decision: Decision; statements: ExplainedStatement[]; masked_columns: string[] }
  | { ok: false; error: string; position?: number };

export function tableName(t: TableRef): string {
  return t.schema ? `${t.schema}.${t.name}` : t.name;
}

export function explainQuery(targetName: string, target: PostgresTarget, sql: string, role?: string): ExplainResult {
  const analysis = analyzeQuery(sql);
  if (!analysis.ok) return { ok: false, error: analysis.error, position: analysis.position };
  const rules = compileSqlRules({
    guardrails: target.guardrails,
    opaqueSql: target.opaque_sql,
    masking: target.masking.columns.length > 0 || target.masking.detectors.length > 0,
    maskedColumns: target.masking.columns,
  });
  // PREPARE earlier in the same text is what a later EXECUTE runs (as in a session).
  const prepared = new Map<string, StatementAnalysis>();
  const lookup: PreparedLookup = (name) => prepared.get(name);
  const decisions = analysis.statements.map((s) => {
    const d = evaluateQuery(rules, { ok: true, statements: [s] }, targetName, lookup);
    if (s.prepare) prepared.set(s.prepare.name, s.prepare.body);
    return d;
  });
  const statements = analysis.statements.map((s, i): ExplainedStatement => {
    const d = decisions[i]!;
    const rule = d.rule ? (d.rule.index < 0 ? d.rule.source : `guardrails[${d.rule.index}]: ${d.rule.source}`) : null;
    return {
      text: s.text,
      tag: s.tag,
      tags: s.tags,
      tables: s.tables.map(tableName),
      filtered: s.filtered,
      opaque: !!s.opaque,
      opaque_reason: s.opaque ?? null,
      functions: s.functions,
      decision: d.decision,
      rule,
      rule_index: d.rule && d.rule.index >= 0 ? d.rule.index : null,
      reason: d.reason ?? null,
      masked_columns: maskedOutputColumns(s, target.masking),
      fingerprint: s.fingerprint,
    };
  });
  const strongest = (['deny', 'require_approval'] as const).find((k) => statements.some((s) => s.decision === k)) ?? 'allow';
  return {
    ok: true,
    target: targetName,
    ...(role ? { role } : {}),
    decision: strongest,
    statements,
    masked_columns: [...new Set(statements.flatMap((s) => s.masked_columns))],
  };
}
