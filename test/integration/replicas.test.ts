/**
 * Two gate servers behind one PostgreSQL store, as behind a load balancer:
 * whatever one replica does, the other sees, and a revocation or expiry on one
 * cuts the tunnels the other holds.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { GateConfig } from '../../src/config/schema.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import type { Grant, GrantEndReason } from '../../src/server/grants/types.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let pg: TestPostgres;
let config: GateConfig;
const dirs: string[] = [];
const servers = new Set<GateServer>();
/** Error lines any replica logged: a race between replicas must not show up as one. */
const errors: string[] = [];
const env = { TEST_STORE_PASSWORD: '', DB_PROD_RW_PASSWORD: 'unused' };

async function replica(dataDir: string): Promise<GateServer> {
  const logger = createLogger({ level: 'error', write: (line) => errors.push(line) });
  const server = await buildServer({ config, dataDir, env, logger });
  servers.add(server);
  return server;
}

async function stop(server: GateServer): Promise<void> {
  servers.delete(server);
  await server.close();
}

const USERS = {
  alice: ['engineering'],
  bob: ['dba-oncall'],
  carol: ['platform'],
} as const;

async function call(server: GateServer, user: keyof typeof USERS, method: 'GET' | 'POST', url: string, payload?: unknown) {
  const { ctx } = server;
  const { token } = await issueGateToken(ctx.key, ctx.tokenIssuer, { sub: user, groups: [...USERS[user]], kind: 'user' }, 600_000);
  const res = await server.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, payload: payload as object });
  // biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary response bodies.
  return { status: res.statusCode, json: res.json() as Record<string, any> };
}

function ended(server: GateServer, id: string): Promise<{ reason: GrantEndReason; grant: Grant }> {
  return new Promise((resolve) => {
    server.ctx.grants.onEnded(id, (reason, grant) => resolve({ reason, grant }));
  });
}

let a: GateServer;
let b: GateServer;

beforeAll(async () => {
  pg = await startPostgres();
  await pg.query('CREATE DATABASE gate_replicas');
  env.TEST_STORE_PASSWORD = pg.password;
  config = parseConfig(`
store:
  url: postgres://${pg.user}@${pg.host}:${pg.port}/gate_replicas
  password: env:TEST_STORE_PASSWORD
admins: [platform]
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      write: { username: app_rw, password: env:DB_PROD_RW_PASSWORD }
      short: { username: app_rw, password: env:DB_PROD_RW_PASSWORD }
policies:
  - { name: eng-write, groups: [engineering], targets: [db-prod], roles: [write], max_duration: 1h, approval: { approvers: [dba-oncall] } }
  - { name: eng-short, groups: [engineering], targets: [db-prod], roles: [short], max_duration: 1s, approval: { approvers: [dba-oncall] } }
`);
  for (let i = 0; i < 2; i++) dirs.push(await mkdtemp(join(tmpdir(), `gate-replica-${i}-`)));
  // The second replica must sign with the same key: it starts once the first made one.
  a = await replica(dirs[0]!);
  await copyFile(join(dirs[0]!, 'signing-key.jwk.json'), join(dirs[1]!, 'signing-key.jwk.json'));
  b = await replica(dirs[1]!);
});

