/**
 * One pass over a statement's parse tree that gathers what rules need: every
 * command tag it can execute, the tables and functions it names, its writes
 * (with filtered or not), settings it changes, and why it is opaque.
 * CTE names are scoped, so `with t as (…) select * from t` does not name a
 * table `t`, while a DELETE's target is always a real table.
 */
import { type Ast, list, names, nodeOf, walk } from './ast.js';
import { isConstantTrue, evaluate } from './constant.js';
import { commandTag } from './tags.js';
import type { TableRef } from './types.js';

export interface Facts {
  tags: string[];
  tables: TableRef[];
  writes: { tag: string; table: TableRef; filtered: boolean }[];
  functions: string[];
  opaque: string[];
  sqlTextFunctions: string[];
  setting?: { name: string; value?: string };
  /** Prepared statements run by EXECUTE anywhere in the tree (EXPLAIN ANALYZE EXECUTE, CREATE TABLE AS EXECUTE). */
  executes: string[];
}

/** Settings that change where a literal ends: a change is reported so the relay can refuse or track it. */
export const READ_SETTINGS = new Set(['standard_conforming_strings', 'client_encoding', 'backslash_quote']);

/** Settings reported as `setting` too: the read settings, and search_path (which table an unqualified name is). */
const TRACKED_SETTINGS = new Set([...READ_SETTINGS, 'search_path']);

/** Functions that run SQL text (or SQL elsewhere) that gate never sees. */
const SQL_TEXT_FUNCTIONS = new Set([
  'query_to_xml',
  'query_to_xmlschema',
  'query_to_xml_and_xmlschema',
  'cursor_to_xml',
  'cursor_to_xmlschema',
  'table_to_xml',
  'table_to_xmlschema',
  'table_to_xml_and_xmlschema',
  'schema_to_xml',
  'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema',
  'database_to_xml',
  'database_to_xmlschema',
  'database_to_xml_and_xmlschema',
  'ts_stat',
  'pg_catalog.ts_stat',
]);

function runsSqlText(name: string): boolean {
  const last = name.split('.').at(-1) ?? name;
  return SQL_TEXT_FUNCTIONS.has(last) || last.startsWith('dblink');
}

export function tableOf(rv: Ast): TableRef {
  return rv.schemaname ? { schema: rv.schemaname, name: rv.relname } : { name: rv.relname };
}

export function collectFacts(root: Ast): Facts {
  const facts: Facts = { tags: [], tables: [], writes: [], functions: [], opaque: [], sqlTextFunctions: [], executes: [] };
  const top = nodeOf(root);
  if (!top) return facts;
  addTag(facts, commandTag(top[0], top[1]));
  visit(root, [], facts, true);
  return facts;
}

function addTag(f: Facts, tag: string): void {
  if (!f.tags.includes(tag)) f.tags.push(tag);
}

function addTable(f: Facts, t: TableRef): void {
  if (!f.tables.some((x) => x.name === t.name && x.schema === t.schema)) f.tables.push(t);
}

function cteNames(body: Ast): string[] {
  return list(body?.withClause?.WithClause?.ctes ?? body?.withClause?.ctes).map(
    (c: Ast) => c?.CommonTableExpr?.ctename as string,
  );
}

function visit(n: Ast, scope: string[], f: Facts, isTop = false): void {
  walk(n, (type, b) => {
    const local = cteNames(b);
    if (local.length > 0) {
      // Children see these CTE names; walk them ourselves with the wider scope.
      const inner = [...scope, ...local];
      handle(type, b, inner, f, isTop);
      for (const v of Object.values(b)) if (v && typeof v === 'object') visit(v, inner, f);
      return false;
    }
    handle(type, b, scope, f, isTop);
    isTop = false;
    return true;
  });
}

