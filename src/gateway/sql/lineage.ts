/**
 * Column lineage from the parse tree, for masking: for each output column of
 * a statement, the table columns (and whole rows) its value is computed from.
 * Aliases are resolved to the FROM items they name, unqualified columns to
 * every FROM item that could hold them (gate has no catalog here, so an
 * ambiguous name counts for each table), through expressions, aggregates,
 * scalar subqueries, CTEs, subqueries in FROM and set operations.
 */
import { type Ast, list, names, nodeOf, rangeVar } from './ast.js';
import { tableOf } from './collect.js';
import type { DataCopy, OutputColumn, TableRef } from './types.js';

/** A FROM item as a name in scope: a base table (columns unknown) or a derived one (columns known). */
type Rel =
  | { kind: 'table'; alias: string; table: TableRef }
  | { kind: 'derived'; alias: string; columns: OutputColumn[]; any?: OutputColumn };

interface Scope {
  rels: Rel[];
  ctes: Map<string, OutputColumn[]>;
  parent?: Scope;
}

function empty(name = '?column?'): OutputColumn {
  return { name, sources: [], wholeRows: [], unknown: false };
}

function merge(into: OutputColumn, from: OutputColumn): void {
  for (const s of from.sources) {
    if (!into.sources.some((x) => x.column === s.column && sameTable(x.table, s.table))) into.sources.push(s);
  }
  for (const t of from.wholeRows) if (!into.wholeRows.some((x) => sameTable(x, t))) into.wholeRows.push(t);
  into.unknown ||= from.unknown;
}

function sameTable(a?: TableRef, b?: TableRef): boolean {
  return a?.name === b?.name && a?.schema === b?.schema;
}

function findCte(scope: Scope | undefined, name: string): OutputColumn[] | undefined {
  for (let s = scope; s; s = s.parent) {
    const c = s.ctes.get(name);
    if (c) return c;
  }
  return undefined;
}

/** Output columns of any statement that returns rows; undefined when it returns none. */
export function statementOutput(type: string, b: Ast): OutputColumn[] | undefined {
  const root: Scope = { rels: [], ctes: new Map() };
  switch (type) {
    case 'SelectStmt':
      return b.intoClause ? undefined : selectOutput(b, root);
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      return returningOutput(b, withCtes(b, root));
    case 'CopyStmt':
      if (b.is_from) return undefined;
      if (b.query) return queryOutput(b.query, root);
      return copyTableOutput(b);
    case 'ExecuteStmt':
    case 'FetchStmt':
      return undefined;
    default:
      return undefined;
  }
}

function copyTableOutput(b: Ast): OutputColumn[] {
  const table = tableOf(b.relation);
  const cols = names(b.attlist?.map((x: Ast) => x) ?? []);
  if (cols.length > 0) return cols.map((c) => ({ name: c, sources: [{ table, column: c }], wholeRows: [], unknown: false }));
  return [{ name: '*', sources: [], wholeRows: [table], unknown: false, star: { table } }];
}

/** Output of a nested query node (SELECT, or DML with RETURNING in a CTE / COPY). */
function queryOutput(q: Ast, scope: Scope): OutputColumn[] {
  const node = nodeOf(q);
  if (!node) return [];
  if (node[0] === 'SelectStmt') return selectOutput(node[1], scope);
  return returningOutput(node[1], withCtes(node[1], { rels: [], ctes: new Map(), parent: scope })) ?? [];
}

function withCtes(b: Ast, parent: Scope): Scope {
  const scope: Scope = { rels: [], ctes: new Map(), parent };
  const w = b.withClause?.WithClause ?? b.withClause;
  for (const c of list(w?.ctes)) {
    const cte = c.CommonTableExpr;
    if (!cte) continue;
    // A recursive CTE refers to itself: a second pass sees the first pass's columns.
    if (w.recursive) scope.ctes.set(cte.ctename, queryOutput(cte.ctequery, scope));
    let cols = queryOutput(cte.ctequery, scope);
    const aliases = names(cte.aliascolnames);
    if (aliases.length > 0) cols = cols.map((col, i) => ({ ...col, name: aliases[i] ?? col.name }));
    scope.ctes.set(cte.ctename, cols);
  }
  return scope;
}

