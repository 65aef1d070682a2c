import type { HttpRuleSummary, TargetSummary } from '../api/wire-grants.js';
import type { CliContext } from './context.js';
import { printTable } from './output.js';

function describe(rule: HttpRuleSummary): string {
  return `${(rule.methods ?? ['*']).join(',')} ${(rule.paths ?? ['/**']).join(',')}`;
}

/**
 * The rules of HTTP targets under the targets table: one row per rule
 * (target, `deny` or `approval`, methods and paths, message), plus the masked
 * fields, so a user knows what a call will meet before making it.
 */
export function printHttpRules(ctx: CliContext, targets: TargetSummary[]): void {
  const rows: string[][] = [];
  for (const t of targets) {
    if (t.type !== 'http') continue;
    for (const r of t.rules ?? []) rows.push([t.name, r.kind === 'deny' ? 'deny' : 'approval', describe(r), r.message ?? '']);
    const masked = [...(t.masking?.json_fields ?? []), ...(t.masking?.detectors ?? []).map((d) => `detector:${d}`)];
    if (masked.length > 0) rows.push([t.name, 'mask', masked.join(','), '']);
  }
  if (rows.length === 0) return;
  if (ctx.io.stdout.isTTY) ctx.io.stdout.write('\n');
  printTable(ctx.io, ['target', 'rule', 'requests', 'message'], rows);
}
