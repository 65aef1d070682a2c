import type { GateConfig, StoreSetting } from '../config/schema.js';
import { resolveSecret } from '../config/secrets.js';
import { ConfigError } from '../errors.js';
import { describeTarget } from './postgres/database.js';
import type { FeedLogger } from './postgres/notify.js';
import { createPostgresStore } from './postgres/store.js';
import { createSqliteStore } from './sqlite/store.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** Where `env:` references are looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  log?: FeedLogger;
}

/** The connection a `store:` setting names, its references resolved; undefined for SQLite. */
export async function resolveStoreSetting(
  setting: StoreSetting | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ connectionString: string; password?: string } | undefined> {
  if (setting === undefined || setting === 'sqlite') return undefined;
  if (typeof setting === 'string') return { connectionString: setting };
  const connectionString = /^(env|file):/.test(setting.url) ? await resolveSecret(setting.url, env) : setting.url;
  let url: URL | undefined;
  try {
    url = new URL(connectionString);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
    // Never echo the value: it came from a secret reference and may hold a password.
    throw new ConfigError(`store.url (${setting.url}) does not hold a postgres:// URL.`);
  }
  const password = setting.password ? await resolveSecret(setting.password, env) : undefined;
  return { connectionString, password };
}

/**
 * Opens the store gate.yaml names: SQLite in the data dir by default, or the
 * shared PostgreSQL database of `store: postgres://…`. An unreachable or
 * refusing database is a ConfigError of one line naming host, port and
 * database, never the password.
 */
export async function openStore(config: Pick<GateConfig, 'store'>, dataDir: string, options: OpenStoreOptions = {}): Promise<Store> {
  const conn = await resolveStoreSetting(config.store, options.env);
  if (!conn) return createSqliteStore(dataDir);
  const where = describeTarget(conn.connectionString);
  try {
    const store = await createPostgresStore({ ...conn, log: options.log });
    options.log?.info('store opened', { store: 'postgres', at: where });
    return store;
  } catch (err) {
    throw new ConfigError(`Cannot open the PostgreSQL store at ${where}: ${reasonOf(err, conn.password)}`, {
      hint: 'Check `store:` in gate.yaml (see docs/store.md) and that the database accepts connections from this host.',
      cause: err,
    });
  }
}

function reasonOf(err: unknown, password: string | undefined): string {
  const e = err as { code?: string; message?: string; errors?: { code?: string }[] };
  // pg errors carry a SQLSTATE code and a readable message; socket errors a code (an AggregateError may have no message).
  let reason = e.message && !/^[0-9A-Z]{5}$/.test(e.message) ? e.message : (e.code ?? e.errors?.[0]?.code ?? String(err));
  if (/^E[A-Z]+$/.test(e.code ?? '') && !reason.includes(e.code ?? '')) reason = `${e.code} ${reason}`;
  if (password) reason = reason.split(password).join('[redacted]');
  return reason.split('\n')[0]!;
}
