/**
 * The CLI rides out a server restart (a replica going away behind a load
 * balancer): a connection `gate connect` dials while the server is down is
 * dialled again with back-off, gate says so on stderr, and the client gets
 * through once the server is back on the same port. (That refusals are never
 * retried: test/unit/server-retry.test.ts.)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateEnv, type RunningGate, startGate } from '../helpers/gate-bin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Stack, startStack } from '../helpers/stack.js';

const SECRET = `upstream-Pw-${Math.random().toString(36).slice(2)}-7f2a`;
let db: TestPostgres;
let stack: Stack;
let dir: string;
const running: RunningGate[] = [];
const envDirs: string[] = [];

function psql(port: number, sql: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn('psql', ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'app_rw', '-d', 'postgres', '-c', sql], {
    env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '30' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

async function connect(token: string): Promise<{ gate: RunningGate; port: number }> {
  const env = await gateEnv({ GATE_TOKEN: token, GATE_SERVER: stack.url });
  envDirs.push(env.GATE_CONFIG_DIR!);
  const gate = startGate(['connect', 'db', '--json'], { env });
  running.push(gate);
  const ready = JSON.parse(await gate.waitFor(/"event":"ready"/, 'stdout')) as { port: number };
  return { gate, port: ready.port };
}

beforeAll(async () => {
  db = await startPostgres();
  await db.query(`create role app_rw login password '${SECRET}'`);
  dir = await mkdtemp(join(tmpdir(), 'gate-fleet-retry-'));
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
});

afterAll(async () => {
  for (const g of running) await g.stop('SIGKILL');
  await stack?.close();
  await db?.stop();
  for (const d of [dir, ...envDirs]) if (d) await rm(d, { recursive: true, force: true });
});

describe('gate connect while the server restarts', () => {
  it('says it is retrying and gets the client through once the server is back on the same port', async () => {
    const { gate, port } = await connect(await stack.loginAs('alice'));
    let client!: ReturnType<typeof psql>;
    await stack.restart({
      whileDown: async () => {
        client = psql(port, "select 'through after the restart'");
        // The restart waits until gate has said what it does, so the dial surely met a down server.
        const line = await gate.waitFor(/server unreachable, retrying in/, 'stderr');
        expect(line).toMatch(/^gate: server unreachable, retrying in \d+(\.\d)?s \(attempt 2\/4\)…$/);
      },
    });
    const out = await client;
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('through after the restart');
    expect(out.code).toBe(0);
    await gate.stop('SIGINT');
  });
});
