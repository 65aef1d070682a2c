/**
 * `approvals.tokens_may_approve: true` (issue 13): a service token then
 * approves as the person who created it, never for that person's own request
 * and never as a second approval of the same person; a workload never does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTokenStack, type TokenStack } from '../helpers/token-stack.js';

type Grant = { id: string; state: string; approvals: { by: string }[] };
type Err = { error: { code: string; message: string } };

let stack: TokenStack;
let carol: string;
let dave: string;
let bob: string;

const token = async (owner: string, name: string) =>
  (await stack.api<{ token: string }>(owner, 'POST', '/v1/tokens', { name, groups: ['dba-oncall'], ttl: '1h' })).body.token;

beforeAll(async () => {
  stack = await startTokenStack(`targets:
  echo: { type: tcp, address: '127.0.0.1:9' }
admins: [platform]
approvals: { tokens_may_approve: true }
policies:
  - { name: two-eyes-pairs, groups: [platform], targets: [echo], roles: [default], max_duration: 1h, approval: { approvers: [dba-oncall, ci], min: 2 } }
`);
  carol = await stack.human('carol', ['platform']);
  dave = await stack.human('dave', ['platform', 'dba-oncall']);
  bob = await stack.human('bob', ['dba-oncall']);
});

afterAll(async () => {
  await stack?.close();
});

describe('tokens may approve, as their creator', () => {
  it("carol's own tokens cannot approve her grant; dave's token and dave count once; bob makes two", async () => {
    const mine = await token(carol, 'carol-bot');
    const id = (await stack.api<{ grant: Grant }>(carol, 'POST', '/v1/grants', { target: 'echo' })).body.grant.id;

    const self = await stack.api<Err>(mine, 'POST', `/v1/grants/${id}/approve`, {});
    expect(self.status).toBe(403);
    expect(self.body.error).toMatchObject({ code: 'self_approval' });
    expect(self.body.error.message).toContain('acts for the person who requested grant');

    const daves = await token(dave, 'dave-bot');
    expect((await stack.api<{ grant: Grant }>(daves, 'POST', `/v1/grants/${id}/approve`, {})).body.grant.state).toBe('pending');
    const twice = await stack.api<Err>(dave, 'POST', `/v1/grants/${id}/approve`, {});
    expect(twice.status).toBe(409);
    expect(twice.body.error.message).toMatch(/a second approval by the same person does not count/);

    const done = await stack.api<{ grant: Grant }>(bob, 'POST', `/v1/grants/${id}/approve`, {});
    expect(done.body.grant.state).toBe('active');
    expect(done.body.grant.approvals.map((a) => a.by)).toEqual(['service:dave-bot', 'bob']);
  });

  it('a workload never approves: it acts for nobody', async () => {
    const id = (await stack.api<{ grant: Grant }>(carol, 'POST', '/v1/grants', { target: 'echo' })).body.grant.id;
    const job = await stack.workload('bob');
    const r = await stack.api<Err>(job, 'POST', `/v1/grants/${id}/approve`, {});
    // The ci rule gives the job an approver group: the refusal is about who it is, not its groups.
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/acts for no person, so it cannot approve or deny grant/);
  });
});