function returningOutput(b: Ast, scope: Scope): OutputColumn[] | undefined {
  const ret = list(b.returningClause?.exprs ?? b.returningList);
  if (ret.length === 0) return undefined;
  const rv = rangeVar(b.relation);
  if (rv) scope.rels.push(tableRel(rv, scope));
  return targetList(ret, scope);
}

export function selectOutput(sel: Ast, parent: Scope): OutputColumn[] {
  const scope = withCtes(sel, parent);
  if (sel.op && sel.op !== 'SETOP_NONE') {
    const l = selectOutput(sel.larg, scope);
    const r = selectOutput(sel.rarg, scope);
    return l.map((col, i) => {
      const out = { ...col, sources: [...col.sources], wholeRows: [...col.wholeRows] };
      if (r[i]) merge(out, r[i]);
      return out;
    });
  }
  if (sel.valuesLists) {
    const rows = list(sel.valuesLists).map((r: Ast) => list(r?.List?.items));
    const width = Math.max(0, ...rows.map((r) => r.length));
    return Array.from({ length: width }, (_, i) => {
      const out = empty(`column${i + 1}`);
      for (const r of rows) if (r[i]) merge(out, exprLineage(r[i], scope));
      return out;
    });
  }
  for (const item of list(sel.fromClause)) addFromItem(item, scope);
  return targetList(list(sel.targetList), scope);
}

function tableRel(rv: Ast, scope: Scope): Rel {
  const alias = rv.alias?.aliasname ?? rv.relname;
  const cte = rv.schemaname ? undefined : findCte(scope, rv.relname);
  if (cte) return { kind: 'derived', alias, columns: renameCols(cte, rv.alias) };
  return { kind: 'table', alias, table: tableOf(rv) };
}

function renameCols(cols: OutputColumn[], alias: Ast): OutputColumn[] {
  const colnames = names(alias?.colnames);
  return colnames.length === 0 ? cols : cols.map((c, i) => ({ ...c, name: colnames[i] ?? c.name }));
}

function addFromItem(item: Ast, scope: Scope): void {
  const node = nodeOf(item);
  if (!node) return;
  const [type, b] = node;
  if (type === 'RangeVar') scope.rels.push(tableRel(b, scope));
  else if (type === 'JoinExpr') {
    addFromItem(b.larg, scope);
    addFromItem(b.rarg, scope);
  } else if (type === 'RangeSubselect') {
    // LATERAL subqueries see the FROM items before them; others only the outer query.
    const inner: Scope = b.lateral ? { rels: [...scope.rels], ctes: new Map(), parent: scope.parent } : { rels: [], ctes: new Map(), parent: scope.parent };
    inner.ctes = scope.ctes;
    const cols = renameCols(queryOutput(b.subquery, inner), b.alias);
    scope.rels.push({ kind: 'derived', alias: b.alias?.aliasname ?? '', columns: cols });
  } else {
    // Functions, XMLTABLE, JSON_TABLE in FROM: every column comes from their arguments.
    const any = exprLineage(b, scope);
    any.name = b.alias?.aliasname ?? '?column?';
    scope.rels.push({ kind: 'derived', alias: b.alias?.aliasname ?? '', columns: [], any });
  }
}

function targetList(items: Ast[], scope: Scope): OutputColumn[] {
  const out: OutputColumn[] = [];
  for (const item of items) {
    const rt = item?.ResTarget;
    if (!rt) continue;
    const fields = rt.val?.ColumnRef?.fields;
    if (fields && list(fields).at(-1)?.A_Star) {
      out.push(...expandStar(names(fields).slice(0, -1), scope));
      continue;
    }
    const col = exprLineage(rt.val, scope);
    col.name = rt.name ?? defaultName(rt.val);
    out.push(col);
  }
  return out;
}

