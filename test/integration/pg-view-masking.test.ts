/**
 * Masking follows views. `masking.columns: [customers.email]` (no detectors,
 * so only the column rule can hide a value) must hide the email read through
 * a view that renames it, computes from it, a view over that view, and a
 * materialized view, against a real PostgreSQL through `gate connect`; views
 * created in the session too. A view over unmasked columns stays readable.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/log.js';
import { gateEnv, type RunningGate, startGate } from '../helpers/gate-bin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Stack, startStack } from '../helpers/stack.js';

const SECRET = `views-Pw-${Math.random().toString(36).slice(2)}`;
const EMAILS = ['jane.doe@example.com', 'omar.k@example.org'];

let db: TestPostgres;
let stack: Stack;
let dir: string;
let gate: RunningGate;
let configDir: string | undefined;
let conn: pg.ClientConfig;

function forms(secret: string): string[] {
  const b = Buffer.from(secret, 'utf8');
  return [secret, secret.toUpperCase(), secret.toLowerCase(), b.toString('hex'), b.toString('base64')];
}

async function read(sql: string, binary = false): Promise<string> {
  const c = new pg.Client(conn);
  c.on('error', () => {});
  await c.connect();
  try {
    const r = await c.query({ text: sql, ...(binary ? { binary: true } : {}) } as pg.QueryConfig);
    return JSON.stringify(r.rows);
  } finally {
    await c.end();
  }
}

function expectNoEmail(out: string, what: string): void {
  for (const e of EMAILS) for (const f of forms(e)) expect(out.includes(f), `${what}: raw ${e} (as ${f}) reached the client: ${out}`).toBe(false);
}

beforeAll(async () => {
  db = await startPostgres();
  await db.query(`create role app_ro login password '${SECRET}'`);
  await db.query(`
    create table customers (id int primary key, name text, email text);
    insert into customers values (1, 'Jane', '${EMAILS[0]}'), (2, 'Omar', '${EMAILS[1]}');
    create view v_plain as select id, email from customers;
    create view v_alias as select id, email as contact from customers;
    create view v_expr as select id, upper(email) as shout, name from customers;
    create view v_over as select id, contact as c2 from v_alias;
    create view v_safe as select id, name from customers;
    create materialized view mv_contacts as select id, email as addr from customers;
    grant select on all tables in schema public to app_ro;
    grant create on schema public to app_ro;
  `);
  dir = await mkdtemp(join(tmpdir(), 'gate-views-'));
  const pwFile = join(dir, 'pw');
  await writeFile(pwFile, SECRET, { mode: 0o600 });
  stack = await startStack({
    logger: createLogger({ level: 'error', write: () => {} }),
    configYaml: `
targets:
  db:
    type: postgres
    address: 127.0.0.1:${db.port}
    database: postgres
    roles:
      ro: { username: app_ro, password: file:${pwFile} }
    masking: { columns: [customers.email] }
policies:
  - { name: eng, groups: [engineering], targets: [db], roles: [ro], max_duration: 1h, approval: auto }
`,
  });
  const token = await stack.loginAs('alice');
  const env = await gateEnv({ GATE_TOKEN: token, GATE_SERVER: stack.url });
  configDir = env.GATE_CONFIG_DIR;
  gate = startGate(['connect', 'db', '--json'], { env });
  const ready = JSON.parse(await gate.waitFor(/"event":"ready"/, 'stdout')) as Record<string, unknown>;
  conn = { host: String(ready.host), port: Number(ready.port), user: String(ready.user), database: String(ready.database) };
});

afterAll(async () => {
  await gate?.stop('SIGINT');
  await stack?.close();
  await db?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

describe('a masked column read through views', () => {
  const reads = [
    'select email from v_plain',
    'select * from v_plain',
    'select contact from v_alias',
    'select contact as x from v_alias',
    'select * from v_alias',
    'select lower(contact) from v_alias',
    'select string_agg(contact, \',\') from v_alias',
    'select v from v_alias v',
    'select row_to_json(v) from v_alias v',
    'select shout from v_expr',
    'select c2 from v_over',
    'select upper(c2) || \'\' from v_over',
    'select addr from mv_contacts',
    'select (select max(addr) from mv_contacts)',
    'with w as (select c2 from v_over) select * from w',
  ];
  for (const sql of reads) {
    it(`is masked: ${sql} (text and binary)`, async () => {
      expectNoEmail(await read(sql), sql);
      expectNoEmail(await read(sql, true), `${sql} (binary)`);
    });
  }

  it('COPY (select … from a view) TO STDOUT is masked (psql)', async () => {
    const out = await new Promise<string>((resolve) => {
      const child = spawn('psql', ['-X', '-At', '-h', String(conn.host), '-p', String(conn.port), '-U', String(conn.user), '-d', String(conn.database), '-c', 'copy (select id, c2 from v_over) to stdout with (format csv)'], {
        env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '10' },
      });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.stderr.on('data', (d) => (text += d));
      child.on('close', () => resolve(text));
    });
    expect(out).toMatch(/^1,/m);
    expectNoEmail(out, 'copy');
  });

  it('a view of unmasked columns, and unmasked columns of a masking view, stay readable', async () => {
    expect(JSON.parse(await read('select name from v_safe order by id'))).toEqual([{ name: 'Jane' }, { name: 'Omar' }]);
    expect(JSON.parse(await read('select id, name from v_expr order by id'))).toEqual([
      { id: 1, name: 'Jane' },
      { id: 2, name: 'Omar' },
    ]);
  });

  it('a view created in the session is masked from its first read', async () => {
    const c = new pg.Client(conn);
    await c.connect();
    try {
      await c.query('create view v_new as select id, email as e, name from customers');
      await c.query('create view v_new_star as select * from customers');
      for (const sql of ['select e from v_new', 'select lower(e) from v_new', 'select email from v_new_star', 'select * from v_new_star']) {
        expectNoEmail(JSON.stringify((await c.query(sql)).rows), sql);
      }
      expect((await c.query('select name from v_new order by id')).rows).toEqual([{ name: 'Jane' }, { name: 'Omar' }]);
    } finally {
      await c.end();
    }
  });

  it('a later session sees the view created earlier as a masking view too', async () => {
    expectNoEmail(await read('select upper(e) from v_new'), 'new session');
  });
});
