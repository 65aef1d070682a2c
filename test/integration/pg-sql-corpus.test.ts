/**
 * The SQL corpus (test/fixtures/sql-corpus.ts) through `gate connect` against
 * a real PostgreSQL: every statement with the `pg` client in the simple
 * protocol, single statements also in the extended protocol (text and binary
 * results), and the lexing bypasses with psql. Every deny or hold leaves the
 * database as it was; every masked read shows no raw secret in any encoding.
 * One server, one database, connections reused.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/log.js';
import { CORPUS, type CorpusCase } from '../fixtures/sql-corpus.js';
import { gateEnv, type RunningGate, startGate } from '../helpers/gate-bin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { runCli, type Stack, startStack } from '../helpers/stack.js';

const SECRET = `corpus-Pw-${Math.random().toString(36).slice(2)}`;
const EMAILS = ['jane.doe@example.com', 'omar.k@example.org', 'li.wei@example.net'];
const SSNS = ['123-45-6789', '987-65-4321', '555-12-3456'];

let db: TestPostgres;
let stack: Stack;
let dir: string;
let gate: RunningGate;
let conn: { host: string; port: number; user: string; database: string };
let configDir: string | undefined;
let bobToken: string;

/** Every form a raw secret could take in a result. */
function forms(secret: string): string[] {
  const b = Buffer.from(secret, 'utf8');
  return [
    secret,
    secret.toUpperCase(),
    secret.split('').reverse().join(''),
    b.toString('hex'),
    b.toString('hex').toUpperCase(),
    b.toString('base64'),
    encodeURIComponent(secret),
  ];
}

function assertNoSecret(output: string, what: string): void {
  for (const s of [...EMAILS, ...SSNS]) {
    for (const f of forms(s)) expect(output.includes(f), `${what}: raw ${s} (as ${f}) reached the client`).toBe(false);
  }
}

async function intact(what: string): Promise<void> {
  const tables = await db.query<{ t: string }>(
    `select string_agg(tablename, ',' order by tablename) as t from pg_tables where schemaname = 'public'`,
    [],
  );
  expect(tables[0]!.t, what).toBe('customers,logs,logs_copy');
  const counts = await db.query<{ c: number; l: number; k: number }>(
    'select (select count(*)::int from customers) as c, (select count(*)::int from logs where id < 100) as l, (select count(*)::int from logs_copy) as k',
  );
  expect(counts[0], what).toEqual({ c: 3, l: 5, k: 0 });
  const msgs = await db.query<{ m: string }>(`select string_agg(coalesce(msg, 'NULL'), ',' order by id) as m from logs where id < 100`);
  expect(msgs[0]!.m, what).toBe('a,b,c,d,e');
  const views = await db.query<{ n: number }>(`select count(*)::int as n from pg_views where viewname = 'v_customers'`);
  expect(views[0]!.n, what).toBe(1);
  const rules = await db.query<{ n: number }>(`select count(*)::int as n from pg_rules where schemaname = 'public'`);
  expect(rules[0]!.n, what).toBe(0);
}

type Outcome = { ok: true; text: string } | { ok: false; code?: string; message: string };

async function run(c: pg.Client, q: string | pg.QueryConfig): Promise<Outcome> {
  try {
    const r = (await c.query(q as string)) as pg.QueryResult | pg.QueryResult[];
    const results = Array.isArray(r) ? r : [r];
    return { ok: true, text: JSON.stringify(results.map((x) => ({ fields: x.fields?.map((f) => f.name), rows: x.rows }))) };
  } catch (err) {
    const e = err as pg.DatabaseError;
    return { ok: false, code: e.code, message: e.message };
  }
}

const failures: string[] = [];

/** Puts the rows back after a statement that should not have run did (so one failure does not hide the rest). */
async function restore(): Promise<void> {
  await db.query(`insert into logs values (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e') on conflict (id) do update set msg = excluded.msg`);
  await db.query('delete from logs where id >= 100');
  await db.query('truncate logs_copy');
}

/** Checks one outcome; a mismatch is collected (all of them are reported at the end of the run). */
async function judge(k: CorpusCase, out: Outcome, how: string): Promise<void> {
  try {
    await judgeOne(k, out, how);
  } catch (err) {
    failures.push(`${how} ${JSON.stringify(k.sql)} (want ${k.expect}): ${(err as Error).message.split('\n')[0]}`);
    await restore();
  }
}

