/**
 * Nobody rides someone else's access (issue 13): identities are namespaced
 * keys, four eyes count people, and revoking a service token is total. Real
 * gate server, real token exchange from two OIDC issuers, a real PostgreSQL
 * behind real tunnels.
 */
import { createServer, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialTunnel } from '../../src/tunnel/dialer.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTokenStack, type TokenStack } from '../helpers/token-stack.js';

type Grant = { id: string; state: string; requester: string; expires_at?: string; duration_capped?: boolean; approvals: unknown[] };
type Err = { error: { code: string; message: string } };

let db: TestPostgres;
let echo: Server;
let stack: TokenStack;
let alice: string;
let carol: string;
let bob: string;
const SECRET = `Pw-${Math.random().toString(36).slice(2)}-x`;

/** A local port whose every connection is one tunnel on `grantId`, as `gate connect` would open. */
async function localTunnel(token: string, grantId: string): Promise<{ port: number; close(): void }> {
  const srv = createServer((local) => {
    dialTunnel({ server: stack.url, token, grantId }).then(
      (remote) => {
        local.pipe(remote).pipe(local);
        remote.on('error', () => local.destroy());
        local.on('error', () => remote.destroy());
        remote.on('close', () => local.destroy());
      },
      () => local.destroy(),
    );
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as { port: number }).port, close: () => srv.close() };
}

