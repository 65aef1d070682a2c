/**
 * gate's one SQL analysis: PostgreSQL's own parser splits a query into
 * statements and gate reads each one's parse tree (tags, tables, writes,
 * functions, opacity, lineage). Results are cached by (text, read options),
 * so a repeated statement costs one Map lookup.
 */
import { type Ast, list, nodeOf, walk } from './ast.js';
import { LruCache } from './cache.js';
import { collectFacts, tableOf } from './collect.js';
import { statementCopies, statementOutput, viewColumns } from './lineage.js';
import { fingerprint, parse, scan } from './parser.js';
import { commandTag } from './tags.js';
import { readOptionsProblem } from './read-options.js';
import { ShapeCache } from './shape-cache.js';
import type { DataCopy, QueryAnalysis, SqlReadOptions, StatementAnalysis } from './types.js';

const DEFAULT_OPTIONS: SqlReadOptions = { standardConformingStrings: true, clientEncoding: 'UTF8' };
const CACHE_ENTRIES = 2000;
// Very long texts (bulk INSERTs) are analysed every time rather than pinned in memory.
const CACHE_MAX_TEXT = 32 * 1024;
const cache = new LruCache<string, QueryAnalysis>(CACHE_ENTRIES);
/** The statements of the analyses `cache` has held: the objects a later lookup can return again. */
const cached = new WeakSet<StatementAnalysis>();
// Statements that differ only in integer constants share one analysis (see shape-cache.ts).
const shapes = new ShapeCache(CACHE_ENTRIES);

/**
 * Splits and analyses `text` as PostgreSQL reads it under `opts`. Synchronous;
 * `loadSqlParser()` must have resolved. A parse error comes back as
 * `{ ok: false, error }` with PostgreSQL's own message: the server would refuse
 * the text too, and a guarded target refuses it without sending it.
 */
export function analyzeQuery(text: string, opts: Partial<SqlReadOptions> = {}): QueryAnalysis {
  // The relay passes complete options (the same object for a session's every statement): no copy.
  const options = opts.standardConformingStrings !== undefined && opts.clientEncoding !== undefined ? (opts as SqlReadOptions) : { ...DEFAULT_OPTIONS, ...opts };
  const prefix = keyPrefix(options);
  const key = prefix + text;
  const hit = cache.get(key);
  if (hit) return hit;
  const shapeKey = shapes.key(prefix, text, CACHE_MAX_TEXT);
  if (shapeKey !== undefined) {
    const shaped = shapes.get(shapeKey, text);
    // Not kept by exact text: one shape's many constants would push every other statement out.
    if (shaped) return { ok: true, statements: [shaped] };
  }
  const result = analyzeUncached(text, options);
  if (text.length <= CACHE_MAX_TEXT) {
    cache.set(key, result);
    if (result.ok) for (const s of result.statements) cached.add(s);
  }
  if (shapeKey !== undefined) shapes.learn(shapeKey, text, result.ok ? result.statements : []);
  return result;
}

/** The cache key's read-options part. */
function keyPrefix(o: SqlReadOptions): string {
  if (o.standardConformingStrings && o.clientEncoding === 'UTF8') return '1|UTF8|';
  return `${o.standardConformingStrings ? 1 : 0}|${o.clientEncoding.toUpperCase()}|`;
}

/**
 * What stands for `stmt` where a result derived from its analysis is
 * remembered (rules.ts's decisions, the audit's summary): the statement itself
 * when the exact-text cache holds it (the same object comes back), or, for a
 * shape's copy, the shape's analysis, unless what is remembered depends on the
 * text (the copies differ only there). Undefined for a statement analysed
 * once: an entry for it would never be read again.
 */
export function memoKey(stmt: StatementAnalysis, dependsOnText = false): StatementAnalysis | undefined {
  if (cached.has(stmt)) return stmt;
  return dependsOnText ? undefined : stmt.shape;
}

/** Empties the analysis cache (tests, benchmarks). */
export function clearAnalysisCache(): void {
  cache.clear();
  shapes.clear();
}

