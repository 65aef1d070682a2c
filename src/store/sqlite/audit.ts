import { AUDIT_COLUMNS, type AuditSeqRow, auditFromSeqRow, auditWithoutSeq } from '../rows/audit.js';
import { auditWhere } from '../rows/audit-filter.js';
import type { AuditRepository, AuditRow } from '../store.js';
import type { SqliteDb } from './database.js';

/** The audit log in SQLite: an append-only table whose `seq` fixes the chain order. */
export function sqliteAudit(db: SqliteDb): AuditRepository {
  const last = db.prepare('SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  const insert = db.prepare(`INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map((c) => `@${c}`).join(', ')})`);
  const scan = db.prepare(`SELECT seq, ${AUDIT_COLUMNS.join(', ')} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`);
  // IMMEDIATE takes the write lock before reading the last hash, so another
  // process appending to the same file cannot chain onto the same row.
  const appendTx = db.transaction((build: (prev: string | undefined) => AuditRow) => {
    const prev = (last.get() as { hash: string } | undefined)?.hash;
    const row = build(prev);
    insert.run(row);
    return row;
  });
  const appendManyTx = db.transaction((build: (prev: string | undefined) => AuditRow[]) => {
    const prev = (last.get() as { hash: string } | undefined)?.hash;
    const rows = build(prev);
    for (const row of rows) insert.run(row);
    return rows;
  });
  return {
    async appendAtomically(build) {
      return appendTx.immediate(build);
    },
    async appendMany(build) {
      return appendManyTx.immediate(build);
    },
    async list(filter) {
      const args: unknown[] = [];
      const where = auditWhere(
        filter,
        (v) => {
          args.push(v);
          return '?';
        },
        '0',
      );
      args.push(filter.limit ?? 1000);
      const sql = `SELECT seq, ${AUDIT_COLUMNS.join(', ')} FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`;
      return (db.prepare(sql).all(...args) as AuditSeqRow[]).map(auditWithoutSeq);
    },
    async scan(afterSeq, limit) {
      return (scan.all(afterSeq, limit) as AuditSeqRow[]).map(auditFromSeqRow);
    },
  };
}
