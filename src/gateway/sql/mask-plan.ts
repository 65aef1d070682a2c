/**
 * Which result columns to mask, from the statement's lineage and the
 * RowDescription. The relay resolves each field's table OID and attribute
 * number against the catalog ({schema, table, column}, or undefined for a
 * computed value) and calls `planMasking` per RowDescription; a computed value
 * is masked when the parse tree shows it comes from a masked column, or from a
 * whole row of a table that may hold one.
 */
import type { OutputColumn, StatementAnalysis, TableRef } from './types.js';

export interface ResolvedField {
  schema: string;
  table: string;
  column: string;
}

export interface MaskingRules {
  /** `column`, `table.column` or `schema.table.column`, as in gate.yaml. */
  columns: string[];
}

export type MaskPlan = { mask: number[] } | { refuse: string };

type Entry = { schema?: string; table?: string; column: string };

function entries(m: MaskingRules): Entry[] {
  return m.columns.map((c) => {
    const p = c.split('.').map((x) => x.toLowerCase());
    if (p.length === 3) return { schema: p[0], table: p[1], column: p[2]! };
    if (p.length === 2) return { table: p[0], column: p[1]! };
    return { column: p[0]! };
  });
}

const lower = (s: string | undefined) => s?.toLowerCase();

/** A resolved catalog column matches an entry exactly. */
export function fieldMasked(m: MaskingRules, f: ResolvedField): boolean {
  return entries(m).some(
    (e) =>
      e.column === lower(f.column) &&
      (!e.table || e.table === lower(f.table)) &&
      (!e.schema || e.schema === lower(f.schema)),
  );
}

/** A column named in SQL may be masked: an unknown table or schema counts as a match (fail closed). */
export function sourceMasked(m: MaskingRules, s: { table?: TableRef; column: string }): boolean {
  return entries(m).some(
    (e) =>
      e.column === lower(s.column) &&
      (!e.table || !s.table || e.table === lower(s.table.name)) &&
      (!e.schema || !s.table?.schema || e.schema === lower(s.table.schema)),
  );
}

/** May a whole row of `t` hold a masked column? A bare `column` entry may be in any table. */
export function tableMayHoldMasked(m: MaskingRules, t: TableRef): boolean {
  return entries(m).some(
    (e) => !e.table || (e.table === lower(t.name) && (!e.schema || !t.schema || e.schema === lower(t.schema))),
  );
}

/** Does a value with this lineage carry masked data? */
export function lineageMasked(m: MaskingRules, c: Pick<OutputColumn, 'sources' | 'wholeRows' | 'unknown'>): boolean {
  if (m.columns.length === 0) return false;
  return c.unknown || c.sources.some((s) => sourceMasked(m, s)) || c.wholeRows.some((t) => tableMayHoldMasked(m, t));
}

/**
 * Result positions to mask for one RowDescription of `stmt`, or a refusal
 * when gate cannot tell what the rows hold (SQL text run by a function).
 */
export function planMasking(stmt: StatementAnalysis, m: MaskingRules, fields: (ResolvedField | undefined)[]): MaskPlan {
  if (m.columns.length === 0) return { mask: [] };
  if (stmt.sqlTextFunctions.length > 0 && stmt.tables.length + stmt.sqlTextFunctions.length > 0)
    return { refuse: `gate: ${stmt.sqlTextFunctions.join(', ')}() runs SQL text gate cannot see; refused on a target with masked columns` };
  const out = stmt.output ?? [];
  const byField = (i: number) => !!fields[i] && fieldMasked(m, fields[i]!);
  const lineage = alignLineage(out, fields.length);
  const mask: number[] = [];
  for (let i = 0; i < fields.length; i++) {
    const col = lineage[i];
    // A resolved field in a star is exactly that column; everywhere else the parse tree may add more.
    const fromTree = col ? !(col.starOnly && fields[i]) && lineageMasked(m, col) : !!stmt.output;
    if (byField(i) || fromTree) mask.push(i);
  }
  return { mask };
}

type Aligned = Pick<OutputColumn, 'sources' | 'wholeRows' | 'unknown'> & { starOnly?: boolean };

/** Output entries matched to result positions: stars expand to however many fields the server sent. */
function alignLineage(out: OutputColumn[], width: number): (Aligned | undefined)[] {
  const first = out.findIndex((c) => c.star);
  if (first < 0) {
    if (out.length === width) return out;
    // A shape gate did not predict: every position carries everything (fail closed).
    const all = combine(out);
    return Array.from({ length: width }, () => all);
  }
  let last = first;
  for (let i = out.length - 1; i >= 0; i--)
    if (out[i]!.star) {
      last = i;
      break;
    }
  const before = out.slice(0, first);
  const after = out.slice(last + 1);
  const middle = combine(out.slice(first, last + 1));
  middle.starOnly = out.slice(first, last + 1).every((c) => c.star?.table && c.sources.length === 0);
  const result: (Aligned | undefined)[] = [];
  for (let i = 0; i < width; i++) {
    if (i < before.length) result.push(before[i]);
    else if (i >= width - after.length) result.push(after[i - (width - after.length)]);
    else result.push(middle);
  }
  return result;
}

function combine(cols: OutputColumn[]): Aligned {
  return {
    sources: cols.flatMap((c) => c.sources),
    wholeRows: cols.flatMap((c) => c.wholeRows),
    unknown: cols.some((c) => c.unknown),
  };
}

/**
 * Output column names whose values come from masked columns (for `gate policy
 * test` and audit): a star over a table lists the masked entries it may cover.
 */
export function maskedOutputColumns(stmt: StatementAnalysis, m: MaskingRules): string[] {
  const names: string[] = [];
  for (const col of stmt.output ?? []) {
    if (col.star?.table && col.sources.length === 0) {
      const t = col.star.table;
      for (const e of entries(m))
        if (tableMayHoldMasked({ columns: [[e.schema, e.table, e.column].filter(Boolean).join('.')] }, t)) names.push(e.column);
    } else if (lineageMasked(m, col)) names.push(col.name);
  }
  return [...new Set(names)];
}

/** Why a statement that writes masked data elsewhere (INSERT … SELECT email, CREATE TABLE AS) is refused, or undefined. */
export function maskedCopyProblem(stmt: StatementAnalysis, m: MaskingRules): string | undefined {
  for (const c of stmt.copies) {
    if (!lineageMasked(m, c)) continue;
    const where = c.table ? `into ${c.table.schema ? `${c.table.schema}.` : ''}${c.table.name}` : 'to a server file';
    return `gate: ${c.tag} would copy masked columns ${where}; refused on a target with masked columns`;
  }
  return undefined;
}