function analyzeUncached(text: string, options: SqlReadOptions): QueryAnalysis {
  const problem = readOptionsProblem(options);
  if (problem) return { ok: false, error: problem };
  const parsed = parse(text);
  if ('message' in parsed) {
    // An empty query is no statement at all (the server answers EmptyQueryResponse), not an error.
    if (parsed.message === 'Query cannot be empty') return { ok: true, statements: [] };
    return { ok: false, error: parsed.message, position: parsed.position };
  }
  const bytes = Buffer.from(text, 'utf8');
  const ascii = bytes.length === text.length;
  const statements: StatementAnalysis[] = [];
  for (const raw of list(parsed.stmts)) {
    // stmt_location / stmt_len are byte offsets into the UTF-8 text; a last statement has no length.
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? start + raw.stmt_len : bytes.length;
    const slice = ascii ? text.slice(start, end) : bytes.subarray(start, end).toString('utf8');
    statements.push(analyzeSafely(raw.stmt, slice.trim()));
  }
  return { ok: true, statements };
}

/**
 * A parse tree shape this module does not expect must not take the relay
 * down, nor pass unexamined: it becomes an opaque statement (denied by
 * default on a guarded target).
 */
function analyzeSafely(stmt: Ast, text: string): StatementAnalysis {
  try {
    return analyzeStatement(stmt, text);
  } catch (err) {
    const node = nodeOf(stmt);
    let tag = 'UNKNOWN';
    try {
      tag = node ? commandTag(node[0], node[1]) : tag;
    } catch {
      // keep UNKNOWN
    }
    return {
      text,
      tag,
      tags: [tag],
      tables: [],
      writes: [],
      filtered: false,
      functions: [],
      opaque: `gate could not analyse this ${tag} statement (${(err as Error).message})`,
      fingerprint: fingerprint(text),
      copies: [],
      sqlTextFunctions: [],
    };
  }
}

function analyzeStatement(stmt: Ast, text: string): StatementAnalysis {
  const node = nodeOf(stmt);
  const facts = collectFacts(stmt);
  const writes = facts.writes;
  const analysis: StatementAnalysis = {
    text,
    tag: facts.tags[0] ?? 'UNKNOWN',
    tags: facts.tags,
    tables: facts.tables,
    writes,
    filtered: writes.every((w) => w.filtered || w.tag === 'INSERT' || w.tag === 'COPY'),
    functions: facts.functions,
    fingerprint: fingerprint(text),
    copies: node ? nestedCopies(stmt) : [],
    sqlTextFunctions: facts.sqlTextFunctions,
    // Only a shape's copy has one; present (undefined) here so that a copy has the same hidden class as its shape.
    shape: undefined,
  };
  if (facts.opaque.length > 0) analysis.opaque = [...new Set(facts.opaque)].join('; ');
  if (facts.setting) analysis.setting = facts.setting;
  if (facts.executes.length > 0) analysis.execute = { name: facts.executes[0]! };
  if (!node) return analysis;
  const [type, b] = node;
  const output = statementOutput(type, b);
  if (output) analysis.output = output;
  if (type === 'PrepareStmt') {
    const body = analyzeStatement(b.query, prepareBody(text));
    analysis.prepare = { name: b.name, body };
    // The body is what EXECUTE will run: its opacity belongs to the PREPARE too (its copies are already in).
    if (body.opaque) analysis.opaque ??= body.opaque;
  } else if (type === 'DeallocateStmt') analysis.deallocate = b.isall || !b.name ? {} : { name: b.name };
  else if (type === 'DiscardStmt' && b.target === 'DISCARD_ALL') analysis.deallocate = {};
  else if (type === 'DeclareCursorStmt') {
    const q = nodeOf(b.query);
    analysis.cursor = { name: b.portalname, output: q ? statementOutput(q[0], q[1]) : undefined };
  } else if (type === 'FetchStmt' && b.portalname) analysis.fetch = { name: b.portalname };
  else if (type === 'ViewStmt') analysis.view = { table: tableOf(b.view), columns: viewColumns(b) };
  return analysis;
}

// Every statement in the tree that writes data it computed (INSERT … SELECT in a CTE, too).
function nestedCopies(stmt: Ast): DataCopy[] {
  const out: DataCopy[] = [];
  walk(stmt, (type, b) => {
    out.push(...statementCopies(type, b));
    return true;
  });
  return out;
}

/** The text after PREPARE name [(types)] AS: found with the scanner, so comments and quotes cannot confuse it. */
function prepareBody(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  let depth = 0;
  for (const t of scan(text)) {
    const word = bytes.subarray(t.start, t.end).toString('utf8');
    if (word === '(') depth++;
    else if (word === ')') depth--;
    else if (depth === 0 && word.toLowerCase() === 'as') return bytes.subarray(t.end).toString('utf8').trim();
  }
  return text;
}
