/**
 * No audit event lost when the store fails: with the PostgreSQL store
 * stopped, statements keep flowing and their events wait in the server's
 * fsync'd spool; once the store is back they are replayed in order and the
 * chain verifies. When the spool cannot be written either, the gateway fails
 * closed: the client's next statement gets an ErrorResponse naming audit.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';
import { dialTunnel } from '../../src/tunnel/dialer.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let store: TestPostgres;
let target: TestPostgres;
let work: string;
let server: GateServer;
let url: string;
let token: string;
let grantId: string;
let proxy: Server;
let proxyPort: number;
const spoolDir = () => join(work, 'data', 'audit-spool');
let readOnlyMount = false;

beforeAll(async () => {
  [store, target] = await Promise.all([startPostgres(), startPostgres()]);
  await store.query('CREATE DATABASE gate_fleet_audit');
  work = await mkdtemp(join(tmpdir(), 'gate-fleet-audit-'));
  const env = { STORE_PW: store.password, TARGET_PW: target.password };
  const config = parseConfig(`
store:
  url: postgres://${store.user}@${store.host}:${store.port}/gate_fleet_audit
  password: env:STORE_PW
admins: [platform]
targets:
  db:
    type: postgres
    address: 127.0.0.1:${target.port}
    database: postgres
    roles:
      admin: { username: postgres, password: env:TARGET_PW }
policies:
  - { name: eng, groups: [engineering], targets: [db], roles: [admin], max_duration: 1h }
`);
  server = await buildServer({ config, dataDir: join(work, 'data'), env, logger: createLogger({ level: 'silent' }), auditRetryMs: 100 });
  url = await server.listen({ port: 0 });
  token = (await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { sub: 'alice', groups: ['engineering'], kind: 'user' }, 600_000)).token;
  const res = await fetch(`${url}/v1/grants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ target: 'db', role: 'admin', reason: 'audit spool test' }),
  });
  grantId = ((await res.json()) as { grant: { id: string } }).grant.id;
  // What `gate connect` does, in-process: every local connection becomes one tunnel.
  proxy = createServer(async (local) => {
    local.on('error', () => {});
    try {
      const remote = await dialTunnel({ server: url, token, grantId });
      remote.on('error', () => local.destroy());
      local.pipe(remote).pipe(local);
    } catch {
      local.destroy();
    }
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as { port: number }).port;
}, 120_000);

afterAll(async () => {
  if (readOnlyMount) execFileSync('umount', [spoolDir()]);
  proxy?.close();
  await server?.close().catch(() => {});
  await Promise.all([store?.stop(), target?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: proxyPort, user: 'postgres', password: 'unused-local', database: 'postgres' });
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function auditedMarkers(): Promise<string[]> {
  const admin = (await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { sub: 'carol', groups: ['platform'], kind: 'user' }, 600_000)).token;
  const res = await fetch(`${url}/v1/audit?action=pg.query&limit=10000`, { headers: { authorization: `Bearer ${admin}` } });
  const body = (await res.json()) as { events: { details: { statement?: string } }[] };
  return body.events.map((e) => /'(m-\d+)'/.exec(e.details.statement ?? '')?.[1]).filter((m): m is string => m !== undefined);
}

describe('audit while the store is down', () => {
  const sent: string[] = [];

  it('keeps every statement’s event in the spool and replays them in order once the store is back', async () => {
    const c = await client();
    let n = 0;
    const run = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const m = `m-${n++}`;
        const r = await c.query(`select '${m}' as marker`);
        expect(r.rows[0].marker).toBe(m);
        sent.push(m);
      }
    };
    await run(5);
    await server.ctx.audit.flush();
    await store.halt();
    // A new grant cannot be decided without the store: a clear 503, not an internal error.
    const refused = await fetch(`${url}/v1/grants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'db', role: 'admin', reason: 'while the store is down' }),
    });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/store cannot be reached/),
    });
    await run(20);
    await server.ctx.audit.flush();
    // The events are on the server's disk, not in the store.
    expect(server.ctx.audit.backlog()).toBe(true);
    const spooled = await readFile(join(spoolDir(), 'events.jsonl'), 'utf8');
    expect(spooled).toContain("m-24");
    await store.resume();
    await vi.waitFor(() => expect(server.ctx.audit.backlog()).toBe(false), { timeout: 30_000, interval: 100 });
    await run(5);
    await c.end();
    await server.ctx.audit.flush();
    expect(await auditedMarkers()).toEqual(sent);
    const admin = (await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { sub: 'carol', groups: ['platform'], kind: 'user' }, 600_000)).token;
    const verify = (await (await fetch(`${url}/v1/audit/verify`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { ok: boolean };
    expect(verify.ok).toBe(true);
  }, 120_000);

  it('fails closed when the spool cannot be written either: the next statement gets an ErrorResponse naming audit', async () => {
    const c = await client();
    expect((await c.query(`select 'before' as x`)).rows[0].x).toBe('before');
    await server.ctx.audit.flush();
    // A read-only spool directory (root ignores file modes: a read-only bind mount instead).
    await mkdir(spoolDir(), { recursive: true });
    if (userInfo().uid === 0) {
      execFileSync('mount', ['--bind', spoolDir(), spoolDir()]);
      readOnlyMount = true;
      execFileSync('mount', ['-o', 'remount,bind,ro', spoolDir()]);
    } else {
      await chmod(spoolDir(), 0o500);
    }
    await store.halt();
    // This statement runs; its event finds neither the store nor the spool.
    await c.query(`select 'stranded' as x`);
    await server.ctx.audit.flush();
    expect(server.ctx.audit.unavailable()).toMatch(/audit is unavailable/);
    const err = await c.query(`select 'refused' as x`).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.message).toMatch(/audit is unavailable.*statements are not forwarded/);
    expect(err?.code).toBe('58030');
    // Not a closed socket: the session is still there and says the same again.
    await expect(c.query('select 1')).rejects.toThrow(/audit is unavailable/);
    // Once the store is back, the stranded event is kept and statements flow again.
    await store.resume();
    await vi.waitFor(() => expect(server.ctx.audit.unavailable()).toBeUndefined(), { timeout: 30_000, interval: 100 });
    expect((await c.query(`select 'after' as x`)).rows[0].x).toBe('after');
    await c.end();
    await server.ctx.audit.flush();
    const admin = (await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { sub: 'carol', groups: ['platform'], kind: 'user' }, 600_000)).token;
    const res = await fetch(`${url}/v1/audit?action=pg.query&limit=10000`, { headers: { authorization: `Bearer ${admin}` } });
    const statements = ((await res.json()) as { events: { details: { statement?: string } }[] }).events.map((e) => e.details.statement);
    expect(statements).toEqual(expect.arrayContaining([`select 'stranded' as x`, `select 'after' as x`]));
    expect(statements).not.toContain(`select 'refused' as x`);
  }, 120_000);
});
