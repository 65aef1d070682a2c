import { type GrantRow, grantFromRow } from '../rows/grants.js';
import type { GrantRepository } from '../store.js';
import type { SqliteDb } from './database.js';

/** Grants in SQLite: indexed columns for the queries, the whole record as JSON. */
export function sqliteGrants(db: SqliteDb): GrantRepository {
  const insert = db.prepare(
    'INSERT INTO grants (id, requester, target, state, created_at, expires_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const update = db.prepare('UPDATE grants SET state = ?, expires_at = ?, data = ?, version = version + 1 WHERE id = ? AND state = ?');
  const updateAt = db.prepare(
    'UPDATE grants SET state = ?, expires_at = ?, data = ?, version = version + 1 WHERE id = ? AND state = ? AND version = ?',
  );
  const get = db.prepare('SELECT * FROM grants WHERE id = ?');
  return {
    async insert(g) {
      insert.run(g.id, g.requester, g.target, g.state, g.createdAt, g.expiresAt, JSON.stringify(g.data));
    },
    async update(g, fromState) {
      const args = [g.state, g.expiresAt, JSON.stringify(g.data), g.id, fromState] as const;
      return (g.version === undefined ? update.run(...args) : updateAt.run(...args, g.version)).changes === 1;
    },
    async get(id) {
      const row = get.get(id) as GrantRow | undefined;
      return row ? grantFromRow(row) : undefined;
    },
    async list(filter) {
      const where: string[] = [];
      const args: unknown[] = [];
      if (filter.requesters !== undefined || filter.targets !== undefined) {
        // "mine OR on these targets": the listing an approver sees.
        const any: string[] = [];
        if (filter.requesters && filter.requesters.length > 0) {
          any.push(`requester IN (${filter.requesters.map(() => '?').join(', ')})`);
          args.push(...filter.requesters);
        }
        if (filter.targets && filter.targets.length > 0) {
          any.push(`target IN (${filter.targets.map(() => '?').join(', ')})`);
          args.push(...filter.targets);
        }
        where.push(any.length > 0 ? `(${any.join(' OR ')})` : '0');
      }
      if (filter.state) {
        where.push('state = ?');
        args.push(filter.state);
      }
      const sql = `SELECT * FROM grants ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
      args.push(filter.limit ?? 1000);
      return (db.prepare(sql).all(...args) as GrantRow[]).map(grantFromRow);
    },
  };
}
