import pg from 'pg';
import type { GateConfig } from '../../config/schema.js';
import { clientConfig, describeTarget } from '../../store/postgres/database.js';
import { PG_MIGRATIONS } from '../../store/postgres/migrations.js';
import { resolveStoreSetting } from '../../store/open.js';
import { writableProblem } from './data-dir.js';
import { reasonOf, withTimeout } from './secrets.js';
import type { CheckItem, ProbeContext } from './types.js';

/**
 * Reaches the store without changing it: no migration runs (the first
 * `gate server` does that); a PostgreSQL store is connected to and its schema
 * version read, a SQLite one must have a writable data dir.
 */
export async function checkStore(config: GateConfig, dataDir: string, ctx: ProbeContext): Promise<CheckItem> {
  let conn: Awaited<ReturnType<typeof resolveStoreSetting>>;
  try {
    if (typeof config.store === 'object' && config.store.password) await ctx.secret(config.store.password);
    if (typeof config.store === 'object' && /^(env|file):/.test(config.store.url)) await ctx.secret(config.store.url);
    conn = await resolveStoreSetting(config.store, ctx.env);
  } catch (err) {
    return { component: 'store', status: 'error', message: reasonOf(err) };
  }
  if (!conn) return checkSqliteDir(dataDir);
  const where = describeTarget(conn.connectionString);
  const client = new pg.Client({ ...clientConfig({ ...conn, connectTimeoutMs: ctx.timeoutMs }), application_name: 'gate-check' });
  client.on('error', () => {});
  try {
    return await withTimeout(`the PostgreSQL store at ${where}`, ctx.timeoutMs, async () => {
      await client.connect();
      const version = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
      const table = (await client.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`)).rows[0]!.t;
      const latest = PG_MIGRATIONS.at(-1)?.version ?? 0;
      if (!table) {
        return { component: 'store', status: 'ok', message: `PostgreSQL ${version} at ${where}: reachable, empty (the first \`gate server\` creates the schema)`, details: { kind: 'postgres', at: where, server_version: version, schema_version: 0 } } satisfies CheckItem;
      }
      const applied = Number((await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations')).rows[0]!.v ?? 0);
      const details = { kind: 'postgres', at: where, server_version: version, schema_version: applied, schema_expected: latest };
      if (applied > latest) {
        return { component: 'store', status: 'error', message: `PostgreSQL at ${where} holds schema version ${applied}, newer than this gate knows (${latest}): upgrade gate before starting it here`, details } satisfies CheckItem;
      }
      const note = applied < latest ? ` (schema ${applied}; this gate migrates it to ${latest} when it starts)` : '';
      return { component: 'store', status: 'ok', message: `PostgreSQL ${version} at ${where}: reachable${note}`, details } satisfies CheckItem;
    });
  } catch (err) {
    return { component: 'store', status: 'error', message: `cannot reach the PostgreSQL store at ${where}: ${reasonOf(err)}`, details: { kind: 'postgres', at: where } };
  } finally {
    await client.end().catch(() => {});
  }
}

async function checkSqliteDir(dataDir: string): Promise<CheckItem> {
  const problem = await writableProblem(dataDir);
  if (problem) return { component: 'store', status: 'error', message: `SQLite: the data dir ${dataDir}: ${problem}` };
  return { component: 'store', status: 'ok', message: `SQLite in ${dataDir} (writable)`, details: { kind: 'sqlite', data_dir: dataDir } };
}
