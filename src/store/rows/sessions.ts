import type { StoredSession } from '../store.js';

/**
 * A `sessions` row as either driver hands it over. The types that differ are
 * unions: SQLite keeps flags as 0/1 INTEGERs and returns numbers, PostgreSQL
 * keeps BOOLEANs and returns its BIGINT columns as text.
 */
export interface SessionRow {
  id: string;
  target: string;
  user_sub: string;
  user_key: string | null;
  grant_id: string;
  command: string;
  title: string | null;
  width: number;
  height: number;
  record_input: boolean | number;
  started_at: string;
  ended_at: string | null;
  exit_code: number | null;
  /** BIGINT in PostgreSQL: pg hands it over as text. */
  duration_ms: number | string | null;
  incomplete: boolean | number;
  closed: boolean | number;
  chunks: number;
  /** BIGINT in PostgreSQL: pg hands it over as text. */
  bytes: number | string;
  correlation_id: string | null;
  created_at: string;
  kind?: string | null;
  client?: string | null;
}

/** SQLite's 1 and PostgreSQL's TRUE are the only true values. */
const flag = (v: boolean | number): boolean => v === true || v === 1;

/** The stored session a `sessions` row describes, whichever database it came from. */
export function sessionFromRow(r: SessionRow): StoredSession {
  return {
    id: r.id,
    target: r.target,
    user: r.user_sub,
    userKey: r.user_key ?? `legacy-unowned:${r.user_sub}`,
    grantId: r.grant_id,
    command: r.command,
    title: r.title,
    width: r.width,
    height: r.height,
    recordInput: flag(r.record_input),
    startedAt: r.started_at,
    endedAt: r.ended_at,
    exitCode: r.exit_code,
    durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
    incomplete: flag(r.incomplete),
    closed: flag(r.closed),
    chunks: r.chunks,
    bytes: Number(r.bytes),
    correlationId: r.correlation_id,
    createdAt: r.created_at,
    kind: r.kind === 'mcp' ? 'mcp' : 'terminal',
    client: r.client ?? null,
  };
}
