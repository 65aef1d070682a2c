/**
 * The relay's one question about a statement: may it run? The answer comes
 * from the target's guardrails applied to gate's SQL analysis of each
 * statement of the text (read under the session's settings), before any of
 * it is forwarded. On a guarded target, gate also refuses what would leave it
 * unable to read the session (a SET of standard_conforming_strings or
 * client_encoding it cannot follow), and, with masked columns, SQL that would
 * move masked data where gate cannot mask it.
 */
import type { PostgresTarget } from '../../config/schema.js';
import { createdViewEntries } from '../sql/view-masking.js';
import {
  analyzeQuery,
  compileSqlRules,
  evaluateQuery,
  maskedCopyProblem,
  type MaskingRules,
  memoKey,
  type SqlRules,
  settingChangeProblem,
  type StatementAnalysis,
} from '../sql/index.js';
import type { StatementSummary } from './audit-record.js';
import type { SessionState } from './session-state.js';

export interface HeldRule {
  /** A readable form of the rule, as the approver and the audit see it. */
  source: string;
  message?: string;
  /** How many times one approval lets the statement run (default 1). */
  reuse?: number;
}

export type Verdict =
  | {
      action: 'allow';
      statements: StatementSummary[];
      analyses: StatementAnalysis[];
      /** Read nothing more from the client until this query's ReadyForQuery (see `barrier` below). */
      barrier?: boolean;
    }
  | {
      action: 'deny';
      statements: StatementSummary[];
      analyses: StatementAnalysis[];
      rule: string;
      message: string;
      code: string;
      hint?: string;
    }
  | { action: 'hold'; statements: StatementSummary[]; analyses: StatementAnalysis[]; rule: HeldRule; message: string };

export interface StatementPolicy {
  /** True when the target has guardrails or masking: what gate cannot read is refused. */
  guarded: boolean;
  rules: SqlRules;
  masking: MaskingRules;
  check(text: string, session: SessionState): Verdict;
  /** A fastpath FunctionCall: gate cannot see what the function does. */
  checkFunctionCall(oid: number): Verdict;
}

/**
 * A statement's summary as the audit keeps it. The same for a cached
 * analysis every time it comes back, and for a shape's copies (their summary
 * fields are the shape's): those are summarised once.
 */
export function summarize(s: StatementAnalysis): StatementSummary {
  const key = memoKey(s);
  if (!key) return summaryOf(s);
  let out = summaries.get(key);
  if (!out) {
    out = summaryOf(key);
    summaries.set(key, out);
  }
  return out;
}

const summaries = new WeakMap<StatementAnalysis, StatementSummary>();

function summaryOf(s: StatementAnalysis): StatementSummary {
  const out: StatementSummary = {
    tag: s.tag,
    tables: s.tables.map((t) => (t.schema ? `${t.schema}.${t.name}` : t.name)),
    fingerprint: s.fingerprint,
    filtered: s.filtered,
  };
  if (s.opaque) out.opaque = s.opaque;
  return out;
}

const NONE: StatementAnalysis[] = [];
const NO_SUMMARIES: StatementSummary[] = [];

function refusal(statements: StatementSummary[], analyses: StatementAnalysis[], rule: string, message: string, code = '42501'): Verdict {
  return { action: 'deny', statements, analyses, rule, message, code };
}

/** What an EXECUTE in this query runs: a PREPARE earlier in the same query, or one earlier in the session. */
function preparedLookup(analyses: StatementAnalysis[], session: SessionState): (name: string) => StatementAnalysis | undefined {
  let local: Map<string, StatementAnalysis> | undefined;
  for (const s of analyses) {
    if (!s.prepare) continue;
    local ??= new Map();
    local.set(s.prepare.name, s.prepare.body);
  }
  if (!local) return session.preparedBody;
  const here = local;
  return (name) => here.get(name) ?? session.preparedBody(name);
}

