/**
 * The postgres handler against a real PostgreSQL, driven by real clients: the
 * psql binary and the `pg` npm client connect to a loopback listener that
 * hands each socket straight to the handler (no tunnel).
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresTarget } from '../../src/config/schema.js';
import { handlePostgres } from '../../src/gateway/postgres/handler.js';
import {
  type FakeApprovals,
  fakeApprovals,
  grantEnded,
  type HandlerHarness,
  sendRawCancel,
  serveHandler,
  startPostgres,
  type TestPostgres,
} from '../helpers/postgres.js';

const RO_PASSWORD = 'ro-Secret-7f3a9c!';
const RW_PASSWORD = 'rw-Secret-b81e24!';

let db: TestPostgres;

function target(over: Partial<PostgresTarget> = {}): PostgresTarget {
  return {
    type: 'postgres',
    address: `127.0.0.1:${db.port}`,
    database: 'app',
    tls: { mode: 'disable' },
    roles: {
      read: { username: 'app_ro', password: 'env:RO' },
      write: { username: 'app_rw', password: 'env:RW' },
    },
    guardrails: [],
    masking: { columns: [], detectors: [] },
    record_input: false,
    recording: 'best-effort',
    ...over,
  };
}

const secrets = { 'env:RO': RO_PASSWORD, 'env:RW': RW_PASSWORD };

function psql(h: { port: number }, args: string[], input?: string, env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(h.port), '-U', 'whoever', '-d', 'whatever', ...args], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '10', PGPASSWORD: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function pgClient(h: { port: number }, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: h.port, user: 'whoever', database: 'whatever', ...extra });
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function sleeping(): Promise<boolean> {
  const rows = await db.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'`);
  return rows.length > 0;
}

beforeAll(async () => {
  db = await startPostgres();
  await db.query(`create role app_ro login password '${RO_PASSWORD}'`);
  await db.query(`create role app_rw login password '${RW_PASSWORD}'`);
  await db.query('create database app owner app_rw');
  const app = new pg.Client({ host: db.host, port: db.port, user: 'app_rw', password: RW_PASSWORD, database: 'app' });
  await app.connect();
  await app.query(`
    create table customers (id int primary key, name text, email text, card_number text, ssn text, note text, card_big bigint);
    insert into customers values
      (1, 'Jane', 'jane@example.com', '4111 1111 1111 1111', '123-45-6789', 'call jane@example.com or 4111-1111-1111-1111', 4111111111111111),
      (2, 'Omar', 'omar@example.org', '5500005555555559', '987-65-4321', 'order 1234567890123', 42);
    create table items (id int, label text);
    grant select on all tables in schema public to app_ro;
  `);
  await app.end();
});

afterAll(async () => {
  await db?.stop();
});

describe('postgres handler: relay', () => {
  let h: HandlerHarness;
  beforeAll(async () => {
    h = await serveHandler(handlePostgres, { target: target(), secrets, role: 'write' });
  });
  afterAll(async () => h?.close());

  it('runs psql queries as the role gate chose, not the user the client named', async () => {
    const r = await psql(h, ['-At', '-c', 'select current_user, current_database()']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('app_rw|app');
    await h.settled();
    const q = h.audit.find((e) => e.action === 'pg.query');
    expect(q?.details).toMatchObject({ statement: 'select current_user, current_database()', protocol: 'simple', rows: 1 });
    expect(h.audit.some((e) => e.action === 'pg.connect' && e.result === 'ok')).toBe(true);
    expect(h.audit.some((e) => e.action === 'pg.disconnect')).toBe(true);
  });

  it('keeps a transaction across statements and rolls back', async () => {
    const c = await pgClient(h);
    await c.query('begin');
    await c.query(`insert into items values (1, 'one')`);
    expect((await c.query('select count(*)::int as n from items')).rows[0].n).toBe(1);
    await c.query('rollback');
    expect((await c.query('select count(*)::int as n from items')).rows[0].n).toBe(0);
    await c.end();
  });

  it('runs prepared statements with parameters, named and unnamed, repeatedly', async () => {
    const c = await pgClient(h);
    for (let i = 0; i < 3; i++) {
      const r = await c.query({ name: 'by-id', text: 'select name from customers where id = $1', values: [1] });
      expect(r.rows).toEqual([{ name: 'Jane' }]);
    }
    const r2 = await c.query('select $1::int + $2::int as sum', [2, 3]);
    expect(r2.rows[0].sum).toBe(5);
    await c.end();
    await h.settled();
    const statements = h.audit.filter((e) => e.action === 'pg.query').map((e) => e.details.statement);
    expect(statements).toContain('select name from customers where id = $1');
    const sum = h.audit.find((e) => e.details.statement === 'select $1::int + $2::int as sum');
    expect(sum?.details).toMatchObject({ protocol: 'extended', rows: 1, tag: 'SELECT 1' });
  });

  it('audits a failing statement with its SQLSTATE, in both protocols', async () => {
    const c = await pgClient(h);
    await expect(c.query('select * from no_such_table')).rejects.toThrow(/does not exist/);
    await expect(c.query('select * from no_such_table where id = $1', [1])).rejects.toThrow(/does not exist/);
    expect((await c.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    await c.end();
    await h.settled();
    const failed = h.audit.filter((e) => e.action === 'pg.query' && e.result === 'error');
    expect(failed.map((e) => [e.details.protocol, (e.details.error as { sqlstate: string }).sqlstate])).toEqual([
      ['simple', '42P01'],
      ['extended', '42P01'],
    ]);
  });

  it('copies rows in with COPY FROM STDIN and out with COPY TO STDOUT', async () => {
    const inRes = await psql(h, ['-c', 'copy items from stdin'], '7\tseven\n8\teight\n\\.\n');
    expect(inRes.stderr).toBe('');
    expect(inRes.stdout).toContain('COPY 2');
    const out = await psql(h, ['-c', 'copy (select * from items order by id) to stdout']);
    expect(out.stdout).toBe('7\tseven\n8\teight\n');
    await psql(h, ['-c', 'delete from items']);
  });

  it('cancels a running pg_sleep when psql is interrupted (CancelRequest over a new connection)', async () => {
    const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(h.port), '-c', 'select pg_sleep(30)'], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await waitFor(sleeping, 'pg_sleep to start');
    child.kill('SIGINT');
    await closed;
    expect(stderr).toContain('canceling statement due to user request');
    await h.settled();
    expect(h.audit.some((e) => e.action === 'pg.cancel' && e.result === 'ok')).toBe(true);
  });

  it('never puts a role password into an audit event', async () => {
    await h.settled();
    const text = JSON.stringify(h.audit);
    expect(text).not.toContain(RO_PASSWORD);
    expect(text).not.toContain(RW_PASSWORD);
  });
});

describe('postgres handler: cancel keys are bound to the grant', () => {
  it('ignores a CancelRequest that arrives under another grant', async () => {
    let n = 0;
    // First connection runs under g_a, every later one (the cancel) under g_b.
    const h = await serveHandler(handlePostgres, { target: target(), secrets, grantId: () => (n++ === 0 ? 'g_a' : 'g_b') });
    try {
      const c = await pgClient(h);
      const sleep = c.query('select pg_sleep(30)').catch((e: Error) => e);
      await waitFor(sleeping, 'pg_sleep to start');
      // What libpq and pg do to cancel: a new connection that sends only a CancelRequest with c's key.
      const key = c as unknown as { processID: number; secretKey: number };
      await sendRawCancel(h.port, key.processID, key.secretKey);
      await waitFor(async () => h.audit.some((e) => e.action === 'pg.cancel'), 'cancel audit');
      expect(h.audit.find((e) => e.action === 'pg.cancel')?.result).toBe('denied');
      expect(await sleeping()).toBe(true);
      h.controllers[0]!.abort(grantEnded('g_a'));
      expect(String(await sleep)).toContain('gate grant g_a expired');
      await c.end().catch(() => {});
    } finally {
      await h.close();
    }
  });
});

describe('postgres handler: upstream failures', () => {
  it('tells the client the upstream login failed, naming target and role, without the password', async () => {
    const wrong = 'wrong-pw-91c2';
    const h = await serveHandler(handlePostgres, { target: target(), secrets: { 'env:RO': wrong } });
    try {
      const err = await pgClient(h).then(
        () => undefined,
        (e: pg.DatabaseError) => e,
      );
      expect(err?.code).toBe('28P01');
      expect(err?.message).toBe('gate: cannot reach db-test upstream: authentication failed for role app_ro');
      const r = await psql(h, ['-c', 'select 1']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('gate: cannot reach db-test upstream: authentication failed for role app_ro');
      await h.settled();
      expect(JSON.stringify(h.audit)).not.toContain(wrong);
      expect(h.audit.some((e) => e.action === 'pg.connect' && e.result === 'error')).toBe(true);
    } finally {
      await h.close();
    }
  });

  it('reports a refused upstream connection as an ErrorResponse', async () => {
    const h = await serveHandler(handlePostgres, { target: target({ address: '127.0.0.1:1' }), secrets });
    try {
      const err = await pgClient(h).then(
        () => undefined,
        (e: pg.DatabaseError) => e,
      );
      expect(err?.code).toBe('08001');
      expect(err?.message).toBe('gate: cannot reach db-test upstream: connection refused');
    } finally {
      await h.close();
    }
  });
});

describe('postgres handler: local password', () => {
  let h: HandlerHarness;
  beforeAll(async () => {
    h = await serveHandler(handlePostgres, { target: target(), secrets, localPassword: 'local-one-time' });
  });
  afterAll(async () => h?.close());

  it('accepts the right local password', async () => {
    const c = await pgClient(h, { password: 'local-one-time' });
    expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await c.end();
  });

  it('refuses a wrong local password with 28P01 and never reaches upstream', async () => {
    const err = await pgClient(h, { password: 'nope' }).then(
      () => undefined,
      (e: pg.DatabaseError) => e,
    );
    expect(err?.code).toBe('28P01');
    expect(err?.message).toContain('wrong local password');
    const r = await psql(h, ['-w', '-c', 'select 1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no password supplied');
  });
});

describe('postgres handler: guardrails', () => {
  let h: HandlerHarness;
  let approvals: FakeApprovals;
  beforeAll(async () => {
    approvals = fakeApprovals();
    h = await serveHandler(handlePostgres, {
      target: target({
        guardrails: [
          { deny: '^\\s*drop\\s', message: 'DROP is never allowed on db-test' },
          { require_approval: { statements: ['DELETE', 'UPDATE'], unfiltered: true }, message: 'DELETE needs a second pair of eyes' },
        ],
      }),
      secrets,
      role: 'write',
      approvals,
    });
  });
  afterAll(async () => h?.close());

  it('denies a statement without forwarding it and keeps the connection usable (simple protocol)', async () => {
    const c = await pgClient(h);
    await c.query('begin');
    const err = await c.query('drop table items').catch((e: pg.DatabaseError) => e);
    expect((err as pg.DatabaseError).code).toBe('42501');
    expect((err as pg.DatabaseError).message).toBe('gate: DROP is never allowed on db-test');
    // Still in the transaction upstream, and the table is still there.
    expect((await c.query('select count(*)::int as n from items')).rows[0].n).toBe(0);
    await c.query('commit');
    // A comment in front and a second statement do not get past the rule.
    const err2 = await c.query('select 1; /* hi */ DROP TABLE items').catch((e: Error) => e);
    expect(String(err2)).toContain('DROP is never allowed');
    expect((await c.query(`select to_regclass('public.items')::text as t`)).rows[0].t).toBe('items');
    await c.end();
    await h.settled();
    expect(h.audit.some((e) => e.action === 'pg.guardrail_denied' && e.details.rule === 'deny /^\\s*drop\\s/')).toBe(true);
  });

  it('denies in the extended protocol and answers the Sync so the next query works', async () => {
    const c = await pgClient(h);
    const err = await c
      .query({ name: 'dropper', text: 'drop table if exists items' })
      .catch((e: pg.DatabaseError) => e);
    expect((err as pg.DatabaseError).message).toBe('gate: DROP is never allowed on db-test');
    const r = await c.query('select $1::text as v', ['still here']);
    expect(r.rows).toEqual([{ v: 'still here' }]);
    await c.end();
  });

  it('shows psql the denial and goes on with the next command', async () => {
    const r = await psql(h, ['-At', '-c', 'drop table items', '-c', 'select 42', '-c', `select to_regclass('public.items')::text`]);
    expect(r.stderr).toContain('ERROR:  gate: DROP is never allowed on db-test');
    // The same connection answers the next commands, and the table is untouched.
    expect(r.stdout).toBe('42\nitems\n');
    expect(r.stderr).not.toMatch(/server closed|connection to server/);
  });

  it('holds a statement for approval, naming the request; once approved the same statement runs', async () => {
    const c = await pgClient(h);
    await c.query(`insert into items values (1, 'a'), (2, 'b')`);
    const err = await c.query('delete from items').catch((e: pg.DatabaseError) => e);
    const id = approvals.requests.at(-1)!.id;
    expect((err as pg.DatabaseError).message).toBe(
      `gate: statement held for approval (request ${id}): DELETE needs a second pair of eyes. Ask an approver to run: gate approve ${id} — then run the statement again.`,
    );
    expect((await c.query('select count(*)::int as n from items')).rows[0].n).toBe(2);
    approvals.approve(id);
    const ok = await c.query('delete from items');
    expect(ok.rowCount).toBe(2);
    // A DELETE with a WHERE on the next line is not held.
    await c.query(`insert into items values (3, 'c')`);
    await c.query('delete from items\n where id = 3');
    // Extended protocol: held, then approved.
    await c.query(`insert into items values (4, 'd')`);
    const err2 = await c.query('update items set label = $1', ['x']).catch((e: Error) => e);
    expect(String(err2)).toContain('statement held for approval');
    approvals.approve(approvals.requests.at(-1)!.id);
    const ok2 = await c.query('update items set label = $1', ['x']);
    expect(ok2.rowCount).toBe(1);
    await c.query('delete from items where id > 0');
    await c.end();
    await h.settled();
    expect(h.audit.some((e) => e.action === 'pg.guardrail_held' && e.result === 'held')).toBe(true);
  });
});

