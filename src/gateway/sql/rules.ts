/**
 * Guardrail evaluation over the analysis. Every statement of a query is
 * checked before any of it runs; `deny` beats `require_approval`, which beats
 * allow; the first rule of the winning kind (in file order) is reported. A
 * statement whose effect gate cannot see is decided by `opaque_sql`.
 */
import type { OpaqueSqlSetting, SqlGuardrailConfig, SqlMatchConfig } from '../../config/sql-rules.js';
import { memoKey } from './analyze.js';
import { globMatch } from './glob.js';
import { type MaskingRules, maskedCopyProblem } from './mask-plan.js';
import { normalizedText } from './normalize.js';
import type { QueryAnalysis, StatementAction, StatementAnalysis, TableRef } from './types.js';

export type Decision = 'allow' | 'deny' | 'require_approval';

export interface CompiledRule {
  index: number;
  kind: 'deny' | 'require_approval';
  /** Readable form of the rule, e.g. `deny {statements: [DROP]}` or `deny /^\s*vacuum/`. */
  source: string;
  message?: string;
  reuse?: number;
  re?: RegExp;
  match?: SqlMatchConfig;
}

export interface SqlRules {
  rules: CompiledRule[];
  opaque: OpaqueSqlSetting;
  /** True when the target has any guardrail or masking (unsupported read options are then refused). */
  guarded: boolean;
  /** Schemas an unqualified table name may resolve to (PostgreSQL's default search_path). */
  searchPath: string[];
  /** The target's masked columns: statements that would copy them elsewhere are denied. */
  masking?: MaskingRules;
  /** Some rule is a regular expression over the statement's text (the rest read only its analysis). */
  readsText: boolean;
}

export interface StatementDecision {
  decision: Decision;
  /** The rule that decided; undefined for allow. `index` is -1 for `opaque_sql`. */
  rule?: CompiledRule;
  /** Client-facing reason for deny / require_approval. */
  reason?: string;
}

export interface QueryDecision extends StatementDecision {
  /** One per statement, in order. */
  statements: StatementDecision[];
  /** The statement that decided the query (index into statements). */
  statementIndex?: number;
}

export interface CompileOptions {
  guardrails: SqlGuardrailConfig[];
  opaqueSql?: OpaqueSqlSetting;
  /** Whether the target masks anything (makes it guarded: opaque SQL defaults to deny). */
  masking?: boolean;
  /** `masking.columns`: also denies INSERT … SELECT / CREATE TABLE AS / UPDATE … SET of masked data and SQL-text functions. */
  maskedColumns?: string[];
  searchPath?: string[];
}

export function compileSqlRules(opts: CompileOptions): SqlRules {
  const rules = opts.guardrails.map((g, index): CompiledRule => {
    const kind = 'deny' in g ? 'deny' : 'require_approval';
    const body = 'deny' in g ? g.deny : g.require_approval;
    const reuse = 'reuse' in g ? g.reuse : undefined;
    if (typeof body === 'string') return { index, kind, source: `${kind} /${body}/`, message: g.message, reuse, re: new RegExp(body, 'i') };
    return { index, kind, source: `${kind} ${describeMatch(body)}`, message: g.message, reuse, match: body };
  });
  const masked = opts.maskedColumns?.length ? { columns: opts.maskedColumns } : undefined;
  const guarded = rules.length > 0 || !!opts.masking || !!masked;
  return {
    rules,
    opaque: opts.opaqueSql ?? (guarded ? 'deny' : 'allow'),
    guarded,
    searchPath: opts.searchPath ?? ['public'],
    masking: masked,
    readsText: rules.some((r) => r.re !== undefined),
  };
}

function describeMatch(m: SqlMatchConfig): string {
  const parts: string[] = [];
  if (m.statements) parts.push(`statements: [${m.statements.join(', ')}]`);
  if (m.tables) parts.push(`tables: [${m.tables.join(', ')}]`);
  if (m.except_tables) parts.push(`except_tables: [${m.except_tables.join(', ')}]`);
  if (m.functions) parts.push(`functions: [${m.functions.join(', ')}]`);
  if (m.unfiltered) parts.push('unfiltered: true');
  return `{${parts.join(', ')}}`;
}

/**
 * A search_path value as schemas for rule matching: `"$user"` becomes `user`
 * (or any schema when unknown), DEFAULT (undefined) the default path.
 */
export function parseSearchPath(value: string | undefined, user?: string): string[] {
  if (value === undefined) return ['public'];
  return value
    .split(',')
    .map((p) => p.trim().replace(/^"(.*)"$/, '$1'))
    .filter((p) => p.length > 0)
    .map((p) => (p === '$user' ? (user ?? '*') : p));
}

/** Looks up a prepared statement's body for EXECUTE (the relay keeps them per session). */
export type PreparedLookup = (name: string) => StatementAnalysis | undefined;

