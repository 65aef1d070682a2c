import type pg from 'pg';
import { type SessionRow, sessionFromRow } from '../rows/sessions.js';
import type { SessionRepository } from '../store.js';

/** Recorded sessions' metadata in PostgreSQL (see src/store/sqlite/sessions.ts); the recordings stay files. */
export function postgresSessions(pool: pg.Pool): SessionRepository {
  return {
    async insert(s) {
      const r = await pool.query(
        `INSERT INTO sessions (id, target, user_sub, grant_id, command, title, width, height, record_input, started_at,
           ended_at, exit_code, duration_ms, incomplete, closed, chunks, bytes, correlation_id, created_at, kind, client, user_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
         ON CONFLICT (id) DO NOTHING`,
        [
          s.id,
          s.target,
          s.user,
          s.grantId,
          s.command,
          s.title,
          s.width,
          s.height,
          s.recordInput,
          s.startedAt,
          s.endedAt,
          s.exitCode,
          s.durationMs,
          s.incomplete,
          s.closed,
          s.chunks,
          s.bytes,
          s.correlationId,
          s.createdAt,
          s.kind ?? 'terminal',
          s.client ?? null,
          s.userKey,
        ],
      );
      return r.rowCount === 1;
    },
    async get(id) {
      const { rows } = await pool.query<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id.toLowerCase()]);
      return rows[0] ? sessionFromRow(rows[0]) : undefined;
    },
    async setProgress(id, p) {
      await pool.query('UPDATE sessions SET chunks = $1, bytes = $2 WHERE id = $3', [p.chunks, p.bytes, id.toLowerCase()]);
    },
    async close(id, end) {
      const r = await pool.query(
        'UPDATE sessions SET closed = TRUE, ended_at = $1, exit_code = $2, duration_ms = $3, incomplete = $4 WHERE id = $5 AND NOT closed',
        [end.endedAt, end.exitCode, end.durationMs, end.incomplete, id.toLowerCase()],
      );
      return r.rowCount === 1;
    },
    async list(filter) {
      const where: string[] = [];
      const args: unknown[] = [];
      const arg = (v: unknown) => {
        args.push(v);
        return `$${args.length}`;
      };
      if (filter.target) where.push(`target = ${arg(filter.target)}`);
      if (filter.user) where.push(`user_sub = ${arg(filter.user)}`);
      if (filter.since) where.push(`started_at >= ${arg(filter.since)}`);
      if (filter.visibleTo) {
        const { userKeys, targets } = filter.visibleTo;
        const inTargets = targets.length ? ` OR target = ANY(${arg(targets)}::text[])` : '';
        where.push(`(user_key = ANY(${arg(userKeys)}::text[])${inTargets})`);
      }
      const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id LIMIT ${arg(filter.limit ?? 100)}`;
      return (await pool.query<SessionRow>(sql, args)).rows.map(sessionFromRow);
    },
  };
}
