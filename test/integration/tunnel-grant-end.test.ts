/**
 * The end of a grant cuts the data path, and the tunnel endpoint refuses what
 * it must: a real gate server in front of a real PostgreSQL, the built CLI's
 * `gate connect`, the `pg` client with a query in flight, and raw dials.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/log.js';
import { dialTunnel } from '../../src/tunnel/dialer.js';
import { TUNNEL_PATH } from '../../src/tunnel/protocol.js';
import { gateEnv, type RunningGate, startGate } from '../helpers/gate-bin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { runCli, type Stack, startStack } from '../helpers/stack.js';

const SECRET = `upstream-Pw-${Math.random().toString(36).slice(2)}-4b7d`;

let db: TestPostgres;
let stack: Stack;
let dir: string;
const tokens: Record<string, string> = {};
const serverLog: string[] = [];
const running: RunningGate[] = [];

async function connectAs(user: string, args: string[]): Promise<RunningGate> {
  const env = await gateEnv({ GATE_TOKEN: tokens[user], GATE_SERVER: stack.url });
  const gate = startGate(['connect', 'db', ...args], { env });
  running.push(gate);
  return gate;
}

function events(gate: RunningGate): Record<string, unknown>[] {
  return gate.lines.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Milliseconds from now until `p` settles: the promise "cut within a second" is a measured one. */
async function measure<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await p;
  return { value, ms: performance.now() - started };
}

async function activeGrantOf(user: string, role: string): Promise<{ id: string; expires_at: string }> {
  const res = await request(`${stack.url}/v1/grants?state=active`, { headers: { authorization: `Bearer ${tokens[user]}` } });
  const { grants } = (await res.body.json()) as { grants: { id: string; role: string; expires_at: string }[] };
  const grant = grants.find((g) => g.role === role);
  expect(grant, JSON.stringify(grants)).toBeDefined();
  return grant!;
}

async function sleepingQuery(port: number): Promise<{ client: pg.Client; result: Promise<string> }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'app_rw', database: 'postgres' });
  client.on('error', () => {});
  await client.connect();
  const result = client.query('select pg_sleep(30)').then(
    () => 'finished',
    (err: Error) => err.message,
  );
  for (let i = 0; ; i++) {
    const rows = await db.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'`);
    if (rows.length > 0) break;
    if (i > 600) throw new Error('the query never showed up as active in pg_stat_activity');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { client, result };
}

/** Writes raw bytes to the server port and returns everything it answers until it closes. */
function rawExchange(text: string): Promise<string> {
  const { hostname, port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    let answer = '';
    const s = netConnect(Number(port), hostname, () => s.write(text));
    s.setEncoding('utf8');
    s.on('data', (d) => {
      answer += d;
      // A keep-alive server may hold the socket open after a complete answer.
      if (/\r\n\r\n/.test(answer) && /content-length: 0|\}$/i.test(answer)) s.end();
    });
    s.on('error', reject);
    s.on('close', () => resolve(answer));
    s.setTimeout(10_000, () => s.destroy());
  });
}

async function serverIsUp(): Promise<void> {
  const res = await request(`${stack.url}/v1/config`);
  await res.body.text();
  expect(res.statusCode).toBe(200);
}