export interface SessionContext {
  /**
   * The session's search_path when it is not the default (see `parseSearchPath`);
   * `['*']` when gate could not tell, so an unqualified name may be in any schema.
   */
  searchPath?: string[];
}

/**
 * Decides a whole query: every statement first, then the strongest decision
 * wins. A `SET search_path` earlier in the same query applies to the
 * statements after it.
 */
export function evaluateQuery(
  rules: SqlRules,
  analysis: QueryAnalysis,
  target: string,
  prepared?: PreparedLookup,
  session: SessionContext = {},
): QueryDecision {
  if (!analysis.ok) {
    const reason = `gate: the statement cannot be parsed: ${analysis.error}`;
    if (!rules.guarded) return { decision: 'allow', statements: [] };
    return { decision: 'deny', reason, statements: [{ decision: 'deny', reason }] };
  }
  let current = session.searchPath ? { ...rules, searchPath: session.searchPath } : rules;
  const statements = analysis.statements.map((s) => {
    const d = evaluateStatement(current, s, target, prepared);
    if (s.setting?.name === 'search_path' || s.setting?.name === '?' || s.setting?.name === 'all')
      current = { ...rules, searchPath: s.setting.name === 'search_path' ? parseSearchPath(s.setting.value) : ['*'] };
    return d;
  });
  for (const want of ['deny', 'require_approval'] as const) {
    const i = statements.findIndex((d) => d.decision === want);
    if (i >= 0) return { ...statements[i]!, statements, statementIndex: i };
  }
  return { decision: 'allow', statements };
}

/**
 * The analysis cache hands out the same statement objects again, so their
 * decision is remembered per (rules, statement, target). A shape's copy (new
 * for every text, see shape-cache.ts) differs from its shape only in its
 * text: unless a rule reads the text, it is decided as its shape, once.
 * Nothing else is remembered: an entry per statement would never be read
 * again and would cost the garbage collector.
 */
const memo = new WeakMap<SqlRules, WeakMap<StatementAnalysis, Map<string, StatementDecision>>>();

/** Decides one statement (for EXECUTE, the prepared body when known). */
export function evaluateStatement(rules: SqlRules, stmt: StatementAnalysis, target: string, prepared?: PreparedLookup): StatementDecision {
  const key = stmt.execute ? undefined : memoKey(stmt, rules.readsText);
  if (!key) return decide(rules, stmt, target, prepared);
  let byStmt = memo.get(rules);
  if (!byStmt) {
    byStmt = new WeakMap();
    memo.set(rules, byStmt);
  }
  let byTarget = byStmt.get(key);
  if (!byTarget) {
    byTarget = new Map();
    byStmt.set(key, byTarget);
  }
  let d = byTarget.get(target);
  if (!d) {
    d = decide(rules, key, target, prepared);
    byTarget.set(target, d);
  }
  return d;
}

function decide(rules: SqlRules, stmt: StatementAnalysis, target: string, prepared?: PreparedLookup): StatementDecision {
  let subject = stmt;
  let opaque = stmt.opaque;
  if (stmt.execute) {
    const body = prepared?.(stmt.execute.name);
    if (body) subject = mergeExecute(stmt, body);
    else if (rules.guarded) opaque = `EXECUTE ${stmt.execute.name} runs a prepared statement gate has not seen`;
  }
  let held: StatementDecision | undefined;
  for (const rule of rules.rules) {
    if (!ruleMatches(rule, subject, rules.searchPath)) continue;
    const decision = { decision: rule.kind, rule, reason: ruleReason(rule, target, subject) };
    if (rule.kind === 'deny') return decision;
    held ??= decision;
  }
  if (opaque && rules.opaque !== 'allow') {
    const rule: CompiledRule = { index: -1, kind: rules.opaque, source: `opaque_sql: ${rules.opaque}` };
    const other = rules.opaque === 'deny' ? 'require_approval or allow' : 'allow';
    const reason = `gate: ${rules.opaque === 'deny' ? 'denied' : 'held for approval'} on ${target}: ${opaque} (opaque_sql: ${rules.opaque}; set opaque_sql: ${other} on the target to permit it)`;
    if (rules.opaque === 'deny') return { decision: 'deny', rule, reason };
    held ??= { decision: 'require_approval', rule, reason };
  }
  const masked = rules.masking && maskingRefusal(rules.masking, subject);
  if (masked) return { decision: 'deny', rule: { index: -1, kind: 'deny', source: 'masking' }, reason: masked };
  return held ?? { decision: 'allow' };
}

// Masked data must not leave by another door: copied into a table or file, or read by SQL text gate cannot see.
function maskingRefusal(m: MaskingRules, stmt: StatementAnalysis): string | undefined {
  const copy = maskedCopyProblem(stmt, m);
  if (copy) return copy;
  if (stmt.sqlTextFunctions.length > 0)
    return `gate: ${stmt.sqlTextFunctions.join(', ')}() runs SQL text gate cannot see; refused on a target with masked columns`;
  return undefined;
}

