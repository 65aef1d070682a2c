import type pg from 'pg';
import { PG_MIGRATIONS } from './migrations.js';

/** The first key of every advisory lock gate takes ("gate" in ASCII), so they never meet another app's. */
export const LOCK_NAMESPACE = 0x67617465;
/** Second keys: one per thing serialized across replicas. */
export const LOCK_MIGRATE = 1;
export const LOCK_AUDIT_CHAIN = 2;

/** The channel every replica LISTENs on for grant and command-approval changes. */
export const CHANGE_CHANNEL = 'gate_grants';

/** Connection settings for the store: a URL (no password in it) and the resolved password. */
export interface PostgresConnection {
  connectionString: string;
  password?: string;
  /** Pool size (default 10). */
  max?: number;
  /** How long a new connection may take (default 10 s). */
  connectTimeoutMs?: number;
}

/** What pg.Client and pg.Pool are given: the password goes into the URL in memory only, never into a message. */
export function clientConfig(conn: PostgresConnection): pg.ClientConfig {
  let connectionString = conn.connectionString;
  if (conn.password !== undefined) {
    const url = new URL(connectionString);
    url.password = encodeURIComponent(conn.password);
    connectionString = url.toString();
  }
  return { connectionString, connectionTimeoutMillis: conn.connectTimeoutMs ?? 10_000, application_name: 'gate' };
}

/** `host:port/database` of a store URL, for messages: never the user-info part. */
export function describeTarget(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    const host = url.hostname || url.searchParams.get('host') || 'localhost';
    const db = decodeURIComponent(url.pathname.replace(/^\//, '')) || '(default database)';
    return `${host}:${url.port || '5432'}/${db}`;
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Applies every migration the database has not seen, each in its own
 * transaction, under a session advisory lock so replicas starting together
 * take turns: the second finds the work done.
 */
export async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_NAMESPACE, LOCK_MIGRATE]);
    try {
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
      );
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => r.version));
      for (const m of PG_MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            new Date().toISOString(),
          ]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw new Error(`store migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, LOCK_MIGRATE]).catch(() => {});
    }
  } finally {
    client.release();
  }
}

/**
 * Runs `fn` in a transaction on one pooled client; rolls back on a throw.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no pool listener: without this, the store going away mid-transaction
  // (a restart, a failover) is an unhandled 'error' event that kills the server. The query rejects anyway.
  let lost: Error | undefined;
  const onError = (err: Error) => {
    lost ??= err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.off('error', onError);
    // A broken connection is destroyed, not handed to the next caller.
    client.release(lost);
  }
}
