import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PendingWire } from '../../src/api/wire-pending.js';
import { startTokenStack, type TokenStack } from '../helpers/token-stack.js';

// GET /v1/pending: what an approver may decide, and a long-poll that returns on a change.

const CONFIG = `
admins: [platform]
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      read:  { username: readonly, password: env:DB_PROD_RO_PASSWORD }
      write: { username: app_rw,   password: env:DB_PROD_RW_PASSWORD }
policies:
  - { name: eng-read,  groups: [engineering], targets: [db-prod], roles: [read],  max_duration: 8h, approval: auto }
  - { name: eng-write, groups: [engineering, dba-oncall], targets: [db-prod], roles: [write], max_duration: 1h,
      approval: { approvers: [dba-oncall], min: 1 } }
`;

let stack: TokenStack;
let alice: string;
let bob: string;
let erin: string;

beforeAll(async () => {
  stack = await startTokenStack(CONFIG);
  alice = await stack.human('alice', ['engineering']);
  bob = await stack.human('bob', ['dba-oncall']);
  erin = await stack.human('erin', ['marketing']);
});

afterAll(async () => {
  await stack?.close();
});

const pending = (token: string, query = '') => stack.api<PendingWire>(token, 'GET', `/v1/pending${query}`);

async function requestWrite(reason: string): Promise<string> {
  const r = await stack.api<{ grant: { id: string } }>(alice, 'POST', '/v1/grants', { target: 'db-prod', role: 'write', duration: '30m', reason });
  expect(r.status).toBe(201);
  return r.body.grant.id;
}

describe('GET /v1/pending', () => {
  it('lists the grants an approver may decide, with the requester recent grants, and nothing to others', async () => {
    const read = await stack.api<{ grant: { id: string } }>(alice, 'POST', '/v1/grants', { target: 'db-prod', role: 'read', duration: '5m' });
    const id = await requestWrite('fix invoice 42');
    const bobs = await pending(bob);
    expect(bobs.status).toBe(200);
    expect(bobs.body.grants.map((g) => g.id)).toContain(id);
    expect(bobs.body.grants.find((g) => g.id === id)).toMatchObject({ requester: 'alice', reason: 'fix invoice 42', state: 'pending' });
    // Bob's details view shows what alice did before: her auto-approved read grant.
    expect(bobs.body.recent.alice?.map((g) => g.id)).toContain(read.body.grant.id);
    // Alice cannot decide her own request; erin approves nothing.
    expect((await pending(alice)).body.grants).toEqual([]);
    expect((await pending(erin)).body).toMatchObject({ grants: [], approvals: [] });
    await stack.api(bob, 'POST', `/v1/grants/${id}/deny`, { comment: 'cleanup' });
  });

  it('holds a long-poll until an item comes, and the cursor changes with it', async () => {
    const before = await pending(bob);
    const waiting = pending(bob, `?wait=30&cursor=${before.body.cursor}`);
    // The request is held: the server answers only after the new grant exists.
    let answered = false;
    void waiting.then(() => {
      answered = true;
    });
    await new Promise<void>((resolve) => {
      const check = () => (stack.server.ctx.grants.events.listenerCount('approval') > 0 ? resolve() : setImmediate(check));
      check();
    });
    expect(answered).toBe(false);
    const id = await requestWrite('rotate keys');
    const after = await waiting;
    expect(after.status).toBe(200);
    expect(after.body.cursor).not.toBe(before.body.cursor);
    expect(after.body.grants.map((g) => g.id)).toContain(id);

    // Deciding it is a change too: the next long-poll returns without the grant.
    const next = pending(bob, `?wait=30&cursor=${after.body.cursor}`);
    await stack.api(bob, 'POST', `/v1/grants/${id}/approve`, {});
    const gone = await next;
    expect(gone.body.grants.map((g) => g.id)).not.toContain(id);
  });

  it('answers at once when the cursor is already stale, and refuses a bad wait', async () => {
    const r = await pending(bob, '?wait=30&cursor=stale');
    expect(r.status).toBe(200);
    expect(r.body.cursor).not.toBe('stale');
    const bad = await stack.api<{ error: { message: string } }>(bob, 'GET', '/v1/pending?wait=soon');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('wait must be a number of seconds');
  });

  it('lists a statement held for approval, and an approval is a change', async () => {
    const read = await stack.api<{ grant: { id: string } }>(alice, 'POST', '/v1/grants', { target: 'db-prod', role: 'read', duration: '5m' });
    const held = await stack.server.ctx.grants.requestCommandApproval({
      grant: { id: read.body.grant.id },
      text: 'delete from invoices\nwhere id = 42',
      rule: 'delete',
      summary: [{ tag: 'DELETE', tables: ['invoices'], filtered: true }],
    });
    expect(held.status).toBe('pending');
    // eng-read is auto-approved, so the target's approver groups (dba-oncall) decide its statements.
    const listed = await pending(bob);
    expect(listed.body.approvals.find((a) => a.id === held.id)).toMatchObject({ text: 'delete from invoices\nwhere id = 42', requester: 'alice' });
    const waiting = pending(bob, `?wait=30&cursor=${listed.body.cursor}`);
    await stack.api(bob, 'POST', `/v1/approvals/${held.id}/approve`, {});
    expect((await waiting).body.approvals.map((a) => a.id)).not.toContain(held.id);
  });

  it('wants a signed-in caller', async () => {
    const r = await stack.api('not-a-token', 'GET', '/v1/pending');
    expect(r.status).toBe(401);
  });
});
