import type { AuditRow } from '../store.js';

/** The `audit_events` columns an AuditRow carries, in insert order (`seq` is the database's own). */
export const AUDIT_COLUMNS = [
  'id',
  'time',
  'actor',
  'actor_kind',
  'action',
  'target',
  'role',
  'grant_id',
  'session_id',
  'correlation_id',
  'ip',
  'result',
  'details',
  'prev_hash',
  'hash',
] as const satisfies readonly (keyof AuditRow)[];

/** A row's values in AUDIT_COLUMNS order, spelled out (a store's per-event insert binds them; a test holds the order to the list). */
export const auditValues = (r: AuditRow): (string | null)[] => [
  r.id,
  r.time,
  r.actor,
  r.actor_kind,
  r.action,
  r.target,
  r.role,
  r.grant_id,
  r.session_id,
  r.correlation_id,
  r.ip,
  r.result,
  r.details,
  r.prev_hash,
  r.hash,
];

/**
 * The chain head's `seq` and hash as two columns of a SELECT, beside a count
 * in the same statement (`head` in both stores): one statement, one instant.
 */
export const AUDIT_HEAD_COLUMNS =
  '(SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1) AS seq, (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS hash';

/** An audit row read back with its `seq`: a number from SQLite, text from PostgreSQL (BIGINT). */
export type AuditSeqRow = AuditRow & { seq: number | string };

/** The row without the database's `seq`, as callers of `list` see it. */
export const auditWithoutSeq = ({ seq: _seq, ...row }: AuditSeqRow): AuditRow => row;

/** The `{ seq, row }` pair `scan` returns. */
export const auditFromSeqRow = (r: AuditSeqRow): { seq: number; row: AuditRow } => ({ seq: Number(r.seq), row: auditWithoutSeq(r) });
