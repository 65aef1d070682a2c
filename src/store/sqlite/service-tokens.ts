import { type ServiceTokenRow, serviceTokenFromRow } from '../rows/service-tokens.js';
import type { ServiceTokenRepository } from '../store.js';
import type { SqliteDb } from './database.js';

export type { ServiceTokenRepository, StoredServiceToken } from '../store.js';

/** Service tokens in the SQLite store (table from migration 50). */
export function sqliteServiceTokens(db: SqliteDb): ServiceTokenRepository {
  const insert = db.prepare(
    `INSERT INTO service_tokens (id, name, groups_json, secret_hash, creator, creator_key, created_at, expires_at)
     VALUES (@id, @name, @groups_json, @secret_hash, @creator, @creator_key, @created_at, @expires_at)`,
  );
  const get = db.prepare('SELECT * FROM service_tokens WHERE id = ?');
  const list = db.prepare('SELECT * FROM service_tokens ORDER BY created_at DESC, id');
  const revoke = db.prepare('UPDATE service_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL');
  const touch = db.prepare('UPDATE service_tokens SET last_used_at = ? WHERE id = ?');
  return {
    async insert(t) {
      insert.run({
        id: t.id,
        name: t.name,
        groups_json: JSON.stringify(t.groups),
        secret_hash: t.secretHash,
        creator: t.creator,
        creator_key: t.creatorKey,
        created_at: t.createdAt,
        expires_at: t.expiresAt,
      });
    },
    async get(id) {
      const row = get.get(id) as ServiceTokenRow | undefined;
      return row ? serviceTokenFromRow(row) : undefined;
    },
    async list() {
      return (list.all() as ServiceTokenRow[]).map(serviceTokenFromRow);
    },
    async revoke(id, by, at) {
      return revoke.run(at, by, id).changes > 0;
    },
    async touch(id, at) {
      touch.run(at, id);
    },
  };
}
