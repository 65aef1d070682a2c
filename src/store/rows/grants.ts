import type { StoredGrant } from '../store.js';

/** A `grants` row: indexed columns for the queries, the whole record as JSON text in `data`. */
export interface GrantRow {
  id: string;
  requester: string;
  target: string;
  state: string;
  created_at: string;
  expires_at: string | null;
  data: string;
  /** Bumped by every update (migration 150); BIGINT arrives from pg as a string. */
  version?: number | string;
}

/** The stored grant a `grants` row describes, whichever database it came from. */
export function grantFromRow(r: GrantRow): StoredGrant {
  return {
    id: r.id,
    requester: r.requester,
    target: r.target,
    state: r.state,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    data: JSON.parse(r.data),
    version: Number(r.version ?? 0),
  };
}
