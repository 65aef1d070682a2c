/**
 * Masking that follows view definitions. A RowDescription names a view's own
 * OID and attribute for a column read through it (the rewriter expands views
 * after PostgreSQL has chosen what to report), and the parse tree of
 * `select contact from v` only shows the view. So each view's definition is
 * read with the same lineage analysis as a statement, and a view column
 * computed from a masked column becomes a masked column itself, as
 * `schema.view.column`. Views over views: repeated until nothing changes.
 */
import { analyzeQuery } from './analyze.js';
import { lineageMasked, type MaskingRules, maskedOutputColumns } from './mask-plan.js';
import type { OutputColumn, TableRef } from './types.js';

export interface ViewDefinition {
  schema: string;
  name: string;
  /** The view's columns in order (pg_attribute). */
  columns: string[];
  /** pg_get_viewdef; null when the server would not show it. */
  definition: string | null;
}

/** The view's query lineage, or undefined when gate cannot read it (then every column counts as masked). */
function definitionOutput(v: ViewDefinition): OutputColumn[] | undefined {
  if (v.definition === null) return undefined;
  const a = analyzeQuery(v.definition);
  if (!a.ok || a.statements.length !== 1) return undefined;
  const s = a.statements[0]!;
  if (s.sqlTextFunctions.length > 0) return undefined;
  const out = s.output;
  // pg_get_viewdef spells every column out; a star or a different width means gate misread it.
  if (!out || out.length !== v.columns.length || out.some((c) => c.star)) return undefined;
  return out;
}

const quoteless = (s: string) => s.toLowerCase();

/**
 * The masking entries (`schema.view.column`) that views add to `rules`: every
 * view column whose value comes from a masked column (or a masked view
 * column), and every column of a view gate cannot read (fail closed).
 */
export function viewMaskedEntries(views: ViewDefinition[], rules: MaskingRules): string[] {
  if (rules.columns.length === 0 || views.length === 0) return [];
  const read = views.map((v) => ({ v, out: definitionOutput(v) }));
  const added = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    const current: MaskingRules = { columns: [...rules.columns, ...added] };
    for (const { v, out } of read) {
      v.columns.forEach((column, i) => {
        const entry = `${quoteless(v.schema)}.${quoteless(v.name)}.${quoteless(column)}`;
        if (added.has(entry)) return;
        if (!out || lineageMasked(current, out[i]!)) {
          added.add(entry);
          changed = true;
        }
      });
    }
  }
  return [...added];
}

/**
 * Entries for a view created in this session (`CREATE VIEW` the gateway just
 * let through), from the statement's own parse tree; undefined when gate
 * cannot tell which of the view's columns carry masked data.
 */
export function createdViewEntries(view: { table: TableRef; columns: OutputColumn[] }, rules: MaskingRules): string[] | undefined {
  if (rules.columns.length === 0) return [];
  const prefix = `${view.table.schema ? `${quoteless(view.table.schema)}.` : ''}${quoteless(view.table.name)}`;
  const masked = maskedOutputColumns({ output: view.columns } as Parameters<typeof maskedOutputColumns>[0], rules);
  // A star over something other than one base table: which names it expands to, only the server knows.
  if (view.columns.some((c) => c.star && !c.star.table && lineageMasked(rules, c))) return undefined;
  return masked.filter((n) => n !== '*').map((n) => `${prefix}.${quoteless(n)}`);
}
