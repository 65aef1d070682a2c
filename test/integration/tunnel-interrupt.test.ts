/**
 * However `gate connect` ends a PostgreSQL client's connection, psql shows a
 * FATAL from gate saying why, and the statement it was running is cancelled
 * upstream (pg_stat_activity). New connections while the gate server is down
 * are answered with an error that names the cause instead of a bare close.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateEnv, type RunningGate, startGate } from '../helpers/gate-bin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Stack, startStack } from '../helpers/stack.js';

const SECRET = `upstream-Pw-${Math.random().toString(36).slice(2)}-9c1e`;

let db: TestPostgres;
let stack: Stack;
let dir: string;
let token: string;
const running: RunningGate[] = [];
const envDirs: string[] = [];

function psql(port: number, sql: string): { done: Promise<{ code: number | null; stderr: string; stdout: string }> } {
  const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'app_rw', '-d', 'postgres', '-c', sql], {
    env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '10' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return { done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))) };
}

async function sleeping(): Promise<number> {
  for (;;) {
    const rows = await db.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep(600)%' and state = 'active'`);
    if (rows[0]!.n > 0) return rows[0]!.n;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stillSleeping(): Promise<number> {
  // The cancel travels gate → gateway → PostgreSQL; wait until the backend has acted on it.
  for (let i = 0; i < 200; i++) {
    const rows = await db.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep(600)%' and state = 'active'`);
    if (rows[0]!.n === 0) return 0;
    await new Promise((r) => setTimeout(r, 50));
  }
  return 1;
}

/** A loopback hop in front of the gate server that a test cuts (RST), as a crash or a network failure would. */
async function startHop(target: URL): Promise<{ url: string; cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    cut: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.resetAndDestroy();
      }),
  };
}

async function connect(extraEnv: Record<string, string> = {}): Promise<{ gate: RunningGate; port: number }> {
  const env = await gateEnv({ GATE_TOKEN: token, GATE_SERVER: stack.url, ...extraEnv });
  envDirs.push(env.GATE_CONFIG_DIR!);
  const gate = startGate(['connect', 'db', '--json'], { env });
  running.push(gate);
  const ready = JSON.parse(await gate.waitFor(/"event":"ready"/, 'stdout')) as { port: number };
  return { gate, port: ready.port };
}

beforeAll(async () => {
  db = await startPostgres();
  await db.query(`create role app_rw login password '${SECRET}'`);
  dir = await mkdtemp(join(tmpdir(), 'gate-interrupt-'));
  const pwFile = join(dir, 'pw');
  await writeFile(pwFile, SECRET, { mode: 0o600 });
  stack = await startStack({
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
  for (const g of running) await g.stop('SIGKILL');
  await stack?.close();
  await db?.stop();
  for (const d of [dir, ...envDirs]) if (d) await rm(d, { recursive: true, force: true });
});

describe('gate connect stopped while a query runs', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal}: psql prints gate's FATAL and the query is cancelled upstream`, async () => {
      const { gate, port } = await connect();
      const client = psql(port, 'select pg_sleep(600)');
      await sleeping();
      gate.child.kill(signal);
      const out = await client.done;
      expect(out.stderr).toContain('FATAL:  gate: gate was stopped (Ctrl-C or SIGTERM), so the tunnel closed');
      expect(out.code).not.toBe(0);
      expect(await stillSleeping()).toBe(0);
      expect(await gate.exited).toBe(2);
    });
  }
});

describe('new connections the tunnel cannot serve', () => {
  it('while the gate server is down: psql hears that it cannot be reached, not "server closed the connection"', async () => {
    const { gate, port } = await connect();
    await stack.restart({
      whileDown: async () => {
        const out = await psql(port, 'select 1').done;
        expect(out.code).not.toBe(0);
        expect(out.stderr).toMatch(/FATAL: {2}gate: .*(reach|connect|server)/i);
        expect(out.stderr).not.toContain('server closed the connection unexpectedly');
      },
    });
    await gate.stop('SIGINT');
  });
});

describe('sessions already open when the gate server goes away', () => {
  it('the server stops: psql prints the FATAL that says so', async () => {
    const { gate, port } = await connect();
    const client = psql(port, 'select pg_sleep(600)');
    await sleeping();
    await stack.restart({
      whileDown: async () => {
        const out = await client.done;
        expect(out.code).not.toBe(0);
        // (libpq adds its "server closed the connection" paragraph after any FATAL that ends a running query.)
        expect(out.stderr).toContain('FATAL:  terminating connection: the gate server is shutting down');
      },
    });
    expect(await stillSleeping()).toBe(0);
    await gate.stop('SIGINT');
  });

  it('the connection to the server is lost (crash, network): psql prints gate\'s FATAL naming it', async () => {
    const hop = await startHop(new URL(stack.url));
    const { gate, port } = await connect({ GATE_SERVER: hop.url });
    const client = psql(port, 'select pg_sleep(600)');
    await sleeping();
    await hop.cut();
    const out = await client.done;
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('FATAL:  gate: the connection to the gate server was lost (it stopped, or the network failed), so the tunnel closed');
    await gate.stop('SIGINT');
  });
});

describe('a token that expires while a session is open', () => {
  it('the open session goes on (the grant, not the login, bounds it); a new connection hears that the token expired', async () => {
    const { gate, port } = await connect();
    const client = psql(port, 'select pg_sleep(1.5), 42 as answer');
    for (;;) {
      const rows = await db.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep(1.5)%'`);
      if (rows[0]!.n > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    stack.shiftClock(2 * 60 * 60_000);
    try {
      const out = await client.done;
      expect(out.stderr).toBe('');
      expect(out.stdout).toContain('42');
      const next = await psql(port, 'select 1').done;
      expect(next.code).not.toBe(0);
      expect(next.stderr).toMatch(/FATAL: {2}gate: .*(expired|token)/i);
      expect(next.stderr).toContain('GATE_TOKEN is set');
    } finally {
      stack.shiftClock(-2 * 60 * 60_000);
    }
    await gate.stop('SIGINT');
  });
});
