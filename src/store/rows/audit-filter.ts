import type { AuditFilter } from '../store.js';

/**
 * The WHERE clauses of an audit query, for either SQL dialect: `param(v)`
 * returns the placeholder for one bound value (`?` or `$n`). Actions ending
 * in `*` match as prefixes (LIKE with the wildcards of the prefix escaped).
 */
export function auditWhere(filter: AuditFilter, param: (v: unknown) => string, falseSql: string): string[] {
  const where: string[] = [];
  if (filter.since) where.push(`time >= ${param(filter.since)}`);
  if (filter.until) where.push(`time < ${param(filter.until)}`);
  if (filter.sessionId) where.push(`session_id = ${param(filter.sessionId)}`);
  if (filter.grantId) where.push(`grant_id = ${param(filter.grantId)}`);
  if (filter.actor) where.push(`actor = ${param(filter.actor)}`);
  if (filter.targets) {
    if (filter.targets.length === 0) where.push(falseSql);
    else where.push(`target IN (${filter.targets.map((t) => param(t)).join(', ')})`);
  }
  if (filter.actions && filter.actions.length > 0) {
    const any = filter.actions.map((a) =>
      a.endsWith('*') ? `action LIKE ${param(`${a.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`)} ESCAPE '\\'` : `action = ${param(a)}`,
    );
    where.push(`(${any.join(' OR ')})`);
  }
  // An unknown cursor matches nothing (NULL), never everything from the start.
  if (filter.after) where.push(`seq > (SELECT seq FROM audit_events WHERE id = ${param(filter.after)})`);
  return where;
}
