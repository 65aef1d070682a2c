/**
 * Which result columns of one RowDescription (or one COPY TO) are masked: a
 * field that is a masked catalog column (by table OID and attnum, so aliases
 * do not matter), or whose value the statement's lineage shows comes from one
 * (expressions, aggregates, subqueries, CTEs, whole-row references).
 */
import { fieldMasked, type MaskingRules, planMasking, type ResolvedField, type StatementAnalysis } from '../sql/index.js';
import type { MaskCatalog } from './catalog.js';
import type { FieldInfo } from './masking.js';

/** Statements whose rows come from something the text does not show (a cursor, a prepared body gate lost). */
const OPAQUE_ROWS = /^(FETCH|EXECUTE|MOVE)\b/;

export function resolveField(catalog: MaskCatalog, f: Pick<FieldInfo, 'tableOid' | 'attnum' | 'name'>, rules: MaskingRules): ResolvedField | undefined {
  if (f.tableOid === 0) return undefined;
  const col = catalog.columns.get(`${f.tableOid}:${f.attnum}`);
  if (col) return col;
  // A relation created after the session's catalog snapshot: match by the field's name (fail closed).
  if (!catalog.relations.has(f.tableOid) && fieldMasked(rules, { schema: '?', table: '?', column: f.name })) {
    return { schema: '?', table: '?', column: f.name };
  }
  return undefined;
}

/** Marks `fields[i].masked` for every masked position; returns the masked column names. */
export function markMasked(
  fields: FieldInfo[],
  stmt: StatementAnalysis | undefined,
  rules: MaskingRules,
  catalog: MaskCatalog,
): string[] {
  if (rules.columns.length === 0) return [];
  const resolved = fields.map((f) => resolveField(catalog, f, rules));
  let positions: number[];
  if (!stmt || (!stmt.output && OPAQUE_ROWS.test(stmt.tag))) {
    // gate cannot see where these rows come from: anything not a known, unmasked catalog column is masked.
    positions = fields.flatMap((f, i) => (f.tableOid === 0 || (resolved[i] && fieldMasked(rules, resolved[i]!)) ? [i] : []));
  } else {
    const plan = planMasking(stmt, rules, resolved);
    positions = 'mask' in plan ? plan.mask : fields.map((_, i) => i);
  }
  for (const i of positions) fields[i]!.masked = true;
  return positions.map((i) => fields[i]!.name);
}

/** Masked positions of a `COPY … TO` (no RowDescription: the lineage and, for `COPY table`, the catalog). */
export function copyMaskedPositions(stmt: StatementAnalysis | undefined, width: number, rules: MaskingRules, catalog: MaskCatalog): number[] | 'all' {
  if (rules.columns.length === 0) return [];
  if (!stmt) return 'all';
  const out = stmt.output ?? [];
  const star = out.length === 1 ? out[0]!.star : undefined;
  let resolved: (ResolvedField | undefined)[] = Array.from({ length: width }, () => undefined);
  if (star?.table) {
    // `COPY t TO` / `COPY (select * from t) TO`: the table's own columns, in order.
    const cols = catalog.tables.get(star.table.name.toLowerCase());
    if (cols) resolved = cols.filter((c) => !star.table!.schema || c.schema === star.table!.schema).slice(0, width);
    if (resolved.length === width && resolved.every(Boolean)) {
      return resolved.flatMap((f, i) => (fieldMasked(rules, f!) ? [i] : []));
    }
    resolved = Array.from({ length: width }, () => undefined);
  }
  const plan = planMasking(stmt, rules, resolved);
  return 'mask' in plan ? plan.mask : 'all';
}
