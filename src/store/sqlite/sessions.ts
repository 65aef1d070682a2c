import { type SessionRow, sessionFromRow } from '../rows/sessions.js';
import type { SessionRepository } from '../store.js';
import type { SqliteDb } from './database.js';

/** Recorded sessions' metadata in SQLite (the recordings themselves are files). */
export function sqliteSessions(db: SqliteDb): SessionRepository {
  const insert = db.prepare(
    `INSERT INTO sessions (id, target, user_sub, grant_id, command, title, width, height, record_input, started_at,
       ended_at, exit_code, duration_ms, incomplete, closed, chunks, bytes, correlation_id, created_at, kind, client, user_key)
     VALUES (@id, @target, @user, @grantId, @command, @title, @width, @height, @recordInput, @startedAt,
       @endedAt, @exitCode, @durationMs, @incomplete, @closed, @chunks, @bytes, @correlationId, @createdAt, @kind, @client, @userKey)
     ON CONFLICT(id) DO NOTHING`,
  );
  const get = db.prepare('SELECT * FROM sessions WHERE id = ?');
  const progress = db.prepare('UPDATE sessions SET chunks = ?, bytes = ? WHERE id = ?');
  const close = db.prepare(
    'UPDATE sessions SET closed = 1, ended_at = ?, exit_code = ?, duration_ms = ?, incomplete = ? WHERE id = ? AND closed = 0',
  );
  const bool = (b: boolean) => (b ? 1 : 0);
  return {
    async insert(s) {
      const r = insert.run({ ...s, kind: s.kind ?? 'terminal', client: s.client ?? null, recordInput: bool(s.recordInput), incomplete: bool(s.incomplete), closed: bool(s.closed) });
      return r.changes === 1;
    },
    async get(id) {
      const r = get.get(id.toLowerCase()) as SessionRow | undefined;
      return r ? sessionFromRow(r) : undefined;
    },
    async setProgress(id, p) {
      progress.run(p.chunks, p.bytes, id.toLowerCase());
    },
    async close(id, end) {
      return close.run(end.endedAt, end.exitCode, end.durationMs, bool(end.incomplete), id.toLowerCase()).changes === 1;
    },
    async list(filter) {
      const where: string[] = [];
      const args: unknown[] = [];
      if (filter.target) {
        where.push('target = ?');
        args.push(filter.target);
      }
      if (filter.user) {
        where.push('user_sub = ?');
        args.push(filter.user);
      }
      if (filter.since) {
        where.push('started_at >= ?');
        args.push(filter.since);
      }
      if (filter.visibleTo) {
        const { userKeys, targets } = filter.visibleTo;
        const inTargets = targets.length ? ` OR target IN (${targets.map(() => '?').join(', ')})` : '';
        where.push(`(user_key IN (${userKeys.map(() => '?').join(', ')})${inTargets})`);
        args.push(...userKeys, ...targets);
      }
      args.push(filter.limit ?? 100);
      const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id LIMIT ?`;
      return (db.prepare(sql).all(...args) as SessionRow[]).map(sessionFromRow);
    },
  };
}
