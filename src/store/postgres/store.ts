import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Store } from '../store.js';
import { postgresApprovals } from './approvals.js';
import { postgresAudit } from './audit.js';
import { postgresCancelBus } from './cancel-bus.js';
import { clientConfig, describeTarget, migrate, type PostgresConnection } from './database.js';
import { postgresGrants } from './grants.js';
import { createChangeFeed, type FeedLogger } from './notify.js';
import { postgresNotifyOutbox } from './notify-outbox.js';
import { postgresRecordings } from './recordings.js';
import { postgresServiceTokens } from './service-tokens.js';
import { postgresSessions } from './sessions.js';

export interface PostgresStore extends Store {
  readonly kind: 'postgres';
  /** The pool, for tests that must tamper with rows. */
  readonly pool: pg.Pool;
  /** `host:port/database`, for messages (never the password). */
  readonly target: string;
}

export interface PostgresStoreOptions extends PostgresConnection {
  log?: FeedLogger;
}

const quiet: FeedLogger = { warn() {}, info() {} };

/**
 * The shared store for several server replicas: connects, migrates (under an
 * advisory lock), and LISTENs for other replicas' grant and approval changes.
 * Rejects, without leaving a connection open, when the database cannot be
 * reached or migrated; the error names the host, never the password.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const log = options.log ?? quiet;
  const config = clientConfig(options);
  const pool = new pg.Pool({ ...config, max: options.max ?? 10 });
  // An idle pooled connection that dies (database restart) is replaced on next use; without a listener it would crash the process.
  pool.on('error', (err) => log.warn('store connection lost', { error: err.message }));
  const feed = createChangeFeed(config, randomUUID(), log);
  try {
    await migrate(pool);
    await feed.start();
  } catch (err) {
    await feed.close();
    await pool.end().catch(() => {});
    throw err;
  }
  const target = describeTarget(options.connectionString);

  return {
    kind: 'postgres',
    pool,
    target,
    grants: postgresGrants(pool, feed.payload),
    approvals: postgresApprovals(pool, feed.payload),
    audit: postgresAudit(pool),
    sessions: postgresSessions(pool),
    serviceTokens: postgresServiceTokens(pool),
    notifyOutbox: postgresNotifyOutbox(pool),
    recordings: postgresRecordings(pool),
    cancels: postgresCancelBus(pool, feed),
    async recordLogin(who, at) {
      await pool.query(
        `INSERT INTO logins (sub, email, name, groups_json, kind, last_login_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sub) DO UPDATE SET email = excluded.email, name = excluded.name,
           groups_json = excluded.groups_json, kind = excluded.kind, last_login_at = excluded.last_login_at`,
        [who.sub, who.email ?? null, who.name ?? null, JSON.stringify(who.groups), who.kind, at.toISOString()],
      );
    },
    watch: (watcher) => feed.watch(watcher),
    async close() {
      await feed.close();
      await pool.end();
    },
  };
}