function defaultName(val: Ast): string {
  const node = nodeOf(val);
  if (!node) return '?column?';
  const [type, b] = node;
  if (type === 'ColumnRef') return names(b.fields).at(-1) ?? '?column?';
  if (type === 'FuncCall') return names(b.funcname).at(-1) ?? '?column?';
  if (type === 'CoalesceExpr') return 'coalesce';
  if (type === 'CaseExpr') return 'case';
  if (type === 'MinMaxExpr') return b.op === 'IS_LEAST' ? 'least' : 'greatest';
  if (type === 'NullIfExpr' || (type === 'A_Expr' && b.kind === 'AEXPR_NULLIF')) return 'nullif';
  if (type === 'A_ArrayExpr') return 'array';
  if (type === 'RowExpr') return 'row';
  if (type === 'TypeCast') return defaultName(b.arg) === '?column?' ? (names(b.typeName?.names).at(-1) ?? '?column?') : defaultName(b.arg);
  return '?column?';
}

function expandStar(qualifier: string[], scope: Scope): OutputColumn[] {
  const rels = qualifier.length === 0 ? scope.rels : findRels(qualifier, scope);
  if (qualifier.length > 0 && rels.length === 0) return [{ ...empty('*'), unknown: true, star: {} }];
  const out: OutputColumn[] = [];
  for (const rel of rels) {
    if (rel.kind === 'table') out.push({ name: '*', sources: [], wholeRows: [rel.table], unknown: false, star: { table: rel.table } });
    else if (rel.any) out.push({ ...rel.any, name: '*', star: {} });
    else out.push(...rel.columns.map((c) => ({ ...c })));
  }
  return out;
}

/** FROM items a qualifier names: `alias`, `table`, or `schema.table`. */
function findRels(q: string[], scope: Scope | undefined): Rel[] {
  for (let s = scope; s; s = s.parent) {
    const hits = s.rels.filter((r) =>
      q.length === 1 ? r.alias === q[0] : r.kind === 'table' && r.table.name === q[1] && r.table.schema === q[0],
    );
    if (hits.length > 0) return hits;
  }
  return [];
}

/** Everything an expression's value is computed from. */
export function exprLineage(expr: Ast, scope: Scope): OutputColumn {
  const out = empty();
  visitExpr(expr, scope, out);
  return out;
}

function visitExpr(n: Ast, scope: Scope, out: OutputColumn): void {
  if (!n || typeof n !== 'object') return;
  if (Array.isArray(n)) {
    for (const x of n) visitExpr(x, scope, out);
    return;
  }
  const node = nodeOf(n);
  if (node?.[0] === 'ColumnRef') {
    columnRef(names(node[1].fields), scope, out);
    return;
  }
  if (node?.[0] === 'SubLink') {
    visitExpr(node[1].testexpr, scope, out);
    for (const c of queryOutput(node[1].subselect, { rels: [], ctes: new Map(), parent: scope })) merge(out, c);
    return;
  }
  if (node?.[0] === 'SelectStmt') {
    for (const c of selectOutput(node[1], scope)) merge(out, c);
    return;
  }
  for (const v of Object.values(node ? node[1] : n)) if (v && typeof v === 'object') visitExpr(v, scope, out);
}

function columnRef(f: string[], scope: Scope, out: OutputColumn): void {
  const last = f.at(-1)!;
  if (last === '*') {
    for (const c of expandStar(f.slice(0, -1), scope)) {
      merge(out, c);
      if (c.star?.table && !out.wholeRows.some((t) => sameTable(t, c.star?.table))) out.wholeRows.push(c.star.table);
    }
    return;
  }
  if (f.length === 1) {
    unqualified(last, scope, out);
    return;
  }
  const rels = findRels(f.slice(0, -1), scope);
  if (rels.length === 0) {
    out.unknown = true;
    return;
  }
  for (const rel of rels) fromRel(rel, last, out);
}

