/**
 * A statement held by a require_approval guardrail, end to end: the built
 * `gate server` in front of a real PostgreSQL, `gate exec -- psql` sending an
 * UPDATE that writes a masked column with a card number and an e-mail in it,
 * and a real webhook receiver. The notification names the held statement and
 * links to its console page; no literal of it, no credential, no secret.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationPayload } from '../../src/server/notify/payload.js';
import { gateEnv, type RunningGate, runGate, startGate } from '../helpers/gate-bin.js';
import { type Receiver, startReceiver } from '../helpers/notify-receiver.js';
import { startTestIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const AUDIENCE = 'https://gate.notify-e2e.example';
const RO_PASSWORD = 'ro-target-secret-n7o8t9';
const HOOK_SECRET = 'whsec-held-statement-5d6e';

let issuer: TestIssuer;
let pg: TestPostgres;
let receiver: Receiver;
let server: RunningGate;
let serverUrl = '';
let dir = '';

beforeAll(async () => {
  issuer = await startTestIssuer();
  receiver = await startReceiver();
  pg = await startPostgres();
  await pg.query(`create role readonly login password '${RO_PASSWORD}'`);
  await pg.query('create table customers (id int primary key, ssn text, note text, email text)');
  await pg.query('grant select, update on customers to readonly');
  dir = await mkdtemp(join(tmpdir(), 'gate-notify-held-'));
  const configFile = join(dir, 'gate.yaml');
  await writeFile(
    configFile,
    `identity:
  oidc: { issuer: '${issuer.issuer}', client_id: gate-cli }
  workloads:
    - { name: app-ci, issuer: '${issuer.issuer}', audience: '${AUDIENCE}', groups: [engineering] }
admins: [platform]
console_url: https://gate.internal.example/ui
targets:
  db:
    type: postgres
    address: 127.0.0.1:${pg.port}
    database: postgres
    roles:
      read: { username: readonly, password: env:NOTIFY_E2E_RO_PASSWORD }
    guardrails:
      - { require_approval: '^\\s*update\\b', message: updates need a DBA }
    masking: { columns: [customers.ssn], detectors: [email, credit_card] }
policies:
  - { name: eng-read, groups: [engineering], targets: [db], roles: [read], max_duration: 30m, approval: auto }
notifications:
  - { type: webhook, url: '${receiver.base}/gate', secret: env:NOTIFY_E2E_HOOK_SECRET, events: [approval.requested] }
`,
  );
  server = startGate(['server', '--config', configFile, '--port', '0', '--data-dir', join(dir, 'data')], {
    env: { PATH: process.env.PATH, HOME: dir, NOTIFY_E2E_RO_PASSWORD: RO_PASSWORD, NOTIFY_E2E_HOOK_SECRET: HOOK_SECRET },
  });
  serverUrl = (JSON.parse(await server.waitFor(/"listening"/, 'stderr')) as { url: string }).url;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
  await pg?.stop();
  await issuer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a held statement notifies the approvers', () => {
  it('through the gateway: the webhook gets the statement without its literals and a console link', async () => {
    const idToken = await issuer.sign({ sub: 'repo:acme/app:ref:refs/heads/main', aud: AUDIENCE });
    const login = await runGate(['login', '--id-token', '-', '--print-token'], { env: await gateEnv({ GATE_SERVER: serverUrl, CI: 'true' }), input: idToken });
    expect(login.code, login.stderr).toBe(0);
    const token = login.stdout.trim();

    const statement = `update customers set ssn = '123-45-6789', note = 'card 4111 1111 1111 1111', email = 'jane.doe@example.com' where id = 1`;
    const r = await runGate(['exec', 'db', '--role', 'read', '--', 'psql', '-X', '-c', statement], {
      env: await gateEnv({ GATE_SERVER: serverUrl, GATE_TOKEN: token, CI: 'true' }),
      timeoutMs: 45_000,
    });
    expect(r.stderr).toContain('held for approval');

    const got = await receiver.waitFor((x) => x.path === '/gate');
    expect(got.headers['x-gate-signature']).toBe(`sha256=${createHmac('sha256', HOOK_SECRET).update(got.body).digest('hex')}`);
    const body = JSON.parse(got.body) as NotificationPayload;
    expect(body.event).toBe('approval.requested');
    expect(body.approval).toMatchObject({
      target: 'db',
      role: 'read',
      statement: `update customers set ssn = '****', note = '****', email = '****' where id = ****`,
      statement_redacted: true,
      summary: [{ tag: 'UPDATE', tables: ['customers'] }],
      message: 'updates need a DBA',
      approvers: ['platform'],
    });
    expect(r.stderr).toContain(body.approval!.id);
    expect(body.links.console).toBe(`https://gate.internal.example/ui/approvals/${body.approval!.id}`);
    for (const secret of ['123-45-6789', '4111 1111 1111 1111', 'jane.doe', RO_PASSWORD, HOOK_SECRET, token, pg.password]) {
      expect(got.body).not.toContain(secret);
    }
  });
});
