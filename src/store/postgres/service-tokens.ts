import type pg from 'pg';
import type { ServiceTokenRepository, StoredServiceToken } from '../store.js';

interface Row {
  id: string;
  name: string;
  groups_json: string;
  secret_hash: string;
  creator: string;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

const fromRow = (r: Row): StoredServiceToken => ({
  id: r.id,
  name: r.name,
  groups: JSON.parse(r.groups_json) as string[],
  secretHash: r.secret_hash,
  creator: r.creator,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
  revokedBy: r.revoked_by,
});

/** Service tokens in PostgreSQL (see src/store/sqlite/service-tokens.ts); a revocation is seen by every replica at once. */
export function postgresServiceTokens(pool: pg.Pool): ServiceTokenRepository {
  return {
    async insert(t) {
      await pool.query(
        `INSERT INTO service_tokens (id, name, groups_json, secret_hash, creator, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [t.id, t.name, JSON.stringify(t.groups), t.secretHash, t.creator, t.createdAt, t.expiresAt],
      );
    },
    async get(id) {
      const { rows } = await pool.query<Row>('SELECT * FROM service_tokens WHERE id = $1', [id]);
      return rows[0] ? fromRow(rows[0]) : undefined;
    },
    async list() {
      return (await pool.query<Row>('SELECT * FROM service_tokens ORDER BY created_at DESC, id')).rows.map(fromRow);
    },
    async revoke(id, by, at) {
      const r = await pool.query('UPDATE service_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL', [at, by, id]);
      return (r.rowCount ?? 0) > 0;
    },
    async touch(id, at) {
      await pool.query('UPDATE service_tokens SET last_used_at = $1 WHERE id = $2', [at, id]);
    },
  };
}
