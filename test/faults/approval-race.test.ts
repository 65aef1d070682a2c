/**
 * The `min: 2` race, 100 times: two approvers approve the same grant at the
 * same instant on two replicas. Every time the grant becomes active exactly
 * once, with both approvals counted, and the audit log says so.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { recordFigures } from './harness/figures.js';
import { type Fleet, startFleet } from './harness/fleet.js';

const ROUNDS = 100;
let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet({
    yaml: `admins: [platform]
targets:
  db:
    type: postgres
    address: 127.0.0.1:TARGET_PORT
    database: postgres
    roles:
      write: { username: app_rw, password: env:APP_RW_PASSWORD }
policies:
  - { name: two-eyes, groups: [engineering], targets: [db], roles: [write], max_duration: 1h, approval: { approvers: [dba-oncall], min: 2 } }
`,
    secrets: { APP_RW_PASSWORD: 'unused-here' },
  });
});

afterAll(async () => {
  await fleet?.close();
});

it(`${ROUNDS} concurrent min:2 approvals on two replicas each activate the grant exactly once and count both approvals`, async () => {
  const [alice, bob, dave] = await Promise.all([
    fleet.token('alice', ['engineering']),
    fleet.token('bob', ['dba-oncall']),
    fleet.token('dave', ['dba-oncall']),
  ]);
  const [a, b] = fleet.replicas;
  const ids: string[] = [];
  const refusals: string[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const made = await fleet.api<{ grant: { id: string } }>(alice, 'POST', '/v1/grants', { target: 'db', role: 'write', reason: `race ${i}` });
    expect(made.status).toBe(201);
    const id = made.body.grant.id;
    ids.push(id);
    const [onA, onB] = await Promise.all([
      fleet.api<{ grant: { state: string } }>(bob, 'POST', `/v1/grants/${id}/approve`, {}, a!.url),
      fleet.api<{ grant: { state: string } }>(dave, 'POST', `/v1/grants/${id}/approve`, {}, b!.url),
    ]);
    // Neither approver is told anything but success: their approvals both count.
    for (const r of [onA, onB]) if (r.status !== 200) refusals.push(`${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }
  expect(refusals).toEqual([]);

  const grants = await Promise.all(ids.map((id) => fleet.api<{ grant: { state: string; approvals: { by: string }[] } }>(alice, 'GET', `/v1/grants/${id}`)));
  const wrong = grants
    .map((g, i) => ({ id: ids[i], state: g.body.grant.state, by: g.body.grant.approvals.map((x) => x.by).sort() }))
    .filter((g) => g.state !== 'active' || g.by.join(',') !== 'bob,dave');
  expect(wrong).toEqual([]);

  const events = await fleet.store.query<{ grant_id: string; details: string }>(
    `SELECT grant_id, details FROM audit_events WHERE action = 'grant.approved' AND grant_id = ANY($1)`,
    [ids],
    'gate_fleet',
  );
  const per = new Map<string, { approvals: number; activations: number }>();
  for (const e of events) {
    const d = JSON.parse(e.details) as { approvals?: number; expires_at?: string | null };
    const p = per.get(e.grant_id) ?? { approvals: 0, activations: 0 };
    p.approvals += 1;
    if (d.expires_at) p.activations += 1;
    per.set(e.grant_id, p);
  }
  const off = ids.filter((id) => per.get(id)?.approvals !== 2 || per.get(id)?.activations !== 1);
  expect(off).toEqual([]);
  const verify = await fleet.api<{ ok: boolean }>(await fleet.token('carol', ['platform']), 'GET', '/v1/audit/verify');
  expect(verify.body.ok).toBe(true);
  expect(fleet.replicas.flatMap((r) => r.errors())).toEqual([]);
  await recordFigures('approval_race', { replicas: 2, rounds: ROUNDS, grants_active: grants.length - wrong.length, approvals_counted: events.length, activations: ROUNDS - off.length, approvals_lost: 2 * ROUNDS - events.length });
});
