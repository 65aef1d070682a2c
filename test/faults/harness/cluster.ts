/**
 * An embedded PostgreSQL the fault suite can stop and start again on the same
 * port and data: test/helpers/postgres.ts's cluster (which retries a port
 * taken between reserving and binding it, and says why when it cannot start),
 * with queries on any database.
 */
import pg from 'pg';
import { startPostgres } from '../../helpers/postgres.js';

export interface Cluster {
  host: string;
  port: number;
  user: string;
  password: string;
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<R[]>;
  /** Stops the server (fast shutdown: connections are cut), keeping its data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startCluster(options: { maxConnections?: number } = {}): Promise<Cluster> {
  const pgServer = await startPostgres({ maxConnections: options.maxConnections ?? 200 });
  const { host, port, user, password } = pgServer;
  return {
    host,
    port,
    user,
    password,
    // A client per query: the store is restarted under load, and a query after that must not reuse a dead one.
    async query(sql, params, database = 'postgres') {
      const c = new pg.Client({ host, port, user, password, database });
      c.on('error', () => {});
      await c.connect();
      try {
        return (await c.query(sql, params as unknown[])).rows;
      } finally {
        await c.end().catch(() => {});
      }
    },
    stop: () => pgServer.halt(),
    start: () => pgServer.resume(),
    destroy: () => pgServer.stop(),
  };
}