beforeAll(async () => {
  db = await startPostgres();
  await db.query(`create role app_rw login password '${SECRET}'`);
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const { writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const pwFile = `${tmpdir()}/gate-identity-keys-pw-${process.pid}`;
  await writeFile(pwFile, SECRET, { mode: 0o600 });
  stack = await startTokenStack(`targets:
  echo: { type: tcp, address: '127.0.0.1:${(echo.address() as { port: number }).port}', roles: { write: {}, read: {} } }
  db:
    type: postgres
    address: 127.0.0.1:${db.port}
    database: postgres
    roles: { rw: { username: app_rw, password: 'file:${pwFile}' } }
admins: [platform]
policies:
  - { name: eng-write, groups: [engineering], targets: [echo], roles: [write], max_duration: 1h, approval: auto }
  - { name: carol-write, groups: [platform], targets: [echo], roles: [read], max_duration: 1h, approval: { approvers: [dba-oncall], min: 2 } }
  - { name: bots, groups: [bots], targets: [db, echo], roles: [rw, write], max_duration: 8h, approval: auto }
`);
  alice = await stack.human('alice', ['engineering']);
  carol = await stack.human('carol', ['platform']);
  bob = await stack.human('bob', ['dba-oncall']);
});

afterAll(async () => {
  await stack?.close();
  echo?.close();
  await db?.stop();
});

describe('subjects are namespaced', () => {
  it("a workload whose subject claim is a person's sub neither sees nor uses that person's grant", async () => {
    const mine = await stack.api<{ grant: Grant }>(alice, 'POST', '/v1/grants', { target: 'echo', role: 'write' });
    expect(mine.body.grant.state).toBe('active');
    const grantId = mine.body.grant.id;

    const job = await stack.workload('alice');
    const me = await stack.api<{ sub: string; key: string; kind: string }>(job, 'GET', '/v1/me');
    // The attack's premise: the job's subject really is "alice".
    expect(me.body.sub).toBe('alice');
    expect(me.body.kind).toBe('workload');

    const listed = await stack.api<{ grants: Grant[] }>(job, 'GET', '/v1/grants');
    expect(listed.body.grants.map((g) => g.id)).not.toContain(grantId);
    const one = await stack.api<Err>(job, 'GET', `/v1/grants/${grantId}`);
    expect(one.status).toBe(404);

    await expect(dialTunnel({ server: stack.url, token: job, grantId })).rejects.toThrow(`No active grant ${grantId} of yours`);
    // The person herself still gets through.
    const socket = await dialTunnel({ server: stack.url, token: alice, grantId });
    socket.write('ping');
    const [echoed] = (await new Promise((r) => socket.once('data', (d) => r([d.toString()])))) as string[];
    expect(echoed).toBe('ping');
    socket.destroy();
    expect(me.body.key).toBe('workload:ci#alice');
  });

  it('a person with the same sub at another issuer is someone else (the key carries the issuer)', async () => {
    const me = await stack.api<{ key: string }>(alice, 'GET', '/v1/me');
    expect(me.body.key).toBe(`user:${stack.people.issuer}#alice`);
  });
});

describe('four eyes count people', () => {
  it("an admin's service tokens carrying the approver group cannot approve her own min: 2 grant", async () => {
    const made = await Promise.all(
      ['helper-1', 'helper-2'].map((name) => stack.api<{ token: string }>(carol, 'POST', '/v1/tokens', { name, groups: ['dba-oncall'], ttl: '1h' })),
    );
    const [t1, t2] = made.map((m) => m.body.token) as [string, string];
    const req = await stack.api<{ grant: Grant }>(carol, 'POST', '/v1/grants', { target: 'echo', role: 'read' });
    expect(req.body.grant.state).toBe('pending');
    const id = req.body.grant.id;
    for (const t of [t1, t2]) {
      const r = await stack.api<Err>(t, 'POST', `/v1/grants/${id}/approve`, {});
      expect(r.status).toBe(403);
      expect(r.body.error.message).toMatch(/service token cannot approve or deny grant .*approvals count people, and approvals.tokens_may_approve is off/);
    }
    const after = await stack.api<{ grant: Grant }>(carol, 'GET', `/v1/grants/${id}`);
    expect(after.body.grant.state).toBe('pending');
    expect(after.body.grant.approvals).toEqual([]);
    // One person is one approval: bob alone leaves it pending.
    expect((await stack.api<{ grant: Grant }>(bob, 'POST', `/v1/grants/${id}/approve`, {})).body.grant.state).toBe('pending');
  });
});

describe('revocation is total', () => {
  it('revoking a service token ends its grants and cuts a live query through its tunnel', async () => {
    const made = await stack.api<{ token: string; service_token: { id: string } }>(carol, 'POST', '/v1/tokens', { name: 'deployer', groups: ['bots'], ttl: '1d' });
    const token = made.body.token;
    const grant = (await stack.api<{ grant: Grant }>(token, 'POST', '/v1/grants', { target: 'db', role: 'rw' })).body.grant;
    expect(grant.state).toBe('active');
    const local = await localTunnel(token, grant.id);
    const client = new pg.Client({ host: '127.0.0.1', port: local.port, user: 'app_rw', database: 'postgres' });
    client.on('error', () => {});
    await client.connect();
    const result = client.query('select pg_sleep(30)').then(
      () => 'finished',
      (err: Error) => err.message,
    );
    for (let i = 0; i < 300; i++) {
      const rows = await db.query(`select 1 from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'`);
      if (rows.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    const revoked = await stack.api<{ service_token: { state: string } }>(carol, 'DELETE', `/v1/tokens/${made.body.service_token.id}`);
    expect(revoked.body.service_token.state).toBe('revoked');
    expect(await result).toBe(`terminating connection: gate grant ${grant.id} was revoked`);
    const after = await stack.api<{ grant: Grant }>(carol, 'GET', `/v1/grants/${grant.id}`);
    expect(after.body.grant.state).toBe('revoked');
    await client.end().catch(() => {});
    local.close();

    // A new token with the same name inherits nothing.
    const again = (await stack.api<{ token: string }>(carol, 'POST', '/v1/tokens', { name: 'deployer', groups: ['bots'], ttl: '1d' })).body.token;
    const listed = await stack.api<{ grants: Grant[] }>(again, 'GET', '/v1/grants');
    expect(listed.body.grants).toEqual([]);
    expect((await stack.api<Err>(again, 'GET', `/v1/grants/${grant.id}`)).status).toBe(404);
  });

  it('a grant never outlives the service token that requested it', async () => {
    const made = await stack.api<{ token: string; service_token: { expires_at: string } }>(carol, 'POST', '/v1/tokens', {
      name: 'short-lived',
      groups: ['bots'],
      ttl: '20s',
    });
    const g = (await stack.api<{ grant: Grant }>(made.body.token, 'POST', '/v1/grants', { target: 'echo', role: 'write', duration: '1h' })).body.grant;
    expect(g.state).toBe('active');
    expect(g.duration_capped).toBe(true);
    expect(Date.parse(g.expires_at!)).toBeLessThanOrEqual(Date.parse(made.body.service_token.expires_at));
  });
});
