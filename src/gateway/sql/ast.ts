/**
 * Helpers over libpg-query's JSON parse tree. The tree is PostgreSQL's own
 * raw parse tree as JSON: every node is `{ NodeType: { …fields } }`, and
 * protobuf defaults are left out (`{ boolval: {} }` is false, a missing list is
 * empty), which these helpers paper over.
 */

// The parse tree is untyped JSON from the parser; one loose alias keeps the walkers readable.
// biome-ignore lint/suspicious/noExplicitAny: JSON parse tree
export type Ast = any;

/** `{ SelectStmt: {...} }` → `['SelectStmt', {...}]`; undefined for non-nodes. */
export function nodeOf(n: Ast): [string, Ast] | undefined {
  if (!n || typeof n !== 'object' || Array.isArray(n)) return undefined;
  const keys = Object.keys(n);
  if (keys.length !== 1) return undefined;
  const k = keys[0]!;
  if (!/^[A-Z]/.test(k)) return undefined;
  return [k, n[k]];
}

export function list(x: Ast): Ast[] {
  return Array.isArray(x) ? x : [];
}

/** The string values of a `[{String:{sval}}]` name list (A_Star → `*`). */
export function names(x: Ast): string[] {
  return list(x).map((item) => {
    if (item?.String) return String(item.String.sval ?? '');
    if (item?.A_Star) return '*';
    return '';
  });
}

/** Visits every node below `n` (depth first, `n` included); `visit` returning false skips the children. */
export function walk(n: Ast, visit: (type: string, body: Ast) => boolean | undefined): void {
  if (!n || typeof n !== 'object') return;
  if (Array.isArray(n)) {
    for (const item of n) walk(item, visit);
    return;
  }
  const node = nodeOf(n);
  if (node) {
    if (visit(node[0], node[1]) === false) return;
    walkFields(node[1], visit);
    return;
  }
  // Statement fields such as DeleteStmt.relation hold a RangeVar's body without its wrapper.
  if (isBareRangeVar(n) && visit('RangeVar', n) === false) return;
  walkFields(n, visit);
}

function walkFields(body: Ast, visit: (type: string, body: Ast) => boolean | undefined): void {
  if (!body || typeof body !== 'object') return;
  for (const v of Object.values(body)) if (v && typeof v === 'object') walk(v, visit);
}

/** A RangeVar body found without its `{ RangeVar: … }` wrapper. */
export function isBareRangeVar(x: Ast): boolean {
  return !!x && typeof x === 'object' && typeof x.relname === 'string' && 'relpersistence' in x;
}

/** A RangeVar, wrapped or bare, as its body. */
export function rangeVar(x: Ast): Ast | undefined {
  if (x?.RangeVar) return x.RangeVar;
  return isBareRangeVar(x) ? x : undefined;
}
