/**
 * Choosing and opening the store from gate.yaml: what is accepted, what is
 * refused, and the one line a user sees when the database is not there.
 * Also: the change feed survives losing its connection.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { openStore } from '../../src/store/open.js';
import { createPostgresStore, type PostgresStore } from '../../src/store/postgres/store.js';
import type { Store, StoreChange } from '../../src/store/store.js';
import { freePort, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { runCli } from '../helpers/stack.js';

let pg: TestPostgres;
let dataDir: string;
const opened: Store[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  await pg.query('CREATE DATABASE gate_open');
  dataDir = await mkdtemp(join(tmpdir(), 'gate-open-'));
});

afterAll(async () => {
  for (const s of opened) await s.close().catch(() => {});
  await pg?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const url = (db = 'gate_open', port = pg.port) => `postgres://${pg.user}@${pg.host}:${port}/${db}`;

async function open(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<Store> {
  const store = await openStore(parseConfig(yaml), dataDir, { env });
  opened.push(store);
  return store;
}

async function refusal(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  const err = await open(yaml, env).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('store: in gate.yaml', () => {
  it('accepts sqlite, a password-less URL, and references', () => {
    expect(parseConfig('store: sqlite').store).toBe('sqlite');
    expect(parseConfig('store: postgresql://gate@db.internal:5432/gate?sslmode=require').store).toBe(
      'postgresql://gate@db.internal:5432/gate?sslmode=require',
    );
    expect(parseConfig('store: { url: env:GATE_STORE_URL }').store).toEqual({ url: 'env:GATE_STORE_URL' });
    expect(parseConfig('store: { url: "postgres://gate@db/gate", password: file:/run/secrets/pg }').store).toEqual({
      url: 'postgres://gate@db/gate',
      password: 'file:/run/secrets/pg',
    });
  });

  it('refuses a literal password anywhere, without repeating it', () => {
    for (const yaml of [
      'store: postgres://gate:hunter2@db/gate',
      'store: "postgres://gate@db/gate?password=hunter2"',
      'store: { url: "postgres://gate:hunter2@db/gate" }',
    ]) {
      const err = (() => {
        try {
          parseConfig(yaml);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err?.message).toMatch(/gate\.yaml:1: store(\.url)?: must not hold a password/);
      expect(err?.message).not.toContain('hunter2');
    }
    expect(() => parseConfig('store: { url: "postgres://gate@db/gate", password: hunter2 }')).toThrow(
      /store\.password: must be a secret reference/,
    );
  });

  it('refuses what is not a store', () => {
    expect(() => parseConfig('store: mysql://db/gate')).toThrow(/store: must be `sqlite` or a postgres:\/\//);
    expect(() => parseConfig('store: sqlite3')).toThrow(/store: must be `sqlite` or a postgres/);
    expect(() => parseConfig('store: { uri: env:X }')).toThrow(/unknown key "uri"/);
  });
});

describe('openStore', () => {
  it('opens SQLite in the data dir by default', async () => {
    expect((await open('targets: {}')).kind).toBe('sqlite');
    expect((await open('store: sqlite')).kind).toBe('sqlite');
  });

  it('opens PostgreSQL with the password from a reference', async () => {
    const store = await open(`store: { url: "${url()}", password: env:PW }`, { PW: pg.password });
    expect(store.kind).toBe('postgres');
    await store.recordLogin({ sub: 'alice', groups: [], kind: 'user' }, new Date());
    const { rows } = await (store as PostgresStore).pool.query<{ sub: string }>('SELECT sub FROM logins');
    expect(rows).toEqual([{ sub: 'alice' }]);
  });

  it('takes a whole URL, password included, from the environment', async () => {
    const withPw = url().replace(`${pg.user}@`, `${pg.user}:${encodeURIComponent(pg.password)}@`);
    expect((await open('store: { url: env:GATE_STORE_URL }', { GATE_STORE_URL: withPw })).kind).toBe('postgres');
    const err = await refusal('store: { url: env:GATE_STORE_URL }', { GATE_STORE_URL: 'mysql://u:secret@h/db' });
    expect(err.message).toBe('store.url (env:GATE_STORE_URL) does not hold a postgres:// URL.');
    expect((await refusal('store: { url: env:GATE_STORE_URL }')).message).toMatch(/env:GATE_STORE_URL is not set/);
  });

  it('an unreachable database is one line naming the host, never the password', async () => {
    const port = await freePort();
    const err = await refusal(`store: { url: "${url('gate', port)}", password: env:PW }`, { PW: 'not-this-one' });
    expect(err.message).toMatch(new RegExp(`^Cannot open the PostgreSQL store at 127\\.0\\.0\\.1:${port}/gate: .*ECONNREFUSED`));
    expect(err.message).not.toContain('\n');
    expect(err.message).not.toContain('not-this-one');
  });

  it('`gate server` with an unreachable store stops with that line and exit code 1', async () => {
    const port = await freePort();
    const file = join(dataDir, 'gate.yaml');
    await writeFile(
      file,
      `store: postgres://gate@127.0.0.1:${port}/gate\nidentity:\n  oidc: { issuer: "https://login.example.com/", client_id: gate-cli }\n`,
    );
    const r = await runCli(['server', '--config', file, '--port', '0', '--data-dir', join(dataDir, 'srv')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: Cannot open the PostgreSQL store at 127\\.0\\.0\\.1:${port}/gate: .*ECONNREFUSED.*\\n`));
    expect(r.stdout).toBe('');
  });

  it('a wrong password or a missing database says so, naming the host', async () => {
    const bad = await refusal(`store: { url: "${url()}", password: env:PW }`, { PW: 'wrong-password-xyz' });
    expect(bad.message).toBe(`Cannot open the PostgreSQL store at 127.0.0.1:${pg.port}/gate_open: password authentication failed for user "postgres"`);
    const missing = await refusal(`store: { url: "${url('nope')}", password: env:PW }`, { PW: pg.password });
    expect(missing.message).toBe(`Cannot open the PostgreSQL store at 127.0.0.1:${pg.port}/nope: database "nope" does not exist`);
  });

  it('replicas starting together on an empty database migrate once', async () => {
    await pg.query('CREATE DATABASE gate_race');
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => createPostgresStore({ connectionString: url('gate_race'), password: pg.password, max: 2 })),
    );
    opened.push(...stores);
    const rows = await stores[0]!.pool.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
    // Every migration once, however many replicas raced to apply them.
    expect(Number(rows.rows[0]!.n)).toBe(PG_MIGRATIONS.length);
  });
});

describe('the change feed', () => {
  it('reconnects after losing its connection, asks for a resync, and delivers again', async () => {
    const connectionString = url();
    const here = await createPostgresStore({ connectionString, password: pg.password });
    const there = await createPostgresStore({ connectionString, password: pg.password });
    opened.push(here, there);
    const changes: StoreChange[] = [];
    let resynced!: () => void;
    const resync = new Promise<void>((resolve) => {
      resynced = resolve;
    });
    let heard!: () => void;
    const delivered = new Promise<void>((resolve) => {
      heard = resolve;
    });
    there.watch!({
      change: (c) => {
        changes.push(c);
        heard();
      },
      resync: () => resynced(),
    });
    // Kill every LISTENing backend, as a database failover would.
    await pg.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND datname = 'gate_open'`);
    await resync;
    await here.grants.insert({ id: 'g_after', requester: 'a', target: 't', state: 'pending', createdAt: 'x', expiresAt: null, data: {} });
    await delivered;
    expect(changes).toEqual([{ kind: 'grant', id: 'g_after' }]);
  });
});