function fromRel(rel: Rel, column: string, out: OutputColumn): boolean {
  if (rel.kind === 'table') {
    merge(out, { ...empty(), sources: [{ table: rel.table, column }] });
    return true;
  }
  const hit = rel.columns.find((c) => c.name === column);
  if (hit) {
    merge(out, hit);
    return true;
  }
  // A derived relation whose columns come from a star or a function: any name may be one of them.
  const stars = rel.columns.filter((c) => c.star);
  for (const s of stars) {
    merge(out, s);
    if (s.star?.table) merge(out, { ...empty(), sources: [{ table: s.star.table, column }] });
  }
  if (rel.any) merge(out, rel.any);
  return stars.length > 0 || !!rel.any;
}

function unqualified(name: string, scope: Scope, out: OutputColumn): void {
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    let found = false;
    for (const rel of s.rels) {
      if (rel.kind === 'derived' && !rel.columns.some((c) => c.name === name) && !rel.any && !rel.columns.some((c) => c.star)) continue;
      found = fromRel(rel, name, out) || found;
    }
    // A bare name that is also a FROM item's alias may be the whole row (`select c from customers c`).
    for (const rel of s.rels) {
      if (rel.alias !== name) continue;
      if (rel.kind === 'table') out.wholeRows.push(rel.table);
      else for (const c of rel.columns) merge(out, c);
      found = true;
    }
    if (found) return;
  }
}

/** The columns of `CREATE VIEW name [(names)] AS query`, named as the view will name them. */
export function viewColumns(b: Ast): OutputColumn[] {
  const root: Scope = { rels: [], ctes: new Map() };
  const cols = queryOutput(b.query, root);
  const aliases = names(b.aliases);
  return aliases.length === 0 ? cols : cols.map((c, i) => ({ ...c, name: aliases[i] ?? c.name }));
}

/** Data a statement writes into a table or a server file, with its lineage. */
export function statementCopies(type: string, b: Ast): DataCopy[] {
  const root: Scope = { rels: [], ctes: new Map() };
  const copy = (tag: string, table: TableRef | undefined, cols: OutputColumn[]): DataCopy => {
    const all = empty();
    for (const c of cols) merge(all, c);
    return { tag, table, sources: all.sources, wholeRows: all.wholeRows, unknown: all.unknown };
  };
  switch (type) {
    case 'InsertStmt': {
      const scope = withCtes(b, root);
      return b.selectStmt ? [copy('INSERT', tableOf(b.relation), queryOutput(b.selectStmt, scope))] : [];
    }
    case 'UpdateStmt': {
      const scope = withCtes(b, root);
      scope.rels.push(tableRel(rangeVar(b.relation), scope));
      for (const item of list(b.fromClause)) addFromItem(item, scope);
      const cols = list(b.targetList).map((t: Ast) => exprLineage(t?.ResTarget?.val, scope));
      return [copy('UPDATE', tableOf(b.relation), cols)];
    }
    case 'MergeStmt': {
      const scope = withCtes(b, root);
      scope.rels.push(tableRel(rangeVar(b.relation), scope));
      addFromItem(b.sourceRelation, scope);
      const cols = list(b.mergeWhenClauses).flatMap((w: Ast) => [
        ...list(w?.MergeWhenClause?.targetList).map((t: Ast) => exprLineage(t?.ResTarget?.val, scope)),
        ...list(w?.MergeWhenClause?.values).map((v: Ast) => exprLineage(v, scope)),
      ]);
      return [copy('MERGE', tableOf(b.relation), cols)];
    }
    case 'CreateTableAsStmt':
      return [copy(b.objtype === 'OBJECT_MATVIEW' ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE AS', tableOf(b.into?.rel), queryOutput(b.query, root))];
    case 'SelectStmt':
      return b.intoClause ? [copy('SELECT INTO', tableOf(b.intoClause.rel), selectOutput({ ...b, intoClause: undefined }, root))] : [];
    case 'CopyStmt':
      if (b.is_from || (!b.filename && !b.is_program)) return [];
      return [copy('COPY TO', undefined, statementOutput('CopyStmt', b) ?? [])];
    default:
      return [];
  }
}
