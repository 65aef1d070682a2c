/**
 * One audit journal writer per data dir. Before the lock, a second server
 * started on the same directory replayed and deleted the segment the first
 * was still appending to, so what the first journaled next was on disk under
 * no name (a kill -9 would have lost it). Now the second runs without a
 * journal, says so, and leaves the first one's alone.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';

const logger = createLogger({ level: 'silent' });
const grant = { id: 'g_lock', user: 'lock@example.com', target: 'db', role: 'read' } as never;
const start = (dataDir: string, log = logger) => buildServer({ config: parseConfig(''), dataDir, logger: log });
let dirs: string[] = [];
let servers: GateServer[] = [];

afterEach(async () => {
  for (const s of servers) await s.close().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  servers = [];
  dirs = [];
});

async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'gate-lock-'));
  dirs.push(d);
  return d;
}

/** Every line the journal holds on disk. */
async function journaled(dir: string): Promise<string> {
  const j = join(dir, 'audit-journal');
  return (await Promise.all((await readdir(j)).map((f) => readFile(join(j, f), 'utf8')))).join('');
}

function journal(server: GateServer, statement: string): void {
  server.ctx.audit.fromGateway({ action: 'pg.query', result: 'ok', details: { statement } }, { grant });
  server.ctx.audit.sync();
}

it('a second server on a data dir in use runs without the journal, says why, and leaves the first one journaling', async () => {
  const dir = await dataDir();
  const first = await start(dir);
  servers.push(first);
  journal(first, 'select 1');
  const warnings: { msg: string; lock?: string }[] = [];
  const second = await start(dir, createLogger({ level: 'warn', write: (line) => warnings.push(JSON.parse(line)) }));
  servers.push(second);
  await second.ctx.audit.flush();
  expect(warnings).toEqual([expect.objectContaining({ msg: expect.stringMatching(/another gate server is running on this data dir: this one runs without the audit journal/), lock: join(dir, 'server.lock') })]);
  journal(first, 'select 2 -- after the second started');
  journal(second, 'select 3 -- from the second');
  await second.ctx.audit.flush();
  const onDisk = await journaled(dir);
  expect(onDisk).toContain('after the second started');
  expect(onDisk).not.toContain('from the second');
  // Both reached the store (one SQLite file); once the first has stopped, the next start takes the journal over.
  await first.close();
  await second.close();
  servers = [];
  const next = await start(dir);
  servers.push(next);
  const events = await next.ctx.audit.list({ action: 'pg.query' } as never);
  expect(events.map((e) => JSON.parse(e.details).statement).sort()).toEqual(['select 1', 'select 2 -- after the second started', 'select 3 -- from the second']);
  journal(next, 'select 4');
  expect(await journaled(dir)).toContain('select 4');
});

it('a lock left by a killed server does not hold the directory', async () => {
  const dir = await dataDir();
  const lock = join(dir, 'server.lock');
  // A process that holds the lock the way a server does, then dies by SIGKILL: its socket file stays behind.
  const holder = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(lock)}, () => console.log('held'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  expect((await stat(lock)).isSocket()).toBe(true);
  const server = await start(dir);
  servers.push(server);
  journal(server, 'select 3');
  expect(await journaled(dir)).toContain('select 3');
});
