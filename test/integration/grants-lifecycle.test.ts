import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetSummary } from '../../src/api/wire-grants.js';
import type { Grant } from '../../src/server/grants/types.js';
import type { SqliteStore } from '../../src/store/sqlite/store.js';
import { type CliResult, runCli as run, type Stack, startStack } from '../helpers/stack.js';

const CONFIG = `
admins: [platform]
targets:
  db-prod:
    type: postgres
    description: Production database
    address: 127.0.0.1:5432
    database: app
    roles:
      read:  { username: readonly, password: env:DB_PROD_RO_PASSWORD }
      write: { username: app_rw,   password: env:DB_PROD_RW_PASSWORD }
      short: { username: app_rw,   password: file:/etc/gate/short-secret }
      dual:  { username: app_rw,   password: env:DB_PROD_RW_PASSWORD }
  cluster:
    type: kubernetes
    address: https://10.0.0.1:6443
    roles:
      view: { token: env:KUBE_VIEW_TOKEN }
policies:
  - { name: eng-read,  groups: [engineering], targets: [db-prod], roles: [read],  max_duration: 8h, approval: auto }
  - { name: eng-write, groups: [engineering], targets: [db-prod], roles: [write], max_duration: 1h, reason: required,
      approval: { approvers: [dba-oncall], min: 1 } }
  - { name: eng-short, groups: [engineering], targets: [db-prod], roles: [short], max_duration: 10m,
      approval: { approvers: [dba-oncall] } }
  - { name: eng-dual,  groups: [engineering], targets: [db-prod], roles: [dual], max_duration: 1h,
      approval: { approvers: [dba-oncall], min: 2 } }
  - { name: eng-kube,  groups: [engineering], targets: [cluster], roles: [view], max_duration: 1h, approval: auto }
`;

let stack: Stack;
let configDir: string;
const tokens: Record<string, string> = {};
/** Every API and CLI response body this suite saw: none may carry a credential reference. */
const seen: string[] = [];

async function cli(user: string | undefined, args: string[]): Promise<CliResult> {
  const env: Record<string, string | undefined> = { GATE_SERVER: stack.url, GATE_CONFIG_DIR: configDir };
  if (user) env.GATE_TOKEN = tokens[user];
  const result = await run(args, { env });
  seen.push(result.stdout, result.stderr);
  return result;
}

async function api(user: string, method: string, path: string, body?: unknown, rawBody?: string) {
  const res = await request(`${stack.url}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${tokens[user]}`, ...(body !== undefined || rawBody !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.body.text();
  seen.push(text);
  // biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary response bodies.
  return { status: res.statusCode, json: JSON.parse(text) as Record<string, any> };
}

// biome-ignore lint/suspicious/noExplicitAny: NDJSON events carry arbitrary fields.
const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; [k: string]: any });

/** Resolves with the next grant change matching `pred` (the server's own event stream). */
function nextChange(pred: (g: Grant) => boolean): Promise<Grant> {
  return new Promise((resolve) => {
    const on = (g: Grant) => {
      if (!pred(g)) return;
      stack.server.ctx.grants.events.off('change', on);
      resolve(g);
    };
    stack.server.ctx.grants.events.on('change', on);
  });
}

async function grantCount(): Promise<number> {
  return ((stack.server.ctx.store as SqliteStore).db.prepare('SELECT count(*) AS n FROM grants').get() as { n: number }).n;
}

beforeAll(async () => {
  stack = await startStack({ configYaml: CONFIG });
  configDir = await mkdtemp(join(tmpdir(), 'gate-cli-'));
  // One device login per user for the whole suite: Chromium is slow.
  for (const user of ['alice', 'bob', 'dave', 'carol', 'erin']) tokens[user] = await stack.loginAs(user);
});

