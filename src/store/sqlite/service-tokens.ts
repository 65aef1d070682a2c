import type { ServiceTokenRepository, StoredServiceToken } from '../store.js';
import type { SqliteDb } from './database.js';

export type { ServiceTokenRepository, StoredServiceToken } from '../store.js';

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

/** Service tokens in the SQLite store (table from migration 50). */
export function sqliteServiceTokens(db: SqliteDb): ServiceTokenRepository {
  const insert = db.prepare(
    `INSERT INTO service_tokens (id, name, groups_json, secret_hash, creator, created_at, expires_at)
     VALUES (@id, @name, @groups_json, @secret_hash, @creator, @created_at, @expires_at)`,
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
        created_at: t.createdAt,
        expires_at: t.expiresAt,
      });
    },
    async get(id) {
      const row = get.get(id) as Row | undefined;
      return row ? fromRow(row) : undefined;
    },
    async list() {
      return (list.all() as Row[]).map(fromRow);
    },
    async revoke(id, by, at) {
      return revoke.run(at, by, id).changes > 0;
    },
    async touch(id, at) {
      touch.run(at, id);
    },
  };
}