describe('postgres handler: masking', () => {
  let h: HandlerHarness;
  beforeAll(async () => {
    h = await serveHandler(handlePostgres, {
      target: target({ masking: { columns: ['SSN'], detectors: ['email', 'credit_card'] } }),
      secrets,
    });
  });
  afterAll(async () => h?.close());

  it('masks named columns and detected values in psql output', async () => {
    const r = await psql(h, ['-A', '-F', '|', '-c', 'select name, email, card_number, ssn, note, card_big from customers order by id']);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('name|email|card_number|ssn|note|card_big');
    // card_big is a bigint: a number is never rewritten by a detector.
    expect(lines[1]).toBe('Jane|j***@example.com|**** **** **** 1111|****|call j***@example.com or ****-****-****-1111|4111111111111111');
    expect(lines[2]).toBe('Omar|o***@example.org|************5559|****|order 1234567890123|42');
    expect(r.stdout).not.toContain('123-45-6789');
  });

  it('masks through pg with binary results and a parameterized query', async () => {
    const c = await pgClient(h, { binary: true } as pg.ClientConfig);
    // (pg decodes every binary field through a UTF-8 string, so binary int8 is checked on the wire in pg-sql-corpus.)
    const r = await c.query('select id, name, email, card_number, ssn from customers where id = $1', [1]);
    expect(r.rows).toEqual([{ id: 1, name: 'Jane', email: 'j***@example.com', card_number: '**** **** **** 1111', ssn: '****' }]);
    const typed = await pgClient(h);
    const n = await typed.query('select card_big, 1764000000000::int8 as n, 4111111111111111::numeric as m from customers where id = 1');
    expect(n.rows).toEqual([{ card_big: '4111111111111111', n: '1764000000000', m: '4111111111111111' }]);
    await typed.end();
    // Named statement, executed again without a new Describe of the statement.
    for (let i = 0; i < 2; i++) {
      const again = await c.query({ name: 'q', text: 'select ssn, email from customers where id = $1', values: [2] });
      expect(again.rows).toEqual([{ ssn: '****', email: 'o***@example.org' }]);
    }
    await c.end();
  });

  it('masks an aliased, computed or whole-row masked column (catalog OIDs and lineage)', async () => {
    const r = await psql(h, ['-At', '-F', '|', '-c', `select ssn as s, upper(ssn), ssn || '', c from customers c where id = 1`]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('****|****|****|****');
    expect(r.stdout).not.toContain('6789');
    await h.settled();
    const q = h.audit.filter((e) => e.action === 'pg.query').at(-1)!;
    expect(q.details.masked_columns).toEqual(['s', 'upper', '?column?', 'c']);
  });

  it('masks COPY TO STDOUT rows (text and csv) and refuses binary COPY of a masked column', async () => {
    const r = await psql(h, ['-c', 'copy (select id, email, ssn from customers order by id) to stdout']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1\tj***@example.com\t****\n2\to***@example.org\t****\n');
    const csv = await psql(h, ['-c', 'copy customers (id, ssn, card_big) to stdout with (format csv)']);
    expect(csv.stdout).toBe('1,****,4111111111111111\n2,****,42\n');
    const bin = await psql(h, ['-c', 'copy customers to stdout with (format binary)']);
    expect(bin.stderr).toContain('binary COPY is refused on db-test because its results are masked; use the text or csv format');
    expect(bin.stdout).not.toContain('6789');
  });
});

describe('postgres handler: grant end', () => {
  it('cuts a running query with 57P01 naming the grant, and frees the upstream backend', async () => {
    const h = await serveHandler(handlePostgres, { target: target(), secrets, grantId: 'g_123' });
    try {
      const c = await pgClient(h);
      const ended = new Promise<Error>((resolve) => c.on('error', resolve));
      const q = c.query('select pg_sleep(30)').catch((e: Error) => e);
      await waitFor(sleeping, 'pg_sleep to start');
      h.controllers[0]!.abort(grantEnded('g_123'));
      const err = (await q) as pg.DatabaseError;
      expect(err.message).toBe('terminating connection: gate grant g_123 expired');
      expect(err.code).toBe('57P01');
      await ended.catch(() => {});
      await waitFor(async () => !(await sleeping()), 'the upstream statement to stop');
      await h.settled();
      expect(h.audit.some((e) => e.action === 'pg.disconnect')).toBe(true);
    } finally {
      await h.close();
    }
  });

  it('shows psql the termination message', async () => {
    const h = await serveHandler(handlePostgres, { target: target(), secrets, grantId: 'g_456' });
    try {
      const p = psql(h, ['-c', 'select pg_sleep(30)']);
      await waitFor(sleeping, 'pg_sleep to start');
      h.controllers[0]!.abort(grantEnded('g_456'));
      const r = await p;
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('terminating connection: gate grant g_456 expired');
    } finally {
      await h.close();
    }
  });
});

describe('postgres handler: startup options (PGOPTIONS)', () => {
  it('passes allow-listed settings and refuses the rest with a notice and an audit event', async () => {
    const h = await serveHandler(handlePostgres, { target: target(), secrets });
    try {
      const r = await psql(h, ['-At', '-c', 'show statement_timeout', '-c', 'show session_replication_role', '-c', 'show search_path'], '', {
        PGOPTIONS: '-c statement_timeout=1234 -c session_replication_role=replica --search-path=public,pg_catalog',
      });
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(['1234ms', 'origin', 'public,pg_catalog']);
      expect(r.stderr).toContain('NOTICE:  gate: ignored startup option session_replication_role on db-test');
      await h.settled();
      expect(h.audit.find((e) => e.action === 'pg.startup_options_refused')?.details.refused).toEqual(['session_replication_role']);
    } finally {
      await h.close();
    }
  });
});
