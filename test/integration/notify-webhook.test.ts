/**
 * Signed webhooks from the outbox, against a real receiver on 127.0.0.1: the
 * signature and timestamp verify as docs/notifications.md says, a retry after
 * a 500 carries the same event id, a server stopped before it could deliver
 * delivers after the next start on the same data dir, and a failing sink
 * shows in `gate status --json` for an admin and as `notify.failed` in the
 * audit log, never with the URL's path or query.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationPayload } from '../../src/server/notify/payload.js';
import { runCliWith } from '../helpers/cli-run.js';
import { type NotifyServer, startNotifyServer } from '../helpers/notify-stack.js';
import { type Received, startReceiver } from '../helpers/notify-receiver.js';
import { startTestIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';
import { freePort } from '../helpers/postgres.js';

const HOOK_SECRET = 'whsec-test-0123456789abcdef';
const PATH_SECRET = 'hook-path-secret-77';
const env = { NT_DB_PASSWORD: 'db-password-never-sent', NT_HOOK_SECRET: HOOK_SECRET };

const yaml = (port: number, sinkOptions = '') => `
admins: [platform]
console_url: http://console.example.test/ui/
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      write: { username: app_rw, password: env:NT_DB_PASSWORD }
policies:
  - { name: eng-write, groups: [engineering], targets: [db-prod], roles: [write], max_duration: 1h,
      approval: { approvers: [dba-oncall] } }
notifications:
  - { type: webhook, name: hooks, url: 'http://127.0.0.1:${port}/gate/${PATH_SECRET}?token=${PATH_SECRET}', secret: env:NT_HOOK_SECRET,
      events: [grant.requested, approval.requested, grant.approved, grant.denied, grant.revoked, grant.expired]${sinkOptions} }
`;

type Body = NotificationPayload & { timestamp: number };

/** What a receiver does (docs/notifications.md): HMAC-SHA256 of the raw body, then the timestamp. */
function verify(r: Received, secret: string): Body {
  const expected = `sha256=${createHmac('sha256', secret).update(r.body, 'utf8').digest('hex')}`;
  const got = String(r.headers['x-gate-signature'] ?? '');
  if (got.length !== expected.length || !timingSafeEqual(Buffer.from(got), Buffer.from(expected))) throw new Error('bad signature');
  const body = JSON.parse(r.body) as Body;
  const ts = Number(r.headers['x-gate-timestamp']);
  if (body.timestamp !== ts) throw new Error('timestamp header and signed body disagree');
  if (Math.abs(Date.now() / 1000 - ts) > 300) throw new Error('stale timestamp');
  return body;
}

const eventIs = (event: string) => (r: Received) => (JSON.parse(r.body) as Body).event === event;

