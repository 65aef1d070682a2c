import { type ApprovalRow, approvalFromRow } from '../rows/approvals.js';
import type { ApprovalRepository } from '../store.js';
import type { SqliteDb } from './database.js';

/** Command approvals in SQLite, looked up by grant and the hash of the normalized command text. */
export function sqliteApprovals(db: SqliteDb): ApprovalRepository {
  const insert = db.prepare(
    'INSERT INTO command_approvals (id, grant_id, text_hash, state, created_at, data) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const update = db.prepare('UPDATE command_approvals SET state = ?, data = ? WHERE id = ? AND state = ?');
  const get = db.prepare('SELECT * FROM command_approvals WHERE id = ?');
  const byText = db.prepare(
    'SELECT * FROM command_approvals WHERE grant_id = ? AND text_hash = ? ORDER BY created_at DESC, rowid DESC',
  );
  return {
    async insert(a) {
      insert.run(a.id, a.grantId, a.textHash, a.state, a.createdAt, JSON.stringify(a.data));
    },
    async update(a, fromState) {
      return update.run(a.state, JSON.stringify(a.data), a.id, fromState).changes === 1;
    },
    async get(id) {
      const row = get.get(id) as ApprovalRow | undefined;
      return row ? approvalFromRow(row) : undefined;
    },
    async findByText(grantId, textHash) {
      return (byText.all(grantId, textHash) as ApprovalRow[]).map(approvalFromRow);
    },
    async list(filter) {
      const rows = filter.state
        ? db.prepare('SELECT * FROM command_approvals WHERE state = ? ORDER BY created_at DESC LIMIT ?').all(filter.state, filter.limit ?? 1000)
        : db.prepare('SELECT * FROM command_approvals ORDER BY created_at DESC LIMIT ?').all(filter.limit ?? 1000);
      return (rows as ApprovalRow[]).map(approvalFromRow);
    },
  };
}
