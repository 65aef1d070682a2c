import type pg from 'pg';
import { type NotificationRow, notificationFromRow, statsFromRows } from '../rows/notify-outbox.js';
import type { NotifyOutboxRepository } from '../store.js';

/**
 * The notification outbox in PostgreSQL, shared by every replica: a claim
 * locks due rows with FOR UPDATE SKIP LOCKED, so two replicas claiming at once
 * take different rows, and moves them past the lease in the same statement.
 */
export function postgresNotifyOutbox(pool: pg.Pool): NotifyOutboxRepository {
  return {
    async enqueue(rows) {
      if (rows.length === 0) return;
      const values: unknown[] = [];
      const tuples = rows.map((r, i) => {
        values.push(r.id, r.sink, r.event, r.payload, r.createdAt, r.nextAt);
        const b = i * 6;
        return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, 'pending', 0, 0, $${b + 5}, $${b + 6})`;
      });
      await pool.query(
        `INSERT INTO notify_outbox (id, sink, event, payload, state, attempts, failures, created_at, next_at)
         VALUES ${tuples.join(', ')} ON CONFLICT (id, sink) DO NOTHING`,
        values,
      );
    },
    async claim(now, leaseUntil, limit) {
      const { rows } = await pool.query<NotificationRow>(
        `UPDATE notify_outbox o SET next_at = $2, attempts = o.attempts + 1
         FROM (SELECT id, sink FROM notify_outbox WHERE state = 'pending' AND next_at <= $1
               ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
         WHERE o.id = due.id AND o.sink = due.sink
         RETURNING o.*`,
        [now, leaseUntil, limit],
      );
      return rows.map(notificationFromRow);
    },
    async delivered(id, sink, at) {
      await pool.query(`UPDATE notify_outbox SET state = 'delivered', delivered_at = $1 WHERE id = $2 AND sink = $3`, [at, id, sink]);
    },
    async failedAttempt(id, sink, f) {
      await pool.query(
        `UPDATE notify_outbox SET state = $1, next_at = $2, failures = failures + 1, last_error = $3, last_status = $4, last_error_at = $5
         WHERE id = $6 AND sink = $7 AND state = 'pending'`,
        [f.nextAt === null ? 'failed' : 'pending', f.nextAt ?? f.at, f.error, f.status, f.at, id, sink],
      );
    },
    async prune(before) {
      const r = await pool.query(`DELETE FROM notify_outbox WHERE state = 'delivered' AND delivered_at < $1`, [before]);
      return r.rowCount ?? 0;
    },
    async stats() {
      const counts = await pool.query(`SELECT sink, state, COUNT(*) AS n, SUM(failures) AS failures FROM notify_outbox GROUP BY sink, state`);
      const latest = await pool.query(
        `SELECT DISTINCT ON (sink) sink, last_error, last_status, last_error_at FROM notify_outbox
         WHERE last_error_at IS NOT NULL ORDER BY sink, last_error_at DESC`,
      );
      return statsFromRows(counts.rows, latest.rows);
    },
  };
}
