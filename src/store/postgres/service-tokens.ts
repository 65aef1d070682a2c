import type pg from 'pg';
import { type ServiceTokenRow, serviceTokenFromRow } from '../rows/service-tokens.js';
import type { ServiceTokenRepository } from '../store.js';

/** Service tokens in PostgreSQL (see src/store/sqlite/service-tokens.ts); a revocation is seen by every replica at once. */
export function postgresServiceTokens(pool: pg.Pool): ServiceTokenRepository {
  return {
    async insert(t) {
      await pool.query(
        `INSERT INTO service_tokens (id, name, groups_json, secret_hash, creator, creator_key, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [t.id, t.name, JSON.stringify(t.groups), t.secretHash, t.creator, t.creatorKey, t.createdAt, t.expiresAt],
      );
    },
    async get(id) {
      const { rows } = await pool.query<ServiceTokenRow>('SELECT * FROM service_tokens WHERE id = $1', [id]);
      return rows[0] ? serviceTokenFromRow(rows[0]) : undefined;
    },
    async list() {
      return (await pool.query<ServiceTokenRow>('SELECT * FROM service_tokens ORDER BY created_at DESC, id')).rows.map(serviceTokenFromRow);
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