async function judgeOne(k: CorpusCase, out: Outcome, how: string): Promise<void> {
  const what = `${how}: ${JSON.stringify(k.sql)}`;
  switch (k.expect) {
    case 'deny':
      expect(out.ok, `${what} ran`).toBe(false);
      if (!out.ok) expect(out.message, what).toMatch(/^gate: /);
      await intact(what);
      return;
    case 'hold':
      expect(out.ok, `${what} ran`).toBe(false);
      if (!out.ok) expect(out.message, what).toMatch(/held for approval/);
      await intact(what);
      return;
    case 'allow':
      expect(out, what).toMatchObject({ ok: true });
      return;
    case 'masked':
      expect(out, what).toMatchObject({ ok: true });
      if (out.ok) assertNoSecret(out.text, what);
      return;
  }
}

function client(extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = new pg.Client({ ...conn, ...extra });
  c.on('error', () => {});
  return c.connect().then(() => c);
}

function psql(sql: string, env: Record<string, string> = {}, input?: Buffer): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const args = ['-X', '-At', '-h', conn.host, '-p', String(conn.port), '-U', conn.user, '-d', conn.database];
    const child = spawn('psql', input ? args : [...args, '-c', sql], { env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '10', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  db = await startPostgres();
  await db.query(`create role app_rw login password '${SECRET}'`);
  await db.query(`
    create table customers (id int primary key, name text, email text, ssn text, note text);
    insert into customers values
      (1, 'Jane', '${EMAILS[0]}', '${SSNS[0]}', 'card 4111 1111 1111 1111'),
      (2, 'Omar', '${EMAILS[1]}', '${SSNS[1]}', 'order 1234567890123'),
      (3, 'Li', '${EMAILS[2]}', '${SSNS[2]}', null);
    create table logs (id int primary key, msg text);
    insert into logs values (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e');
    create table logs_copy (id int, msg text);
    create view v_customers as select id, email from customers;
    create function f_delete_logs() returns trigger language plpgsql as $$ begin delete from logs; return null; end $$;
    alter table customers owner to app_rw;
    alter table logs owner to app_rw;
    alter table logs_copy owner to app_rw;
    alter view v_customers owner to app_rw;
    alter function f_delete_logs() owner to app_rw;
    grant create on schema public to app_rw;
  `);
  dir = await mkdtemp(join(tmpdir(), 'gate-corpus-'));
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
      rw: { username: app_rw, password: file:${pwFile} }
    guardrails:
      - { deny: { statements: [DROP, TRUNCATE, ALTER SYSTEM] }, message: 'never by hand' }
      - { deny: { functions: [pg_terminate_backend, lo_export, dblink*] } }
      - { require_approval: { statements: [DELETE, UPDATE], unfiltered: true }, message: 'needs a WHERE, or a second pair of eyes' }
      - { deny: '^\\s*vacuum\\s+full' }
    masking: { columns: [email, customers.ssn], detectors: [email, credit_card] }
policies:
  - { name: eng, groups: [engineering], targets: [db], roles: [rw], max_duration: 1h, approval: auto }
  - { name: dba, groups: [dba-oncall], targets: [db], roles: [rw], max_duration: 1h, approval: { approvers: [dba-oncall], min: 1 } }
`,
  });
  const token = await stack.loginAs('alice');
  bobToken = await stack.loginAs('bob');
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

describe('the SQL corpus through gate connect', () => {
  it(`has at least 150 statements (${CORPUS.length})`, () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(150);
  });

  it('simple protocol (pg): each statement gets its expected decision', async () => {
    const c = await client();
    try {
      failures.length = 0;
      for (const k of CORPUS) await judge(k, await run(c, k.sql), 'simple');
    } finally {
      await c.end();
    }
    expect(failures).toEqual([]);
  });

  it('extended protocol (pg, text and binary results): the same decisions', async () => {
    const text = await client();
    const binary = await client();
    try {
      failures.length = 0;
      let n = 0;
      for (const k of CORPUS.filter((x) => x.extended)) {
        await judge(k, await run(text, { text: k.sql, name: `s${n++}` }), 'extended');
        await judge(k, await run(binary, { text: k.sql, name: `b${n++}`, binary: true } as pg.QueryConfig), 'extended binary');
      }
    } finally {
      await text.end();
      await binary.end();
    }
    expect(failures).toEqual([]);
  });

  it('psql: the lexing bypasses are denied and the table stays', async () => {
    for (const sql of [
      '-- a comment ended by CR\rdrop table customers',
      'select 1 as é$tag$; drop table customers; select $tag$ x $tag$',
      "select E'a\\''; drop table customers; select ''",
    ]) {
      const r = await psql(sql);
      expect(r.stderr, sql).toContain('gate: never by hand');
      await intact(sql);
    }
    // SJIS: 表 is 0x95 0x5C, its second byte a backslash; PostgreSQL reads one character.
    const sjis = Buffer.concat([Buffer.from("select E'"), Buffer.from([0x95, 0x5c]), Buffer.from("'; drop table customers; select '';\n")]);
    const r = await psql('', { PGCLIENTENCODING: 'SJIS' }, sjis);
    expect(r.stderr).toContain('gate: never by hand');
    await intact('sjis');
  });

  it('numbers, hashes, UUIDs and timestamps are untouched; typed clients read correct values', async () => {
    const c = await client();
    try {
      const r = await c.query(
        `select 1764000000000::int8 as a, 4111111111111111::int8 as b, 4111111111111111::numeric as n, md5('x') as h,
           'd41d8cd98f004111111111111111e9800998ecf8427e' as hex, '123e4567-e89b-12d3-a456-426614174000'::uuid as u,
           '2026-12-02 01:23:45+00'::timestamptz as t`,
      );
      expect(r.rows[0]).toEqual({
        a: '1764000000000',
        b: '4111111111111111',
        n: '4111111111111111',
        h: '9dd4e461268c8034f5c8564e155c67a6',
        hex: 'd41d8cd98f004111111111111111e9800998ecf8427e',
        u: '123e4567-e89b-12d3-a456-426614174000',
        t: new Date('2026-12-02T01:23:45Z'),
      });
      const parsed = await c.query({ text: 'select $1::int8 as v', values: ['4111111111111111'] });
      expect(parsed.rows[0].v).toBe('4111111111111111');
    } finally {
      await c.end();
    }
  });

  it("a held statement goes through the server's approval store: exact text, single use", async () => {
    const c = await client();
    try {
      const text = 'delete from logs\nwhere true';
      const held = await run(c, text);
      expect(held.ok).toBe(false);
      const id = /request (a_\w+)/.exec(held.ok ? '' : held.message)![1]!;
      await intact('held');
      const env = { GATE_TOKEN: bobToken, GATE_SERVER: stack.url, GATE_CONFIG_DIR: configDir };
      const listed = await runCli(['grants', '--pending'], { env });
      expect(listed.stdout).toContain('  DELETE on logs, NOT filtered');
      expect(listed.stdout).toContain('  │ delete from logs\n  │ where true');
      const approved = await runCli(['approve', id], { env });
      expect(approved.code).toBe(0);
      // One byte different (a trailing space) is another statement: held again, under a new id.
      const other = await run(c, `${text} `);
      expect(other.ok).toBe(false);
      expect(other.ok ? '' : other.message).not.toContain(id);
      await intact('one byte different');
      // The approved text runs once...
      const ran = await run(c, text);
      expect(ran.ok).toBe(true);
      expect((await db.query<{ n: number }>('select count(*)::int as n from logs'))[0]!.n).toBe(0);
      await restore();
      // ...and only once.
      const again = await run(c, text);
      expect(again.ok).toBe(false);
      expect(again.ok ? '' : again.message).toMatch(/held for approval \(request a_/);
      await intact('single use');
    } finally {
      await c.end();
    }
  });

  it('COPY TO and pg_dump through the masked target: they work, masked columns masked', async () => {
    const copy = await psql('copy customers to stdout with (format csv)');
    expect(copy.stderr).toBe('');
    expect(copy.stdout.split('\n')[0]).toBe('1,Jane,****,****,card **** **** **** 1111');
    assertNoSecret(copy.stdout, 'copy');
    const dump = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('pg_dump', ['-h', conn.host, '-p', String(conn.port), '-U', conn.user, '-d', conn.database, '-t', 'customers', '-t', 'logs'], {
        env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '10' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(dump.stderr).toBe('');
    expect(dump.code).toBe(0);
    expect(dump.stdout).toContain('COPY public.customers (id, name, email, ssn, note) FROM stdin;');
    expect(dump.stdout).toContain('1\tJane\t****\t****\tcard **** **** **** 1111');
    assertNoSecret(dump.stdout, 'pg_dump');
  });
});