beforeAll(async () => {
  db = await startPostgres();
  await db.query(`create role app_rw login password '${SECRET}'`);
  dir = await mkdtemp(join(tmpdir(), 'gate-tunnel-end-'));
  const pwFile = join(dir, 'pw');
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
      short: { username: app_rw, password: file:${pwFile} }
      rw:    { username: app_rw, password: file:${pwFile} }
      auto:  { username: app_rw, password: file:${pwFile} }
policies:
  - { name: eng-short, groups: [engineering], targets: [db], roles: [short], max_duration: 10m, approval: auto }
  - { name: eng-rw, groups: [engineering], targets: [db], roles: [rw], max_duration: 1h, approval: { approvers: [dba-oncall] } }
  - { name: anyone, groups: [engineering, dba-oncall], targets: [db], roles: [auto], max_duration: 1h, approval: auto }
`,
  });
  tokens.alice = await stack.loginAs('alice');
  tokens.bob = await stack.loginAs('bob');
});

afterAll(async () => {
  for (const g of running) await g.stop('SIGKILL');
  await stack?.close();
  await db?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let expiredGrantId = '';

describe('the end of a grant cuts the connection', () => {
  it('expiry mid-query: the client gets the 57P01 reason within a second, gate connect says why and exits 0', async () => {
    const gate = await connectAs('alice', ['--role', 'short']);
    const ready = await gate.waitFor(/^\s*host 127\.0\.0\.1\s+port \d+/, 'stdout');
    const port = Number(/port (\d+)/.exec(ready)![1]);
    // The query is running upstream (pg_stat_activity) before the grant's time comes.
    const { client, result } = await sleepingQuery(port);
    const grant = await activeGrantOf('alice', 'short');
    const cut = measure(result);
    await stack.advanceClock(Date.parse(grant.expires_at) - Date.now() + 1_000);
    const { value: message, ms } = await cut;
    expect(message).toMatch(/terminating connection: gate grant \S+ expired/);
    expect(ms, 'the cut came more than a second after the expiry').toBeLessThan(1_000);
    expiredGrantId = /gate grant (\S+) expired/.exec(message)![1]!;
    expect(expiredGrantId).toBe(grant.id);
    expect(await gate.exited).toBe(0);
    expect(gate.lines.stderr.join('\n')).toContain(`Tunnel closed: the grant ${expiredGrantId} expired`);
    await client.end().catch(() => {});
  });

  it('revocation by the approver mid-query: the client is told, gate connect emits closed/revoked and exits 5', async () => {
    const gate = await connectAs('alice', ['--role', 'rw', '--json']);
    const waiting = JSON.parse(await gate.waitFor(/"event":"waiting_approval"/, 'stdout'));
    const grantId = String(waiting.grant_id);
    const approve = await runCli(['approve', grantId], { env: { GATE_TOKEN: tokens.bob, GATE_SERVER: stack.url } });
    expect(approve.code).toBe(0);
    const ready = JSON.parse(await gate.waitFor(/"event":"ready"/, 'stdout'));
    expect(ready.grant_id).toBe(grantId);
    const { client, result } = await sleepingQuery(Number(ready.port));

    const cut = measure(result);
    const revoke = await runCli(['revoke', grantId], { env: { GATE_TOKEN: tokens.bob, GATE_SERVER: stack.url } });
    expect(revoke.code).toBe(0);
    const { value, ms } = await cut;
    expect(value).toBe(`terminating connection: gate grant ${grantId} was revoked`);
    expect(ms, 'the cut came more than a second after the revocation').toBeLessThan(1_000);
    expect(await gate.exited).toBe(5);
    expect(events(gate).at(-1)).toEqual({ event: 'closed', reason: 'revoked', message: `grant ${grantId} was revoked` });
    await client.end().catch(() => {});
  });
});

describe('the tunnel endpoint refuses', () => {
  it('a grant id that does not exist, with the server reason in the dialer error', async () => {
    const err = await dialTunnel({ server: stack.url, token: tokens.alice!, grantId: 'g_doesnotexist123' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('No active grant g_doesnotexist123 of yours.');
    expect((err as { details?: { status?: number } }).details?.status).toBe(404);
  });

  it("another user's active grant id with 404, the same answer as a missing one", async () => {
    const mine = await runCli(['request', 'db', '--role', 'auto', '--json'], { env: { GATE_TOKEN: tokens.alice, GATE_SERVER: stack.url } });
    expect(mine.code).toBe(0);
    const grantId = String(JSON.parse(mine.stdout.trim().split('\n').at(-1)!).grant_id ?? JSON.parse(mine.stdout.trim().split('\n').at(-1)!).grant?.id);
    expect(grantId).toMatch(/\S+/);
    // alice's own dial succeeds: the grant is fine...
    const socket = await dialTunnel({ server: stack.url, token: tokens.alice!, grantId });
    socket.destroy();
    // ...but bob cannot ride on it.
    const err = await dialTunnel({ server: stack.url, token: tokens.bob!, grantId }).catch((e: Error) => e);
    expect((err as Error).message).toBe(`No active grant ${grantId} of yours.`);
    expect((err as { details?: { status?: number } }).details?.status).toBe(404);
  });

  it('an expired grant id, saying it expired', async () => {
    expect(expiredGrantId).not.toBe('');
    const err = await dialTunnel({ server: stack.url, token: tokens.alice!, grantId: expiredGrantId }).catch((e: Error) => e);
    expect((err as Error).message).toContain(`Grant ${expiredGrantId} is expired`);
    expect((err as { details?: { status?: number } }).details?.status).toBe(403);
  });

  it('raw TCP garbage with a 400, and the server stays up', async () => {
    const answer = await rawExchange('\x16\x03\x01 this is not http at all\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    await serverIsUp();
  });

  it('an Upgrade with a bad token with 401, and the server stays up', async () => {
    const answer = await rawExchange(
      `GET ${TUNNEL_PATH} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: gate-tunnel/1\r\nAuthorization: Bearer not-a-token\r\ngate-grant: g_x\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toContain('"code":"');
    await serverIsUp();
  });

  it('an Upgrade to another protocol with 404 naming it, and the server stays up', async () => {
    const answer = await rawExchange(
      `GET ${TUNNEL_PATH} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer ${tokens.alice}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
    expect(answer).toContain('for protocol websocket');
    await serverIsUp();
  });

  it('logged refusals and grant ends without the upstream password', () => {
    expect(serverLog.join('')).toContain('tunnel refused');
    expect(serverLog.join('')).not.toContain(SECRET);
  });
});