let people: TestIssuer;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  people = await startTestIssuer();
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(async () => {
  await people.close();
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gate-notify-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(port: number, dir: string, sinkOptions = ''): Promise<NotifyServer> {
  const s = await startNotifyServer({ yaml: yaml(port, sinkOptions), dataDir: dir, env, people });
  cleanup.push(() => s.close());
  return s;
}

describe('webhook notifications', () => {
  it('signs each event, and a retry after a 500 carries the same event id', async () => {
    const receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    receiver.answers.push(500);
    const gate = await serve(receiver.port, await dataDir());
    const alice = await gate.token('alice', ['engineering']);
    const bob = await gate.token('bob', ['dba-oncall']);
    const carol = await gate.token('carol', ['platform']);

    const created = await gate.api<{ grant: { id: string } }>(alice, 'POST', '/v1/grants', {
      target: 'db-prod',
      role: 'write',
      duration: '30m',
      reason: 'fix INC-42',
    });
    expect(created.status).toBe(201);
    const id = created.body.grant.id;

    // The receiver said 500 to the first attempt: gate sent it again, same event, same id.
    await receiver.waitFor((r) => eventIs('grant.requested')(r) && r.status === 200);
    const attempts = receiver.received.filter(eventIs('grant.requested'));
    expect(attempts.map((r) => r.status)).toEqual([500, 200]);
    const [first, second] = attempts.map((r) => verify(r, HOOK_SECRET));
    expect(second!.id).toBe(first!.id);
    expect(attempts.map((r) => r.headers['x-gate-event-id'])).toEqual([first!.id, first!.id]);
    expect(attempts[0]!.headers['x-gate-event']).toBe('grant.requested');
    expect(attempts[0]!.headers['content-type']).toBe('application/json');

    // The id is the audit event's: the notification and the audit log name the same event.
    const audited = await gate.server.ctx.audit.list({ actions: ['grant.requested'], grantId: id });
    expect(first).toMatchObject({
      event: 'grant.requested',
      id: audited[0]!.id,
      at: audited[0]!.time,
      grant: { id, state: 'pending', target: 'db-prod', role: 'write', requester: 'alice', reason: 'fix INC-42', duration: 1800, approvers: ['dba-oncall'] },
      links: { console: `http://console.example.test/ui/grants/${id}` },
    });

    // Anyone who changes a byte (or the timestamp) no longer has a valid signature.
    const tampered: Received = { ...attempts[1]!, body: attempts[1]!.body.replace('fix INC-42', 'fix INC-43') };
    expect(() => verify(tampered, HOOK_SECRET)).toThrow('bad signature');
    expect(() => verify(attempts[1]!, 'another-secret')).toThrow('bad signature');

    // The failed attempt is audited with the sink, host and HTTP status, never the URL's path or query.
    const failures = await gate.server.ctx.audit.list({ actions: ['notify.failed'] });
    expect(failures).toHaveLength(1);
    expect(JSON.parse(failures[0]!.details)).toMatchObject({
      sink: 'hooks',
      type: 'webhook',
      host: `127.0.0.1:${receiver.port}`,
      event: 'grant.requested',
      event_id: first!.id,
      status: 500,
      attempt: 1,
      final: false,
    });
    expect(JSON.stringify(failures)).not.toContain(PATH_SECRET);

    expect((await gate.api(bob, 'POST', `/v1/grants/${id}/approve`, { comment: 'ok' })).status).toBe(200);
    const approved = verify(await receiver.waitFor(eventIs('grant.approved')), HOOK_SECRET);
    expect(approved.grant).toMatchObject({ id, state: 'active', by: 'bob', comment: 'ok' });
    expect(approved.id).not.toBe(first!.id);

    expect((await gate.api(carol, 'POST', `/v1/grants/${id}/revoke`, { comment: 'done' })).status).toBe(200);
    const revoked = verify(await receiver.waitFor(eventIs('grant.revoked')), HOOK_SECRET);
    expect(revoked.grant).toMatchObject({ id, state: 'revoked', by: 'carol' });
    for (const r of receiver.received) {
      expect(r.path).toBe(`/gate/${PATH_SECRET}?token=${PATH_SECRET}`);
      expect(r.body).not.toContain(env.NT_DB_PASSWORD);
      expect(r.body).not.toContain(HOOK_SECRET);
    }
    expect(gate.logs.join('')).not.toContain(PATH_SECRET);
  });

  it('delivers after a restart what a stopped server could not, and shows the failing sink to admins only', async () => {
    const port = await freePort();
    const dir = await dataDir();
    const first = await serve(port, dir);
    const alice = await first.token('alice', ['engineering']);
    const carol = await first.token('carol', ['platform']);
    const bob = await first.token('bob', ['dba-oncall']);
    const configDir = await dataDir();

    const created = await first.api<{ grant: { id: string } }>(alice, 'POST', '/v1/grants', { target: 'db-prod', role: 'write', reason: 'deploy' });
    const id = created.body.grant.id;
    // Nothing listens on the port yet: the first attempt fails.
    await first.waitForLog('notification attempt failed');

    const status = await runCliWith(['status', '--json'], { env: { GATE_SERVER: first.url, GATE_TOKEN: carol, GATE_CONFIG_DIR: configDir } });
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as { notifications: Record<string, unknown>[] };
    expect(report.notifications).toHaveLength(1);
    expect(report.notifications[0]).toMatchObject({ name: 'hooks', type: 'webhook', host: `127.0.0.1:${port}`, pending: 1, delivered: 0, last_status: null });
    expect(report.notifications[0]!.failed_attempts).toBeGreaterThanOrEqual(1);
    expect(String(report.notifications[0]!.last_error)).toContain('ECONNREFUSED');
    expect(status.stdout).not.toContain(PATH_SECRET);
    const human = await runCliWith(['status'], { env: { GATE_SERVER: first.url, GATE_TOKEN: carol, GATE_CONFIG_DIR: configDir } });
    expect(human.stdout).toMatch(/hooks \(webhook, 127\.0\.0\.1:\d+\): 0 delivered, 1 pending/);

    // Not an admin: no notification section, and the API refuses.
    const bobs = await runCliWith(['status', '--json'], { env: { GATE_SERVER: first.url, GATE_TOKEN: bob, GATE_CONFIG_DIR: configDir } });
    expect(JSON.parse(bobs.stdout)).not.toHaveProperty('notifications');
    expect((await first.api(bob, 'GET', '/v1/notifications/status')).status).toBe(403);

    const failure = (await first.server.ctx.audit.list({ actions: ['notify.failed'] }))[0]!;
    expect(JSON.parse(failure.details)).toMatchObject({ sink: 'hooks', host: `127.0.0.1:${port}`, status: null, event: 'grant.requested' });
    const requested = (await first.server.ctx.audit.list({ actions: ['grant.requested'], grantId: id }))[0]!;

    await first.close();
    const receiver = await startReceiver(port);
    cleanup.push(() => receiver.close());
    const second = await serve(port, dir);

    const delivered = verify(await receiver.waitFor(eventIs('grant.requested')), HOOK_SECRET);
    expect(delivered).toMatchObject({ id: requested.id, event: 'grant.requested', grant: { id, requester: 'alice', reason: 'deploy' } });
    await second.waitForLog('notification delivered');
    const after = await second.api<{ sinks: Record<string, unknown>[] }>(await second.token('carol', ['platform']), 'GET', '/v1/notifications/status');
    expect(after.body.sinks[0]).toMatchObject({ name: 'hooks', pending: 0, delivered: 1, failed: 0, last_status: null });
  });

  it('gives a notification up after max_attempts, and says so in the audit log and gate status', async () => {
    const receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    receiver.answers.push(503, 503, 503);
    const gate = await serve(receiver.port, await dataDir(), ', max_attempts: 2');
    const alice = await gate.token('alice', ['engineering']);
    await gate.api(alice, 'POST', '/v1/grants', { target: 'db-prod', role: 'write', reason: 'x' });
    await gate.waitForLog('notification given up');
    expect(receiver.received.map((r) => r.status)).toEqual([503, 503]);
    const failures = (await gate.server.ctx.audit.list({ actions: ['notify.failed'] })).map((e) => JSON.parse(e.details));
    expect(failures.map((f) => [f.attempt, f.status, f.final])).toEqual([
      [1, 503, false],
      [2, 503, true],
    ]);
    expect(failures[1].error).toBe('HTTP 503: receiver says no');
    const carol = await gate.token('carol', ['platform']);
    const status = await gate.api<{ sinks: Record<string, unknown>[] }>(carol, 'GET', '/v1/notifications/status');
    expect(status.body.sinks[0]).toMatchObject({ name: 'hooks', pending: 0, delivered: 0, failed: 1, failed_attempts: 2, last_status: 503 });
  });
});
