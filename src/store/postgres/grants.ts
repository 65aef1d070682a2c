import type pg from 'pg';
import { type GrantRow, grantFromRow } from '../rows/grants.js';
import type { GrantRepository } from '../store.js';
import { CHANGE_CHANNEL } from './database.js';
import type { ChangePayload } from './notify.js';

/**
 * Grants in PostgreSQL, same semantics as src/store/sqlite/grants.ts. Every
 * write NOTIFYs the change channel in the same statement, so the other
 * replicas hear of it exactly when it commits (and only if a row changed).
 */
export function postgresGrants(pool: pg.Pool, payload: ChangePayload): GrantRepository {
  return {
    async insert(g) {
      await pool.query(
        `WITH w AS (INSERT INTO grants (id, requester, target, state, created_at, expires_at, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id)
         SELECT pg_notify('${CHANGE_CHANNEL}', $8) FROM w`,
        [g.id, g.requester, g.target, g.state, g.createdAt, g.expiresAt, JSON.stringify(g.data), payload('grant', g.id)],
      );
    },
    async update(g, fromState) {
      const r = await pool.query(
        `WITH w AS (UPDATE grants SET state = $1, expires_at = $2, data = $3, version = version + 1
             WHERE id = $4 AND state = $5 AND ($7::bigint IS NULL OR version = $7) RETURNING id)
         SELECT pg_notify('${CHANGE_CHANNEL}', $6) FROM w`,
        [g.state, g.expiresAt, JSON.stringify(g.data), g.id, fromState, payload('grant', g.id), g.version ?? null],
      );
      return r.rowCount === 1;
    },
    async get(id) {
      const { rows } = await pool.query<GrantRow>('SELECT * FROM grants WHERE id = $1', [id]);
      return rows[0] ? grantFromRow(rows[0]) : undefined;
    },
    async list(filter) {
      const where: string[] = [];
      const args: unknown[] = [];
      const arg = (v: unknown) => {
        args.push(v);
        return `$${args.length}`;
      };
      if (filter.requesters !== undefined || filter.targets !== undefined) {
        // "mine OR on these targets": the listing an approver sees.
        const any: string[] = [];
        if (filter.requesters && filter.requesters.length > 0) any.push(`requester = ANY(${arg(filter.requesters)}::text[])`);
        if (filter.targets && filter.targets.length > 0) any.push(`target = ANY(${arg(filter.targets)}::text[])`);
        where.push(any.length > 0 ? `(${any.join(' OR ')})` : 'FALSE');
      }
      if (filter.state) where.push(`state = ${arg(filter.state)}`);
      const sql = `SELECT * FROM grants ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ${arg(filter.limit ?? 1000)}`;
      return (await pool.query<GrantRow>(sql, args)).rows.map(grantFromRow);
    },
  };
}
