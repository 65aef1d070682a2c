/**
 * Constant folding of WHERE clauses, enough to tell that `true`, `1=1`,
 * `'a'='a'`, `x or true`, `not false`, `(select true)` always hold. Values
 * follow SQL's three-valued logic: `null` is SQL NULL, `undefined` means "not
 * a constant" (depends on the rows). This catches the reworded "no WHERE";
 * a tautology over columns (`id = id`) is not constant and counts as filtered.
 */
import { type Ast, list, names, nodeOf } from './ast.js';

type Value = boolean | number | string | null | undefined;

/** True when the expression is constant true (or absent: no WHERE at all). */
export function isConstantTrue(expr: Ast): boolean {
  if (expr === undefined || expr === null) return true;
  return evaluate(expr) === true;
}

export function evaluate(expr: Ast): Value {
  const node = nodeOf(expr);
  if (!node) return undefined;
  const [type, b] = node;
  switch (type) {
    case 'A_Const':
      return constValue(b);
    case 'TypeCast':
      return cast(evaluate(b.arg), names(b.typeName?.names).at(-1) ?? '');
    case 'BoolExpr':
      return boolExpr(b.boolop, list(b.args).map(evaluate));
    case 'A_Expr':
      return aExpr(b);
    case 'NullTest': {
      const v = evaluate(b.arg);
      if (v === undefined) return undefined;
      return b.nulltesttype === 'IS_NOT_NULL' ? v !== null : v === null;
    }
    case 'BooleanTest':
      return booleanTest(b.booltesttype, evaluate(b.arg));
    case 'SubLink':
      return subLink(b);
    case 'CoalesceExpr': {
      for (const a of list(b.args)) {
        const v = evaluate(a);
        if (v === undefined) return undefined;
        if (v !== null) return v;
      }
      return null;
    }
    default:
      return undefined;
  }
}

function constValue(b: Ast): Value {
  if (b.isnull) return null;
  if ('boolval' in b) return b.boolval?.boolval === true;
  if ('ival' in b) return Number(b.ival?.ival ?? 0);
  if ('fval' in b) return Number(b.fval?.fval ?? 0);
  if ('sval' in b) return String(b.sval?.sval ?? '');
  return undefined;
}

const TRUE_WORDS = new Set(['t', 'tr', 'tru', 'true', 'y', 'ye', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['f', 'fa', 'fal', 'fals', 'false', 'n', 'no', 'of', 'off', '0']);

function cast(v: Value, type: string): Value {
  if (v === undefined || v === null) return v;
  if (type === 'bool' || type === 'boolean') {
    if (typeof v === 'boolean') return v;
    const s = String(v).trim().toLowerCase();
    if (TRUE_WORDS.has(s)) return true;
    if (FALSE_WORDS.has(s)) return false;
    return undefined;
  }
  if (/^(int[248]?|integer|smallint|bigint|numeric|float[48]|real|decimal)$/.test(type)) {
    if (typeof v === 'boolean') return type.startsWith('int') ? Number(v) : undefined;
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  if (/^(text|varchar|bpchar|name|char)$/.test(type)) return String(v);
  return undefined;
}

function boolExpr(op: string, args: Value[]): Value {
  const bools = args.map((a) => (typeof a === 'boolean' || a === null || a === undefined ? a : undefined));
  if (op === 'NOT_EXPR') {
    const v = bools[0];
    return typeof v === 'boolean' ? !v : v;
  }
  if (op === 'AND_EXPR') {
    if (bools.some((v) => v === false)) return false;
    if (bools.some((v) => v === undefined)) return undefined;
    return bools.some((v) => v === null) ? null : true;
  }
  if (bools.some((v) => v === true)) return true;
  if (bools.some((v) => v === undefined)) return undefined;
  return bools.some((v) => v === null) ? null : false;
}

function aExpr(b: Ast): Value {
  const op = names(b.name).at(-1) ?? '';
  const l = evaluate(b.lexpr);
  if (b.kind === 'AEXPR_IN') {
    const items = list(b.rexpr?.List?.items ?? b.rexpr).map(evaluate);
    if (l === undefined || items.some((v) => v === undefined)) return undefined;
    const hit = items.some((v) => v !== null && l !== null && compare('=', l, v));
    return op === '<>' ? !hit : hit;
  }
  const r = evaluate(b.rexpr);
  if (l === undefined || r === undefined) return undefined;
  if (b.kind === 'AEXPR_DISTINCT') return !sameValue(l, r);
  if (b.kind === 'AEXPR_NOT_DISTINCT') return sameValue(l, r);
  if (b.kind !== 'AEXPR_OP') return undefined;
  if (l === null || r === null) return null;
  if (['+', '-', '*', '/', '%'].includes(op)) return arithmetic(op, l, r);
  return compare(op, l, r);
}

function sameValue(l: Value, r: Value): boolean {
  return l === r || (l !== null && r !== null && compare('=', l, r) === true);
}

function arithmetic(op: string, l: Value, r: Value): Value {
  const a = Number(l);
  const c = Number(r);
  if (!Number.isFinite(a) || !Number.isFinite(c)) return undefined;
  if (op === '+') return a + c;
  if (op === '-') return a - c;
  if (op === '*') return a * c;
  if (c === 0) return undefined;
  return op === '/' ? a / c : a % c;
}

function compare(op: string, l: Value, r: Value): Value {
  // Same-kind comparisons only: an untyped literal against a number is coerced the way PostgreSQL would.
  let a: string | number | boolean = l as string | number | boolean;
  let c: string | number | boolean = r as string | number | boolean;
  if (typeof a !== typeof c) {
    if (typeof a === 'number' || typeof c === 'number') {
      a = Number(a);
      c = Number(c);
      if (!Number.isFinite(a) || !Number.isFinite(c)) return undefined;
    } else return undefined;
  }
  switch (op) {
    case '=':
      return a === c;
    case '<>':
    case '!=':
      return a !== c;
    case '<':
      return a < c;
    case '>':
      return a > c;
    case '<=':
      return a <= c;
    case '>=':
      return a >= c;
    default:
      return undefined;
  }
}

function booleanTest(kind: string, v: Value): Value {
  if (v === undefined) return undefined;
  switch (kind) {
    case 'IS_TRUE':
      return v === true;
    case 'IS_NOT_TRUE':
      return v !== true;
    case 'IS_FALSE':
      return v === false;
    case 'IS_NOT_FALSE':
      return v !== false;
    case 'IS_UNKNOWN':
      return v === null;
    case 'IS_NOT_UNKNOWN':
      return v !== null;
    default:
      return undefined;
  }
}

// `exists (select 1)` and `(select true)`: a subquery with no FROM and no WHERE is a constant.
function subLink(b: Ast): Value {
  const sel = b.subselect?.SelectStmt;
  if (!sel || sel.fromClause || sel.whereClause || sel.op !== 'SETOP_NONE' || sel.limitCount) return undefined;
  if (b.subLinkType === 'EXISTS_SUBLINK') return true;
  if (b.subLinkType === 'EXPR_SUBLINK') {
    const targets = list(sel.targetList);
    return targets.length === 1 ? evaluate(targets[0]?.ResTarget?.val) : undefined;
  }
  return undefined;
}