function handle(type: string, b: Ast, scope: string[], f: Facts, isTop: boolean): void {
  // A statement inside another one (EXPLAIN ANALYZE, CREATE TABLE AS, a CTE, CREATE SCHEMA … CREATE TABLE) runs too.
  if (!isTop && /Stmt$/.test(type) && (type !== 'SelectStmt' || b.intoClause)) addTag(f, commandTag(type, b));
  if (type === 'ExecuteStmt') f.executes.push(b.name);
  switch (type) {
    case 'RangeVar':
      if (!b.schemaname && scope.includes(b.relname)) return;
      addTable(f, tableOf(b));
      return;
    case 'DeleteStmt':
    case 'UpdateStmt':
      if (b.relation) {
        const table = tableOf(b.relation);
        addTable(f, table);
        const where = b.whereClause;
        const filtered = where?.CurrentOfExpr ? true : !isConstantTrue(where);
        f.writes.push({ tag: type === 'DeleteStmt' ? 'DELETE' : 'UPDATE', table, filtered });
      }
      return;
    case 'InsertStmt':
      if (b.relation) f.writes.push({ tag: 'INSERT', table: tableOf(b.relation), filtered: true });
      // ON CONFLICT DO UPDATE updates the conflicting rows.
      if (b.relation && b.onConflictClause?.action === 'ONCONFLICT_UPDATE') {
        addTag(f, 'UPDATE');
        f.writes.push({ tag: 'UPDATE', table: tableOf(b.relation), filtered: true });
      }
      return;
    case 'MergeStmt':
      mergeWrites(b, f);
      return;
    case 'TruncateStmt':
      for (const r of list(b.relations)) f.writes.push({ tag: 'TRUNCATE TABLE', table: tableOf(r.RangeVar), filtered: false });
      return;
    case 'CopyStmt':
      if (b.relation && b.is_from) f.writes.push({ tag: 'COPY', table: tableOf(b.relation), filtered: true });
      addTag(f, b.is_from ? 'COPY FROM' : 'COPY TO');
      if (b.is_program) f.opaque.push('COPY … PROGRAM runs a shell command on the database server, which gate cannot see');
      return;
    case 'DropStmt':
      dropTargets(b, f);
      return;
    case 'FuncCall':
      funcCall(b, f);
      return;
    case 'CallStmt':
      // The call's FuncCall is stored without its node wrapper.
      if (b.funccall) funcCall(b.funccall, f);
      return;
    case 'AlterRoleSetStmt':
    case 'AlterDatabaseSetStmt':
    case 'AlterSystemStmt':
      // The SET inside is this statement's setting, not a statement of its own.
      if (b.setstmt) handle('VariableSetStmt', b.setstmt, scope, f, true);
      return;
    case 'VariableSetStmt':
      if (b.kind === 'VAR_RESET_ALL') f.setting = { name: 'all' };
      else if (TRACKED_SETTINGS.has(String(b.name ?? '').toLowerCase()))
        f.setting = { name: String(b.name).toLowerCase(), value: settingValue(b.args) };
      return;
    case 'DiscardStmt':
      if (b.target === 'DISCARD_ALL') f.setting = { name: 'all' };
      return;
    case 'RuleStmt':
      for (const a of list(b.actions)) {
        const node = nodeOf(a);
        if (node) addTag(f, commandTag(node[0], node[1]));
      }
      f.opaque.push('CREATE RULE rewrites later statements on the table, which gate cannot see when they run');
      return;
    case 'DoStmt':
      f.opaque.push('a DO block runs procedural code (and possibly dynamic SQL) that gate cannot see');
      return;
    case 'CreateFunctionStmt':
      f.opaque.push(
        `CREATE ${b.is_procedure ? 'PROCEDURE' : 'FUNCTION'} defines code whose statements run later, out of gate's sight`,
      );
      return;
    case 'CreateTrigStmt':
    case 'CreateEventTrigStmt':
      f.opaque.push('a trigger runs a function on later statements, which gate cannot see');
      return;
    default:
      return;
  }
}

function mergeWrites(b: Ast, f: Facts): void {
  const table = tableOf(b.relation);
  addTable(f, table);
  const joinTrue = isConstantTrue(b.joinCondition);
  for (const w of list(b.mergeWhenClauses)) {
    const c = w.MergeWhenClause;
    const tag = { CMD_DELETE: 'DELETE', CMD_UPDATE: 'UPDATE', CMD_INSERT: 'INSERT' }[c?.commandType as string];
    if (!tag) continue;
    addTag(f, tag);
    const filtered = tag === 'INSERT' || !(joinTrue && isConstantTrue(c.condition));
    f.writes.push({ tag, table, filtered });
  }
}

const TABLE_LIKE = new Set([
  'OBJECT_TABLE',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_INDEX',
  'OBJECT_SEQUENCE',
  'OBJECT_FOREIGN_TABLE',
]);

function dropTargets(b: Ast, f: Facts): void {
  for (const o of list(b.objects)) {
    if (TABLE_LIKE.has(b.removeType)) {
      const parts = names(o?.List?.items);
      const name = parts.at(-1);
      if (name) addTable(f, parts.length > 1 ? { schema: parts.at(-2), name } : { name });
    } else if (b.removeType === 'OBJECT_SCHEMA' && o?.String) {
      // Dropping a schema drops every table in it.
      addTable(f, { schema: String(o.String.sval), name: '*' });
    }
  }
}

function funcCall(b: Ast, f: Facts): void {
  const name = names(b.funcname).join('.').toLowerCase();
  const bare = name.replace(/^pg_catalog\./, '');
  if (!f.functions.includes(bare)) f.functions.push(bare);
  if (name !== bare && !f.functions.includes(name)) f.functions.push(name);
  if (runsSqlText(bare)) {
    if (!f.sqlTextFunctions.includes(bare)) f.sqlTextFunctions.push(bare);
    f.opaque.push(`${bare}() runs SQL text (or SQL elsewhere) that gate cannot see`);
  }
  if (bare === 'set_config') {
    const first = list(b.args)[0];
    const v = evaluate(first);
    const setting = typeof v === 'string' ? v.toLowerCase() : '?';
    if (setting === '?' || TRACKED_SETTINGS.has(setting)) {
      const value = evaluate(list(b.args)[1]);
      f.setting = { name: setting, value: typeof value === 'string' ? value : undefined };
    }
  }
}

// SET x TO a, b (search_path) has several values; DEFAULT has none.
function settingValue(args: Ast): string | undefined {
  const values = list(args).map((a) => evaluate(a));
  if (values.length === 0 || values.some((v) => v === undefined || v === null)) return undefined;
  return values.map(String).join(', ');
}
