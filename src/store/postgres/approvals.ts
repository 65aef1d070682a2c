import type pg from 'pg';
import { type ApprovalRow, approvalFromRow } from '../rows/approvals.js';
import type { ApprovalRepository } from '../store.js';
import { CHANGE_CHANNEL } from './database.js';
import type { ChangePayload } from './notify.js';

const COLUMNS = 'id, grant_id, text_hash, state, created_at, data';

/** Command approvals in PostgreSQL (see src/store/sqlite/approvals.ts); writes NOTIFY like grants do. */
export function postgresApprovals(pool: pg.Pool, payload: ChangePayload): ApprovalRepository {
  return {
    async insert(a) {
      await pool.query(
        `WITH w AS (INSERT INTO command_approvals (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id)
         SELECT pg_notify('${CHANGE_CHANNEL}', $7) FROM w`,
        [a.id, a.grantId, a.textHash, a.state, a.createdAt, JSON.stringify(a.data), payload('approval', a.id)],
      );
    },
    async update(a, fromState) {
      const r = await pool.query(
        `WITH w AS (UPDATE command_approvals SET state = $1, data = $2 WHERE id = $3 AND state = $4 RETURNING id)
         SELECT pg_notify('${CHANGE_CHANNEL}', $5) FROM w`,
        [a.state, JSON.stringify(a.data), a.id, fromState, payload('approval', a.id)],
      );
      return r.rowCount === 1;
    },
    async get(id) {
      const { rows } = await pool.query<ApprovalRow>(`SELECT ${COLUMNS} FROM command_approvals WHERE id = $1`, [id]);
      return rows[0] ? approvalFromRow(rows[0]) : undefined;
    },
    async findByText(grantId, textHash) {
      const { rows } = await pool.query<ApprovalRow>(
        `SELECT ${COLUMNS} FROM command_approvals WHERE grant_id = $1 AND text_hash = $2 ORDER BY created_at DESC, seq DESC`,
        [grantId, textHash],
      );
      return rows.map(approvalFromRow);
    },
    async list(filter) {
      const { rows } = filter.state
        ? await pool.query<ApprovalRow>(`SELECT ${COLUMNS} FROM command_approvals WHERE state = $1 ORDER BY created_at DESC, seq DESC LIMIT $2`, [
            filter.state,
            filter.limit ?? 1000,
          ])
        : await pool.query<ApprovalRow>(`SELECT ${COLUMNS} FROM command_approvals ORDER BY created_at DESC, seq DESC LIMIT $1`, [filter.limit ?? 1000]);
      return rows.map(approvalFromRow);
    },
  };
}
