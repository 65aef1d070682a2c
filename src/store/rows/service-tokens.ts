import type { StoredServiceToken } from '../store.js';

/** A `service_tokens` row as both drivers hand it over (every column is TEXT in both schemas). */
export interface ServiceTokenRow {
  id: string;
  name: string;
  groups_json: string;
  secret_hash: string;
  creator: string;
  creator_key: string | null;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

/** The stored token a `service_tokens` row describes; shared so SQLite and PostgreSQL cannot drift apart. */
export const serviceTokenFromRow = (r: ServiceTokenRow): StoredServiceToken => ({
  id: r.id,
  name: r.name,
  groups: JSON.parse(r.groups_json) as string[],
  secretHash: r.secret_hash,
  creator: r.creator,
  creatorKey: r.creator_key ?? `legacy-user:${r.creator}`,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
  revokedBy: r.revoked_by,
});
