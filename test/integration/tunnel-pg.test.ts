/**
 * The PostgreSQL data path end to end: a real gate server whose postgres
 * target is a real (embedded) PostgreSQL, the built CLI's `gate connect`
 * spawned as a user runs it, and real clients (the psql binary, the `pg` npm
 * client) talking through the local listener, the HTTP Upgrade tunnel and the
 * gateway. Also proves the upstream password never reaches the CLI's side.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/log.js';
import { gateEnv, type RunningGate, startGate } from '../helpers/gate-bin.js';
import { freePort, sendRawCancel, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Stack, startStack } from '../helpers/stack.js';

const SECRET = `upstream-Pw-${Math.random().toString(36).slice(2)}-9c1e`;

let db: TestPostgres;
let stack: Stack;
let dir: string;
let pwFile: string;
let token: string;
const serverLog: string[] = [];
/** Everything the CLI printed, across every connect this suite ran. */
const cliOutput: string[] = [];
const configDirs: string[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function psql(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('psql', ['-X', '-v', 'ON_ERROR_STOP=1', ...args], {
      env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '10', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

async function waitFor(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function sleeping(): Promise<boolean> {
  const rows = await db.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'`);
  return rows.length > 0;
}

interface Connected {
  gate: RunningGate;
  ready: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  events(): Record<string, unknown>[];
}

/** Spawns `gate connect db --json …` and waits for its `ready` event. */
async function gateConnect(extra: string[] = []): Promise<Connected> {
  const env = await gateEnv({ GATE_TOKEN: token, GATE_SERVER: stack.url });
  configDirs.push(env.GATE_CONFIG_DIR!);
  const gate = startGate(['connect', 'db', '--json', ...extra], { env });
  const ready = JSON.parse(await gate.waitFor(/"event":"ready"/, 'stdout'));
  const events = () => gate.lines.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { gate, ready, env, events };
}

async function stopConnect(c: Connected): Promise<number | null> {
  const code = await c.gate.stop('SIGINT');
  cliOutput.push(...c.gate.lines.stdout, ...c.gate.lines.stderr);
  return code;
}

beforeAll(async () => {
  db = await startPostgres();
  await db.query(`create role app_rw login password '${SECRET}'`);
  await db.query('create table items (id int primary key, name text)');
  await db.query(`insert into items values (1, 'one'), (2, 'two')`);
  await db.query('grant all on items to app_rw');
  dir = await mkdtemp(join(tmpdir(), 'gate-tunnel-pg-'));
  pwFile = join(dir, 'app_rw.password');
  await writeFile(pwFile, SECRET, { mode: 0o600 });
  stack = await startStack({
    logger: createLogger({ level: 'debug', write: (line) => serverLog.push(line) }),
    configYaml: `
targets:
  db:
    type: postgres
    address: 127.0.0.1:${db.port}
    database: postgres
    roles:
      rw: { username: app_rw, password: file:${pwFile} }
policies:
  - { name: eng, groups: [engineering], targets: [db], roles: [rw], max_duration: 1h, approval: auto }
`,
  });
  token = await stack.loginAs('alice');
});

afterAll(async () => {
  await stack?.close();
  await db?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  for (const d of configDirs) await rm(d, { recursive: true, force: true });
});

describe('gate connect over TCP, with psql and pg', () => {
  let c: Connected;
  let conn: Record<string, string>;

  beforeAll(async () => {
    c = await gateConnect();
    conn = { PGHOST: String(c.ready.host), PGPORT: String(c.ready.port), PGUSER: String(c.ready.user), PGDATABASE: String(c.ready.database), PGSSLMODE: 'disable' };
  });
  afterAll(async () => {
    if (c) await stopConnect(c);
  });

  it('announces a ready event that says how to connect', () => {
    expect(c.ready).toMatchObject({
      event: 'ready',
      host: '127.0.0.1',
      socket: null,
      user: 'app_rw',
      database: 'postgres',
      target: 'db',
      role: 'rw',
    });
    expect(c.ready.port).toBeGreaterThan(0);
    expect(c.ready.url).toBe(`postgres://app_rw@127.0.0.1:${c.ready.port}/postgres?sslmode=disable`);
    expect(c.ready.grant_id).toMatch(/\S+/);
    expect(Date.parse(String(c.ready.expires_at))).toBeGreaterThan(Date.now());
  });

  it('psql runs queries, transactions, COPY in and out and a prepared statement', async () => {
    const script = [
      'select current_user, count(*) from items;',
      "begin; insert into items values (10, 'ten'); rollback;",
      "begin; insert into items values (11, 'eleven'); commit;",
      'copy items (id, name) from stdin;',
      '20\ttwenty',
      '21\ttwenty-one',
      '\\.',
      'copy (select id, name from items order by id) to stdout;',
      'prepare by_id(int) as select name from items where id = $1;',
      'execute by_id(21);',
    ].join('\n');
    const out = await psql(['-A', '-t'], { input: script, env: conn });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toBe('app_rw|2');
    // The rolled-back row is gone, the committed and copied ones are there.
    expect(out.stdout).not.toContain('ten\n');
    expect(lines).toContain('11\televen');
    expect(lines).toContain('20\ttwenty');
    expect(lines).toContain('21\ttwenty-one');
    expect(lines.at(-1)).toBe('twenty-one');
    expect((await db.query('select count(*)::int as n from items'))[0]!.n).toBe(5);
  });

  it('the pg client runs a transaction and a named prepared statement twice', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: Number(c.ready.port), user: 'app_rw', database: 'postgres' });
    await client.connect();
    try {
      await client.query('begin');
      await client.query('insert into items values ($1, $2)', [30, 'thirty']);
      expect((await client.query('select count(*)::int as n from items')).rows[0].n).toBe(6);
      await client.query('rollback');
      const q = { name: 'item-name', text: 'select name from items where id = $1' };
      expect((await client.query({ ...q, values: [1] })).rows).toEqual([{ name: 'one' }]);
      expect((await client.query({ ...q, values: [2] })).rows).toEqual([{ name: 'two' }]);
      expect((await client.query('select count(*)::int as n from items')).rows[0].n).toBe(5);
    } finally {
      await client.end();
    }
  });

  it("cancels a pg client's pg_sleep with a CancelRequest over a second tunnel", async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: Number(c.ready.port), user: 'app_rw', database: 'postgres' });
    await client.connect();
    try {
      const sleep = client.query('select pg_sleep(30)').then(
        () => 'finished',
        (err: Error) => err.message,
      );
      await waitFor(sleeping, 'pg_sleep to start');
      const key = client as unknown as { processID: number; secretKey: number };
      await sendRawCancel(Number(c.ready.port), key.processID, key.secretKey);
      expect(await sleep).toBe('canceling statement due to user request');
      // The session survives a cancel.
      expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  it('psql interrupted with Ctrl-C cancels its pg_sleep', async () => {
    const child = spawn('psql', ['-X', '-c', 'select pg_sleep(30)'], { env: { PATH: process.env.PATH, ...conn } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await waitFor(sleeping, 'pg_sleep to start');
    child.kill('SIGINT');
    expect(await closed).toBe(1);
    expect(stderr).toContain('canceling statement due to user request');
  });

  it('reports each local connection as opened and closed', async () => {
    await waitFor(() => c.events().filter((e) => e.event === 'connection_closed').length >= 4, 'connection_closed events');
    const events = c.events();
    const opened = events.filter((e) => e.event === 'connection_opened');
    const closed = events.filter((e) => e.event === 'connection_closed');
    expect(opened[0]).toMatchObject({ connection: 1, grant_id: c.ready.grant_id });
    expect(closed.find((e) => e.connection === 1)).toMatchObject({ connection: 1 });
    expect(Number(closed.find((e) => e.connection === 1)!.bytes_in)).toBeGreaterThan(0);
  });

  it('keeps the upstream password off the CLI: environ, argv, output, config dir, API answers, server log', async () => {
    const pid = c.gate.child.pid!;
    const environ = await readFile(`/proc/${pid}/environ`);
    const cmdline = await readFile(`/proc/${pid}/cmdline`);
    expect(environ.includes(SECRET)).toBe(false);
    expect(cmdline.includes(SECRET)).toBe(false);
    expect(cmdline.toString()).toContain('connect');

    for (const path of ['/v1/targets', '/v1/grants', `/v1/grants/${c.ready.grant_id}`, '/v1/config']) {
      const res = await request(`${stack.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.body.text();
      expect(res.statusCode, path).toBe(200);
      expect(body).not.toContain(SECRET);
      expect(body).not.toContain(pwFile);
    }

    const out = [...c.gate.lines.stdout, ...c.gate.lines.stderr].join('\n');
    expect(out).not.toContain(SECRET);
    for (const entry of await readdir(c.env.GATE_CONFIG_DIR!, { withFileTypes: true, recursive: true })) {
      if (entry.isFile()) expect(await readFile(join(entry.parentPath, entry.name), 'utf8')).not.toContain(SECRET);
    }
    // The server did log this suite's tunnels (debug level): none of it holds the secret.
    expect(serverLog.length).toBeGreaterThan(0);
    expect(serverLog.join('')).not.toContain(SECRET);
  });

  it('Ctrl-C closes the tunnel with a closed event and exit code 2', async () => {
    const other = await gateConnect();
    expect(await stopConnect(other)).toBe(2);
    expect(other.events().at(-1)).toMatchObject({ event: 'closed', reason: 'interrupted' });
  });
});

describe('gate connect listener modes', () => {
  it('--socket: psql reaches the database through a Unix socket in a private directory', async () => {
    const c = await gateConnect(['--socket']);
    try {
      expect(c.ready.socket).toBe(join(String(c.ready.host), '.s.PGSQL.5432'));
      expect(c.ready.port).toBe(5432);
      // Private: only the user can enter the socket's directory.
      expect((await stat(String(c.ready.host))).mode & 0o777).toBe(0o700);
      const out = await psql(['-A', '-t', '-c', 'select count(*) from items'], {
        env: { PGHOST: String(c.ready.host), PGPORT: '5432', PGUSER: 'app_rw', PGDATABASE: 'postgres' },
      });
      expect(out.stderr).toBe('');
      expect(out.stdout.trim()).toBe('5');
    } finally {
      await stopConnect(c);
    }
  });

  it('--port N listens on exactly that port', async () => {
    const port = await freePort();
    const c = await gateConnect(['--port', String(port)]);
    try {
      expect(c.ready.port).toBe(port);
      const out = await psql(['-A', '-t', '-h', '127.0.0.1', '-p', String(port), '-U', 'app_rw', '-d', 'postgres', '-c', 'select 41 + 1']);
      expect(out.stdout.trim()).toBe('42');
    } finally {
      await stopConnect(c);
    }
  });

  it('--local-password: refused without the one-time password, accepted with it', async () => {
    const c = await gateConnect(['--local-password']);
    try {
      const local = String(c.ready.local_password);
      expect(local.length).toBeGreaterThanOrEqual(16);
      expect(local).not.toBe(SECRET);
      expect(String(c.ready.url)).toContain(`app_rw:${encodeURIComponent(local)}@`);
      const args = ['-A', '-t', '-w', '-h', '127.0.0.1', '-p', String(c.ready.port), '-U', 'app_rw', '-d', 'postgres', '-c', 'select 1'];
      const without = await psql(args);
      expect(without.code).toBe(2);
      expect(without.stderr).toMatch(/password/i);
      const wrong = await psql(args, { env: { PGPASSWORD: SECRET } });
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain('password authentication failed');
      const right = await psql(args, { env: { PGPASSWORD: local } });
      expect(right.stderr).toBe('');
      expect(right.stdout.trim()).toBe('1');
    } finally {
      await stopConnect(c);
    }
  });

  it('no connect run ever printed the upstream password', () => {
    expect(cliOutput.length).toBeGreaterThan(0);
    expect(cliOutput.join('\n')).not.toContain(SECRET);
    expect(serverLog.join('')).not.toContain(SECRET);
  });
});
