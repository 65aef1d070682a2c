/**
 * The `min: 2` race across replicas: two approvers approve the same grant at
 * the same instant, one on each replica. Both approvals must be counted and the
 * grant activated exactly once; a lost update would leave it pending with one.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let pg: TestPostgres;
const dirs: string[] = [];
const servers: GateServer[] = [];
const env = { TEST_STORE_PASSWORD: '', DB_PASSWORD: 'unused' };
const GROUPS: Record<string, string[]> = { alice: ['engineering'], bob: ['dba-oncall'], dora: ['dba-oncall'], carol: ['platform'] };

async function call(server: GateServer, user: string, method: 'GET' | 'POST', url: string, payload?: unknown) {
  const { ctx } = server;
  const { token } = await issueGateToken(ctx.key, ctx.tokenIssuer, { sub: user, groups: GROUPS[user]!, kind: 'user' }, 600_000);
  const res = await server.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, payload: payload as object });
  // biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary response bodies.
  return { status: res.statusCode, json: res.json() as Record<string, any> };
}

let a: GateServer;
let b: GateServer;

beforeAll(async () => {
  pg = await startPostgres();
  await pg.query('CREATE DATABASE gate_fleet_approvals');
  env.TEST_STORE_PASSWORD = pg.password;
  const config = parseConfig(`
store:
  url: postgres://${pg.user}@${pg.host}:${pg.port}/gate_fleet_approvals
  password: env:TEST_STORE_PASSWORD
admins: [platform]
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      write: { username: app_rw, password: env:DB_PASSWORD }
policies:
  - { name: two-eyes, groups: [engineering], targets: [db-prod], roles: [write], max_duration: 1h, approval: { approvers: [dba-oncall], min: 2 } }
`);
  for (let i = 0; i < 2; i++) dirs.push(await mkdtemp(join(tmpdir(), `gate-fleet-appr-${i}-`)));
  const logger = createLogger({ level: 'error', write: () => {} });
  a = await buildServer({ config, dataDir: dirs[0]!, env, logger });
  servers.push(a);
  await copyFile(join(dirs[0]!, 'signing-key.jwk.json'), join(dirs[1]!, 'signing-key.jwk.json'));
  b = await buildServer({ config, dataDir: dirs[1]!, env, logger });
  servers.push(b);
});

afterAll(async () => {
  for (const s of servers) await s.close().catch(() => {});
  await pg?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('concurrent approvals of a min: 2 grant on two replicas', () => {
  it('always count both approvals and activate the grant exactly once (25 races)', async () => {
    for (let i = 0; i < 25; i++) {
      const created = await call(a, 'alice', 'POST', '/v1/grants', { target: 'db-prod', role: 'write', reason: `race ${i}` });
      expect(created.status).toBe(201);
      const id = created.json.grant.id as string;
      const [onA, onB] = await Promise.all([
        call(a, 'bob', 'POST', `/v1/grants/${id}/approve`, { comment: 'A' }),
        call(b, 'dora', 'POST', `/v1/grants/${id}/approve`, { comment: 'B' }),
      ]);
      expect([onA.status, onB.status]).toEqual([200, 200]);
      const final = await call(b, 'carol', 'GET', `/v1/grants/${id}`);
      expect(final.json.grant.state, `race ${i}`).toBe('active');
      expect(final.json.grant.approvals.map((x: { by: string }) => x.by).sort()).toEqual(['bob', 'dora']);
      // Exactly one of the two answers says it activated the grant; the audit log holds two approvals, one activation.
      expect([onA.json.grant.state, onB.json.grant.state].sort()).toEqual(['active', 'pending']);
      const events = (await call(a, 'carol', 'GET', `/v1/audit?grant=${id}&limit=100`)).json.events as { action: string; details: Record<string, unknown> }[];
      const approvals = events.filter((e) => e.action === 'grant.approved');
      expect(approvals).toHaveLength(2);
      expect(approvals.filter((e) => e.details.state === 'active')).toHaveLength(1);
    }
    expect((await call(a, 'carol', 'GET', '/v1/audit/verify')).json.ok).toBe(true);
  }, 120_000);
});