afterAll(async () => {
  for (const s of [...servers]) await stop(s).catch(() => {});
  await pg?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('two replicas on one PostgreSQL store', () => {
  let grantId: string;

  it('both use the PostgreSQL store gate.yaml names', () => {
    expect(a.ctx.store.kind).toBe('postgres');
    expect(b.ctx.store.kind).toBe('postgres');
  });

  it('a grant requested on A is visible on B and approved there; A’s long-poll hears of it', async () => {
    const created = await call(a, 'alice', 'POST', '/v1/grants', { target: 'db-prod', role: 'write', reason: 'INC-7' });
    expect(created.status).toBe(201);
    grantId = created.json.grant.id;
    expect(created.json.grant.state).toBe('pending');

    const onB = await call(b, 'bob', 'GET', '/v1/grants');
    expect(onB.json.grants.map((g: Grant) => g.id)).toContain(grantId);

    // alice waits on A (as `gate connect` does) while bob approves on B.
    const waiting = call(a, 'alice', 'GET', `/v1/grants/${grantId}?wait=30&state=pending`);
    const approved = await call(b, 'bob', 'POST', `/v1/grants/${grantId}/approve`, { comment: 'go' });
    expect(approved.status).toBe(200);
    expect(approved.json.grant.state).toBe('active');
    const waited = await waiting;
    expect(waited.json.grant.state).toBe('active');
    expect(waited.json.grant.approvals.map((x: { by: string }) => x.by)).toEqual(['bob']);
    expect(await a.ctx.grants.activeGrant(grantId)).toBeDefined();
  });

  it('a revocation on B ends the tunnel subscription on A', async () => {
    const cut = ended(a, grantId);
    const revoked = await call(b, 'carol', 'POST', `/v1/grants/${grantId}/revoke`, { comment: 'incident over' });
    expect(revoked.json.grant.state).toBe('revoked');
    const { reason, grant } = await cut;
    expect(reason).toBe('revoked');
    expect(grant.ended_by).toBe('carol');
    expect(await a.ctx.grants.activeGrant(grantId)).toBeUndefined();
  });

  it('a revocation made while A’s change feed was down still reaches A once it reconnects', async () => {
    const created = await call(a, 'alice', 'POST', '/v1/grants', { target: 'db-prod', role: 'write', reason: 'INC-8' });
    const id = created.json.grant.id as string;
    expect((await call(b, 'bob', 'POST', `/v1/grants/${id}/approve`)).json.grant.state).toBe('active');
    const cut = ended(a, id);
    // A failover drops every listening connection; the revocation's NOTIFY may land in the gap.
    await pg.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND datname = 'gate_replicas'`);
    await call(b, 'carol', 'POST', `/v1/grants/${id}/revoke`);
    expect((await cut).reason).toBe('revoked');
  });

  it('an expiry ends the tunnel subscription on the other replica too, once', async () => {
    const created = await call(b, 'alice', 'POST', '/v1/grants', { target: 'db-prod', role: 'short', duration: '1s' });
    const id = created.json.grant.id as string;
    const cutOnA = ended(a, id);
    const cutOnB = ended(b, id);
    // Approved on A: both replicas arm a timer; whichever fires first ends it, the other stands down.
    expect((await call(a, 'bob', 'POST', `/v1/grants/${id}/approve`)).json.grant.state).toBe('active');
    expect((await cutOnA).reason).toBe('expired');
    expect((await cutOnB).reason).toBe('expired');
    const audit = await call(a, 'carol', 'GET', '/v1/audit?limit=1000');
    expect(audit.json.events.filter((e: { action: string; grant_id: string }) => e.action === 'grant.expired' && e.grant_id === id)).toHaveLength(1);
  });

  it('audit appends from both replicas at once stay one verifiable chain', async () => {
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).ctx.audit.append({ action: 'test.replica', details: { i } })),
    );
    const verify = await call(b, 'carol', 'GET', '/v1/audit/verify');
    expect(verify.json.ok).toBe(true);
    const actions = (await call(a, 'carol', 'GET', '/v1/audit?limit=1000')).json.events.map((e: { action: string }) => e.action);
    expect(actions.filter((x: string) => x === 'test.replica')).toHaveLength(30);
    expect(actions).toEqual(expect.arrayContaining(['grant.requested', 'grant.approved', 'grant.revoked', 'grant.expired']));
  });

  it('a service token created on one replica works on, and is revoked for, the other', async () => {
    const made = await call(a, 'carol', 'POST', '/v1/tokens', { name: 'ci', groups: ['engineering'], ttl: '1h' });
    expect(made.status).toBe(201);
    const token = made.json.token as string;
    const asToken = (on: GateServer) => on.app.inject({ method: 'GET', url: '/v1/grants', headers: { authorization: `Bearer ${token}` } });
    // Created on A, accepted by B.
    expect((await asToken(b)).statusCode).toBe(200);
    expect((await asToken(a)).statusCode).toBe(200);
    // Revoked on B, refused by A (and by B).
    const id = made.json.service_token.id as string;
    expect((await call(b, 'carol', 'POST', `/v1/tokens/${id}/revoke`)).status).toBe(200);
    const onA = await asToken(a);
    expect(onA.statusCode).toBe(401);
    expect(onA.json().error.message).toMatch(/^Service token rejected: it was revoked/);
    expect((await asToken(b)).statusCode).toBe(401);
  });

  it('a restart keeps everything', async () => {
    const before = await call(a, 'carol', 'GET', '/v1/audit/verify');
    await stop(a);
    await stop(b);
    a = await replica(dirs[0]!);
    const g = await call(a, 'alice', 'GET', `/v1/grants/${grantId}`);
    expect(g.json.grant.state).toBe('revoked');
    expect(g.json.grant.comment).toBe('incident over');
    const after = await call(a, 'carol', 'GET', '/v1/audit/verify');
    expect(after.json.ok).toBe(true);
    expect(after.json.events).toBe(before.json.events);
  });

  it('no replica logged an error along the way', () => {
    expect(errors).toEqual([]);
  });
});