// EXECUTE is judged by what it runs: the prepared body's tags, tables and writes, with its own text for regexes.
function mergeExecute(stmt: StatementAnalysis, body: StatementAnalysis): StatementAnalysis {
  const copies = [...body.copies];
  // CREATE TABLE x AS EXECUTE p stores the body's rows.
  if (stmt.tag === 'CREATE TABLE AS' && body.output) {
    copies.push({
      tag: stmt.tag,
      table: stmt.tables[0],
      sources: body.output.flatMap((c) => c.sources),
      wholeRows: body.output.flatMap((c) => c.wholeRows),
      unknown: body.output.some((c) => c.unknown),
    });
  }
  return {
    ...body,
    text: `${stmt.text}\n${body.text}`,
    tags: [...new Set([...stmt.tags, ...body.tags])],
    tables: [...stmt.tables, ...body.tables],
    copies,
    execute: undefined,
  };
}

function ruleReason(rule: CompiledRule, target: string, stmt: StatementAnalysis): string {
  if (rule.message) return `gate: ${rule.message}`;
  const verb = rule.kind === 'deny' ? 'denied' : 'held for approval';
  return `gate: ${stmt.tag} ${verb} on ${target} by guardrail #${rule.index + 1} (${rule.source})`;
}

export function ruleMatches(rule: CompiledRule, stmt: StatementAnalysis, searchPath: string[]): boolean {
  if (rule.re) return rule.re.test(stmt.text) || rule.re.test(normalizedText(stmt.text));
  const m = rule.match!;
  if (m.functions && !stmt.functions.some((f) => m.functions!.some((p) => functionMatches(p, f)))) return false;
  if (!m.statements && !m.tables && !m.except_tables && !m.unfiltered) return true;
  return statementActions(stmt).some((a) => actionMatches(m, a, searchPath));
}

function functionMatches(pattern: string, fn: string): boolean {
  return globMatch(pattern, fn) || (!pattern.includes('.') && globMatch(pattern, fn.split('.').at(-1)!));
}

/** Every effect of a statement that a rule can match: each write with its table, and each other tag with all tables. */
export function statementActions(stmt: StatementAnalysis): StatementAction[] {
  const actions: StatementAction[] = stmt.writes.map((w) => ({ tag: w.tag, tables: [w.table], filtered: w.filtered }));
  const writeTags = new Set(stmt.writes.map((w) => w.tag));
  for (const tag of stmt.tags) if (!writeTags.has(tag)) actions.push({ tag, tables: stmt.tables, filtered: true });
  return actions;
}

function actionMatches(m: SqlMatchConfig, a: StatementAction, searchPath: string[]): boolean {
  if (m.statements && !m.statements.some((s) => tagMatches(s, a.tag))) return false;
  if (m.unfiltered && a.filtered) return false;
  const named = (patterns: string[]) => a.tables.some((t) => patterns.some((p) => tableMatches(p, t, searchPath)));
  if (m.tables && !named(m.tables)) return false;
  // except_tables: the action is exempt only when every table it touches is excepted.
  if (m.except_tables && a.tables.length > 0 && a.tables.every((t) => t.name !== '*' && m.except_tables!.some((p) => tableMatches(p, t, searchPath, true)))) return false;
  return true;
}

/** `DROP` matches `DROP TABLE`; `ALTER SYSTEM` matches only that; case-insensitive, on word boundaries. */
export function tagMatches(pattern: string, tag: string): boolean {
  const p = pattern.trim().replace(/\s+/g, ' ').toUpperCase();
  const t = tag.toUpperCase();
  return t === p || t.startsWith(`${p} `);
}

/**
 * `name` or `schema.name`, globs allowed. An unqualified table in a statement
 * may resolve to any schema on the search path (`*`: gate does not know the
 * path); a `*` name (DROP SCHEMA) covers every table of its schema. With
 * `certain` (for exceptions), an unqualified table must match whichever
 * schema it resolves to.
 */
export function tableMatches(pattern: string, t: TableRef, searchPath: string[], certain = false): boolean {
  const dot = pattern.indexOf('.');
  const pSchema = dot >= 0 ? pattern.slice(0, dot) : undefined;
  const pName = dot >= 0 ? pattern.slice(dot + 1) : pattern;
  const nameOk = t.name === '*' || globMatch(pName, t.name);
  if (!nameOk) return false;
  if (!pSchema) return true;
  if (t.schema) return globMatch(pSchema, t.schema);
  if (pSchema === '*') return true;
  if (certain) return !searchPath.includes('*') && searchPath.every((s) => globMatch(pSchema, s));
  return searchPath.includes('*') || ['pg_catalog', ...searchPath].some((s) => globMatch(pSchema, s));
}