/** `viewColumns`: masking entries the session's views add (see sql/view-masking.ts). */
export function createPolicy(target: PostgresTarget, targetName: string, viewColumns: string[] = []): StatementPolicy {
  const maskingOn = target.masking.columns.length > 0 || target.masking.detectors.length > 0;
  const rules = compileSqlRules({ guardrails: target.guardrails, opaqueSql: target.opaque_sql, masking: maskingOn });
  // Per session: views (read at session start, or created in it) add their masked columns.
  const masking: MaskingRules = { columns: [...target.masking.columns, ...viewColumns] };

  function check(text: string, session: SessionState): Verdict {
    const read = session.readOptions;
    const analysis = analyzeQuery(text, read);
    const analyses = analysis.ok ? analysis.statements : NONE;
    const statements = analyses.length === 0 ? NO_SUMMARIES : analyses.map(summarize);
    if (!analysis.ok) {
      // Unguarded targets pass what gate cannot parse: the server judges it (and audit keeps the text).
      if (!rules.guarded) return { action: 'allow', statements, analyses };
      return refusal(statements, analyses, 'parse', `gate: the statement cannot be parsed: ${analysis.error}`, '42601');
    }
    let barrier = false;
    if (rules.guarded) {
      for (const s of analyses) {
        if (!s.setting) continue;
        // set_config(name, …) with a computed name (pg_dump does this): the server parses the whole
        // query before it runs any of it, and reports a change of either setting in ParameterStatus
        // (which ends the session), so it is safe once gate reads nothing more until that report.
        if (s.setting.name === '?') {
          barrier = true;
          continue;
        }
        const problem = settingChangeProblem(s.setting.name, s.setting.value, read);
        if (problem) return refusal(statements, analyses, 'read_options', `gate: refused on ${targetName}: ${problem}`, '0A000');
      }
    }
    if (masking.columns.length > 0) {
      const problem = maskingProblem(analyses);
      if (problem) return refusal(statements, analyses, 'masking', problem);
    }
    const decision = evaluateQuery(rules, analysis, targetName, preparedLookup(analyses, session));
    if (decision.decision === 'allow') return { action: 'allow', statements, analyses, barrier };
    const rule = decision.rule;
    const source = rule?.source ?? 'parse';
    const message = decision.reason ?? `gate: refused on ${targetName}`;
    if (decision.decision === 'deny') return refusal(statements, analyses, source, message);
    return {
      action: 'hold',
      statements,
      analyses,
      rule: { source, message: rule?.message, reuse: rule?.reuse },
      message,
    };
  }

  /** On a target that masks columns: SQL that would move masked data where gate cannot mask it. */
  function maskingProblem(analyses: StatementAnalysis[]): string | undefined {
    for (const s of analyses) {
      const problem = maskedCopyProblem(s, masking);
      if (problem) return problem;
      if (s.sqlTextFunctions.length > 0) {
        return `gate: ${s.sqlTextFunctions.join(', ')}() runs SQL text gate cannot see; refused on ${targetName}, which masks columns`;
      }
    }
    for (const s of analyses) {
      if (!s.view) continue;
      const added = createdViewEntries(s.view, masking);
      if (!added) return `gate: CREATE VIEW ${s.view.table.name} selects columns gate cannot trace to the masked ones; refused on ${targetName}, which masks columns (name the view's columns)`;
      // Before it runs: once the view exists, reading through it is masked (and if it fails, masking more is harmless).
      for (const e of added) if (!masking.columns.includes(e)) masking.columns.push(e);
    }
    return undefined;
  }

  function checkFunctionCall(oid: number): Verdict {
    const none = { statements: [], analyses: [] };
    if (!rules.guarded || rules.opaque === 'allow') return { action: 'allow', ...none };
    const what = `a fastpath FunctionCall (function oid ${oid}) runs a function gate cannot see into`;
    if (rules.opaque === 'deny') {
      return {
        action: 'deny',
        ...none,
        rule: 'opaque_sql: deny',
        message: `gate: denied on ${targetName}: ${what} (opaque_sql: deny; set opaque_sql: require_approval or allow on the target to permit it)`,
        code: '42501',
      };
    }
    return {
      action: 'hold',
      ...none,
      rule: { source: 'opaque_sql: require_approval' },
      message: `gate: held for approval on ${targetName}: ${what}`,
    };
  }

  return { guarded: rules.guarded, rules, masking, check, checkFunctionCall };
}