afterAll(async () => {
  await stack?.close();
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

describe('targets', () => {
  it('lists what the caller may request, with approval needs and max duration', async () => {
    const r = await cli('alice', ['targets', '--json']);
    expect(r.code).toBe(0);
    const { targets } = JSON.parse(r.stdout) as { targets: TargetSummary[] };
    const db = targets.find((t) => t.name === 'db-prod')!;
    expect(db).toMatchObject({ type: 'postgres', description: 'Production database' });
    expect(db.roles.find((x) => x.role === 'read')).toMatchObject({ approval_required: false, max_duration: '8h' });
    expect(db.roles.find((x) => x.role === 'write')).toMatchObject({ approval_required: true, approvers: ['dba-oncall'], reason_required: true });
    const human = await cli('alice', ['targets']);
    expect(human.stdout).toContain('db-prod\tpostgres\twrite\t1 of dba-oncall\t1h');
  });

  it('shows nothing to a user no policy covers', async () => {
    const r = await cli('erin', ['targets', '--json']);
    expect(JSON.parse(r.stdout).targets).toEqual([]);
  });
});

describe('requesting', () => {
  it('grants an auto-approved read role at once and prints the active grant', async () => {
    const r = await cli('alice', ['request', '--new', 'db-prod', '--role', 'read', '--for', '30m']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^id\s+g_/m);
    expect(r.stdout).toMatch(/^target\s+db-prod$/m);
    expect(r.stdout).toMatch(/^role\s+read$/m);
    expect(r.stdout).toMatch(/^expires\s+\d{4}-/m);
    expect(r.stderr).toContain('Access granted');
  });

  it('caps the duration at the policy maximum and says so', async () => {
    const r = await cli('alice', ['request', '--new', 'db-prod', '--role', 'read', '--for', '10h', '--json']);
    expect(r.code).toBe(0);
    const [requested] = events(r.stdout);
    expect(requested!.grant).toMatchObject({ duration_capped: true, requested_duration: 36000, duration: 28800, state: 'active' });
  });

  it('picks the only role when --role is omitted', async () => {
    const r = await cli('alice', ['request', '--new', 'cluster', '--json']);
    expect(r.code).toBe(0);
    expect(events(r.stdout).at(-1)).toMatchObject({ event: 'approved', grant: { role: 'view', state: 'active' } });
  });

  it('refuses a request no policy matches, with the reason, exit 5', async () => {
    const r = await cli('erin', ['request', '--new', 'db-prod', '--role', 'read']);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('No policy lets your groups (marketing) request role read on db-prod');
  });

  it('requires a reason when the policy says so', async () => {
    const before = await grantCount();
    const r = await cli('alice', ['request', '--new', 'db-prod', '--role', 'write', '--no-wait']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('requires a reason');
    expect(await grantCount()).toBe(before);
  });

  it('exits 4 when not logged in', async () => {
    const r = await cli(undefined, ['request', '--new', 'db-prod', '--role', 'read']);
    expect(r.code).toBe(4);
  });

  it('--no-wait exits 8 with the grant id', async () => {
    const r = await cli('alice', ['request', '--new', 'db-prod', '--role', 'write', '--reason', 'INC-1', '--no-wait']);
    expect(r.code).toBe(8);
    expect(r.stdout.trim()).toMatch(/^g_\w+$/);
    expect(r.stderr).toContain('dba-oncall');
  });
});

describe('approval', () => {
  it('pending → self-approval refused → approved by the approver → expires → `gate grants` shows expired', async () => {
    const req = await cli('alice', ['request', '--new', 'db-prod', '--role', 'short', '--for', '1h', '--no-wait', '--json']);
    expect(req.code).toBe(8);
    const [requested, waiting] = events(req.stdout);
    expect(requested!.grant).toMatchObject({ state: 'pending', duration: 600, duration_capped: true });
    expect(waiting).toMatchObject({ event: 'waiting_approval', approvers: ['dba-oncall'] });
    const id = requested!.grant.id as string;

    const self = await cli('alice', ['approve', id]);
    expect(self.code).toBe(5);
    expect(self.stderr).toContain('someone else must approve it');

    const ended = new Promise<string>((resolve) => {
      const off = stack.server.ctx.grants.onEnded(id, (reason) => {
        off();
        resolve(reason);
      });
    });
    const ok = await cli('bob', ['approve', id, '--comment', 'go']);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain(`Approved ${id}`);
    const active = await stack.server.ctx.grants.activeGrant(id);
    expect(active?.state).toBe('active');

    // Its time comes on cue (the server's clock), not by racing a 2 s grant against the CLI's start-up.
    await stack.advanceClock(Date.parse(active!.expires_at!) - Date.now() + 1_000);
    expect(await ended).toBe('expired');
    expect(await stack.server.ctx.grants.activeGrant(id)).toBeUndefined();
    const list = await cli('alice', ['grants']);
    expect(list.stdout.split('\n').find((l) => l.startsWith(id))).toMatch(new RegExp(`^${id}\\tdb-prod\\tshort\\texpired\\talice`));
  });

  it('an approver revokes an active grant; the end is pushed; revoking again is 409 with the state', async () => {
    const req = await cli('alice', ['request', '--new', 'db-prod', '--role', 'write', '--reason', 'INC-2', '--no-wait']);
    const id = req.stdout.trim();
    await cli('bob', ['approve', id]);
    const ended = new Promise<string>((resolve) => stack.server.ctx.grants.onEnded(id, (reason) => resolve(reason)));
    const r = await cli('bob', ['revoke', id, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).grant).toMatchObject({ state: 'revoked', ended_by: 'bob' });
    expect(await ended).toBe('revoked');
    const again = await api('alice', 'POST', `/v1/grants/${id}/revoke`, {});
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({ code: 'invalid_state', details: { state: 'revoked' } });
  });

  it('min: 2 needs two different approvers; a second approval by the same one does not count', async () => {
    const id = (await cli('alice', ['request', '--new', 'db-prod', '--role', 'dual', '--no-wait'])).stdout.trim();
    const first = await cli('bob', ['approve', id]);
    expect(first.stderr).toContain('1 of 2');
    const twice = await cli('bob', ['approve', id]);
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toContain('a second approval by the same person does not count');
    expect((await api('alice', 'GET', `/v1/grants/${id}`)).json.grant.state).toBe('pending');
    const second = await cli('dave', ['approve', id, '--json']);
    expect(JSON.parse(second.stdout).grant).toMatchObject({ state: 'active', approvals: [{ by: 'bob' }, { by: 'dave' }] });
  });

  it('denying: the waiting requester exits 5 and --json events come in order', async () => {
    const pending = nextChange((g) => g.requester === 'alice' && g.role === 'write' && g.state === 'pending');
    const run = cli('alice', ['request', '--new', 'db-prod', '--role', 'write', '--reason', 'INC-3', '--json', '--timeout', '1m']);
    const g = await pending;
    const deny = await cli('bob', ['deny', g.id, '--comment', 'not now']);
    expect(deny.code).toBe(0);
    const r = await run;
    expect(r.code).toBe(5);
    const names = events(r.stdout).map((e) => e.event);
    expect(names).toEqual(['requested', 'waiting_approval', 'denied', 'error']);
    expect(r.stderr).toContain('not now');
  });

  it('waiting: approved while `gate request` waits → exit 0 with requested, waiting_approval, approved', async () => {
    const pending = nextChange((g) => g.requester === 'alice' && g.role === 'write' && g.state === 'pending');
    const run = cli('alice', ['request', '--new', 'db-prod', '--role', 'write', '--reason', 'INC-4', '--json']);
    const g = await pending;
    await cli('bob', ['approve', g.id]);
    const r = await run;
    expect(r.code).toBe(0);
    expect(events(r.stdout).map((e) => e.event)).toEqual(['requested', 'waiting_approval', 'approved']);
  });

  it('a pending request can be cancelled by its requester only; approving it afterwards is 409', async () => {
    const id = (await cli('alice', ['request', '--new', 'db-prod', '--role', 'write', '--reason', 'INC-5', '--no-wait'])).stdout.trim();
    expect((await cli('bob', ['cancel', id])).code).toBe(5);
    const c = await cli('alice', ['cancel', id]);
    expect(c.code).toBe(0);
    expect(c.stderr).toContain(`Cancelled ${id}`);
    const late = await api('bob', 'POST', `/v1/grants/${id}/approve`, {});
    expect(late.status).toBe(409);
    expect(late.json.error.details.state).toBe('cancelled');
  });

  it('the long-poll returns because the state changed', async () => {
    const id = (await cli('alice', ['request', '--new', 'db-prod', '--role', 'write', '--reason', 'INC-6', '--no-wait'])).stdout.trim();
    const changes = stack.server.ctx.grants.events;
    const listening = changes.listenerCount('change');
    let settled = false;
    const poll = api('alice', 'GET', `/v1/grants/${id}?wait=60&state=pending`).finally(() => {
      settled = true;
    });
    // The server is holding the poll (it subscribed to changes) and has not answered: it waits.
    while (changes.listenerCount('change') === listening && !settled) await sleep(10);
    expect(settled, 'the long-poll answered before anything changed').toBe(false);
    await cli('bob', ['approve', id]);
    const r = await poll;
    expect(r.status).toBe(200);
    expect(r.json.grant).toMatchObject({ id, state: 'active', approvals: [{ by: 'bob' }] });
  });

  it('approvers see pending grants on their targets, admins see all, others get 404', async () => {
    const id = (await cli('alice', ['request', '--new', 'db-prod', '--role', 'write', '--reason', 'INC-7', '--no-wait'])).stdout.trim();
    const bob = await cli('bob', ['grants', '--pending']);
    expect(bob.stdout).toContain(id);
    const carol = await api('carol', 'GET', '/v1/grants?all=1');
    expect(carol.json.grants.map((g: Grant) => g.id)).toContain(id);
    const erin = await api('erin', 'GET', `/v1/grants/${id}`);
    expect(erin.status).toBe(404);
    // Admins may revoke any grant, but approving stays with approvers.
    expect((await api('carol', 'POST', `/v1/grants/${id}/approve`, {})).status).toBe(403);
    await cli('alice', ['cancel', id]);
  });
});

describe('command approvals', () => {
  it('a held command needs an approver; the approval passes that exact text once', async () => {
    const out = (await cli('alice', ['request', 'db-prod', '--role', 'write', '--reason', 'INC-8', '--no-wait', '--new'])).stdout;
    const id = /\b(g_\w+)/.exec(out)![1]!;
    await cli('bob', ['approve', id]);
    const grants = stack.server.ctx.grants;
    const text = 'DELETE FROM users\n WHERE id IN (\n  1, 2)';
    const summary = [{ tag: 'DELETE', tables: ['users'], filtered: true }];
    const first = await grants.requestCommandApproval({ grant: { id }, text, rule: 'delete', summary, reuse: 1 });
    expect(first.status).toBe('pending');
    expect(first.id).toMatch(/^a_/);
    expect(await grants.requestCommandApproval({ grant: { id }, text, rule: 'delete', reuse: 1 })).toEqual(first);

    // The approver sees the whole statement with its line breaks, and the parser's summary.
    const listed = await cli('bob', ['grants', '--pending']);
    expect(listed.stdout).toContain(`${first.id}\tdb-prod\twrite\tpending (command)\talice`);
    expect(listed.stdout).toContain('  DELETE on users, filtered');
    expect(listed.stdout).toContain('  │ DELETE FROM users\n  │  WHERE id IN (\n  │   1, 2)');
    const self = await cli('alice', ['approve', first.id]);
    expect(self.code).toBe(5);
    const ok = await cli('bob', ['approve', first.id]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('may run this statement on db-prod');
    expect(ok.stderr).toContain('  │  WHERE id IN (');
    const api1 = await api('bob', 'GET', `/v1/approvals/${first.id}`);
    expect(api1.json.approval).toMatchObject({ text, summary, reuse: 1 });

    // One byte different is another statement: not approved.
    const spaced = await grants.requestCommandApproval({ grant: { id }, text: `${text} `, rule: 'delete', reuse: 1 });
    expect(spaced.status).toBe('pending');
    expect(spaced.id).not.toBe(first.id);
    // Single use: the first run passes, the second asks again.
    expect(await grants.requestCommandApproval({ grant: { id }, text, rule: 'delete', reuse: 1 })).toEqual({ status: 'approved', id: first.id });
    const again = await grants.requestCommandApproval({ grant: { id }, text, rule: 'delete', reuse: 1 });
    expect(again.status).toBe('pending');
    expect(again.id).not.toBe(first.id);

    // The comment trick: approved on one line, the same text with a line break after -- is different.
    const oneLine = 'delete from logs -- ; delete from other';
    const held = await grants.requestCommandApproval({ grant: { id }, text: oneLine, rule: 'delete', reuse: 2 });
    await cli('bob', ['approve', held.id]);
    const twoLines = await grants.requestCommandApproval({ grant: { id }, text: 'delete from logs --\n; delete from other', rule: 'delete', reuse: 2 });
    expect(twoLines.status).toBe('pending');
    // reuse: 2 lets the approved text run twice, not three times.
    expect((await grants.requestCommandApproval({ grant: { id }, text: oneLine, rule: 'delete', reuse: 2 })).status).toBe('approved');
    expect((await grants.requestCommandApproval({ grant: { id }, text: oneLine, rule: 'delete', reuse: 2 })).status).toBe('approved');
    expect((await grants.requestCommandApproval({ grant: { id }, text: oneLine, rule: 'delete', reuse: 2 })).status).toBe('pending');

    const other = await grants.requestCommandApproval({ grant: { id }, text: 'UPDATE users SET x = 1', rule: 'x' });
    await cli('bob', ['deny', other.id]);
    expect(await grants.requestCommandApproval({ grant: { id }, text: 'UPDATE users SET x = 1', rule: 'x' })).toEqual({ status: 'denied', id: other.id });
  });
});

describe('bad input changes nothing', () => {
  it('answers each with a clear 4xx', async () => {
    const before = await grantCount();
    const cases: [unknown, number, RegExp][] = [
      [{ target: 'nope', role: 'read', duration: '1h' }, 404, /no target named "nope"/],
      [{ target: 'db-prod', role: 'admin', duration: '1h' }, 400, /no role "admin"; its roles are: read, write, short, dual/],
      [{ target: 'db-prod', role: 'read', duration: -5 }, 400, /positive whole number/],
      [{ target: 'db-prod', role: 'read', duration: '999d' }, 400, /longer than gate ever grants/],
      [{ target: 'db-prod', role: 'read', duration: 'soon' }, 400, /not a duration/],
      [{ role: 'read' }, 400, /target/],
    ];
    for (const [body, status, message] of cases) {
      const r = await api('alice', 'POST', '/v1/grants', body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.json.error.message).toMatch(message);
    }
    const bad = await api('alice', 'POST', '/v1/grants', undefined, '{"target": ');
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toContain('not valid JSON');
    expect(await grantCount()).toBe(before);
  });

  it("another user's grant id is 404 for every verb, and the grant is untouched", async () => {
    const id = (await cli('alice', ['request', '--new', 'db-prod', '--role', 'read', '--no-wait'])).stdout.match(/^id\s+(g_\w+)/m)![1]!;
    for (const verb of ['approve', 'deny', 'revoke', 'cancel']) {
      const r = await api('erin', 'POST', `/v1/grants/${id}/${verb}`, {});
      expect(r.status).toBe(404);
    }
    expect((await api('erin', 'GET', `/v1/grants/${id}?wait=1`)).status).toBe(404);
    expect((await api('alice', 'GET', `/v1/grants/${id}`)).json.grant.state).toBe('active');
    expect((await cli('erin', ['revoke', id])).code).toBe(1);
  });
});

describe('restart', () => {
  it('an active grant survives a restart; one whose time passed while down is expired at start', async () => {
    const longId = (await cli('alice', ['request', '--new', 'db-prod', '--role', 'read', '--for', '1h'])).stdout.match(/^id\s+(g_\w+)/m)![1]!;
    const shortId = (await cli('alice', ['request', '--new', 'db-prod', '--role', 'short', '--no-wait'])).stdout.trim();
    await cli('bob', ['approve', shortId]);
    const short = await stack.server.ctx.grants.activeGrant(shortId);
    // Its time passes while the server is down.
    await stack.restart({ whileDown: async () => stack.shiftClock(Date.parse(short!.expires_at!) - Date.now() + 1_000) });
    const r = await cli('alice', ['grants', '--json']);
    const grants = JSON.parse(r.stdout).grants as Grant[];
    expect(grants.find((g) => g.id === longId)?.state).toBe('active');
    expect(grants.find((g) => g.id === shortId)?.state).toBe('expired');
    expect(await stack.server.ctx.grants.activeGrant(longId)).toBeDefined();
  });
});

describe('secrets', () => {
  it('no API or CLI response ever carried a credential reference', async () => {
    // Each call records its raw body in `seen`.
    await api('carol', 'GET', '/v1/grants?all=1');
    await api('carol', 'GET', '/v1/audit');
    await api('alice', 'GET', '/v1/targets');
    await api('bob', 'GET', '/v1/approvals');
    expect(seen.length).toBeGreaterThan(40);
    for (const text of seen) {
      expect(text).not.toMatch(/env:[A-Z_]/);
      expect(text).not.toMatch(/file:\//);
    }
  });
});
