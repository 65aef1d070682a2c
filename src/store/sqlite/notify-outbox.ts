import { type NotificationRow, notificationFromRow, statsFromRows } from '../rows/notify-outbox.js';
import type { NotifyOutboxRepository } from '../store.js';
import type { SqliteDb } from './database.js';

/** The notification outbox in SQLite; a claim is a conditional update inside one write transaction. */
export function sqliteNotifyOutbox(db: SqliteDb): NotifyOutboxRepository {
  const insert = db.prepare(
    `INSERT INTO notify_outbox (id, sink, event, payload, state, attempts, failures, created_at, next_at)
     VALUES (?, ?, ?, ?, 'pending', 0, 0, ?, ?) ON CONFLICT (id, sink) DO NOTHING`,
  );
  const due = db.prepare(`SELECT id, sink FROM notify_outbox WHERE state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?`);
  const take = db.prepare(
    `UPDATE notify_outbox SET next_at = ?, attempts = attempts + 1 WHERE id = ? AND sink = ? AND state = 'pending' AND next_at <= ? RETURNING *`,
  );
  const delivered = db.prepare(`UPDATE notify_outbox SET state = 'delivered', delivered_at = ? WHERE id = ? AND sink = ?`);
  const failed = db.prepare(
    `UPDATE notify_outbox SET state = ?, next_at = ?, failures = failures + 1, last_error = ?, last_status = ?, last_error_at = ?
     WHERE id = ? AND sink = ? AND state = 'pending'`,
  );
  const prune = db.prepare(`DELETE FROM notify_outbox WHERE state = 'delivered' AND delivered_at < ?`);
  const counts = db.prepare(`SELECT sink, state, COUNT(*) AS n, SUM(failures) AS failures FROM notify_outbox GROUP BY sink, state`);
  // SQLite returns the other columns of the row that holds the MAX.
  const latest = db.prepare(
    `SELECT sink, last_error, last_status, MAX(last_error_at) AS last_error_at FROM notify_outbox WHERE last_error_at IS NOT NULL GROUP BY sink`,
  );
  const claim = db.transaction((now: string, leaseUntil: string, limit: number) => {
    const rows: NotificationRow[] = [];
    for (const r of due.all(now, limit) as { id: string; sink: string }[]) {
      const row = take.get(leaseUntil, r.id, r.sink, now) as NotificationRow | undefined;
      if (row) rows.push(row);
    }
    return rows;
  });
  return {
    async enqueue(rows) {
      db.transaction(() => {
        for (const r of rows) insert.run(r.id, r.sink, r.event, r.payload, r.createdAt, r.nextAt);
      })();
    },
    async claim(now, leaseUntil, limit) {
      return claim.immediate(now, leaseUntil, limit).map(notificationFromRow);
    },
    async delivered(id, sink, at) {
      delivered.run(at, id, sink);
    },
    async failedAttempt(id, sink, f) {
      failed.run(f.nextAt === null ? 'failed' : 'pending', f.nextAt ?? f.at, f.error, f.status, f.at, id, sink);
    },
    async prune(before) {
      return prune.run(before).changes;
    },
    async stats() {
      return statsFromRows(counts.all() as never, latest.all() as never);
    },
  };
}
