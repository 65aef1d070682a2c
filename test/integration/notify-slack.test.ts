/**
 * Slack incoming-webhook messages (Block Kit) and what no notification may
 * carry: a held statement that writes a masked column, or holds an e-mail
 * address or a card number, reaches Slack and the webhook redacted, and no
 * credential, hook secret or Slack URL path appears in any payload.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationPayload } from '../../src/server/notify/payload.js';
import { type NotifyServer, startNotifyServer } from '../helpers/notify-stack.js';
import { type Received, type Receiver, startReceiver } from '../helpers/notify-receiver.js';
import { startTestIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';

const SLACK_PATH = '/services/T0001/B0001/slack-path-secret-42';
const env: Record<string, string> = {
  NT_DB_PASSWORD: 'db-password-never-sent',
  NT_HOOK_SECRET: 'whsec-slack-test-secret',
  NT_SLACK_URL: '',
};

const yaml = (receiver: Receiver) => `
admins: [platform]
console_url: https://gate.internal.example/ui
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      read:  { username: readonly, password: env:NT_DB_PASSWORD }
      write: { username: app_rw, password: env:NT_DB_PASSWORD }
    masking: { columns: [customers.ssn], detectors: [email, credit_card] }
policies:
  - { name: eng-read, groups: [engineering], targets: [db-prod], roles: [read], max_duration: 8h, approval: auto }
  - { name: eng-write, groups: [engineering], targets: [db-prod], roles: [write], max_duration: 1h,
      approval: { approvers: [dba-oncall] } }
notifications:
  - { type: slack, url: env:NT_SLACK_URL, events: [grant.requested, approval.requested] }
  - { type: webhook, url: '${receiver.base}/hook', secret: env:NT_HOOK_SECRET, events: [approval.requested] }
`;

interface Block {
  type: string;
  text?: { type: string; text: string };
  fields?: { type: string; text: string }[];
  elements?: { type: string; text?: { type: string; text: string } | string; url?: string }[];
}
interface SlackBody {
  text: string;
  blocks: Block[];
}

const slack = (r: Received) => r.path === SLACK_PATH;
const slackBody = (r: Received) => JSON.parse(r.body) as SlackBody;

/** The shape Slack's incoming webhooks accept: a fallback text and known block types, each well formed. */
function expectIncomingWebhookShape(m: SlackBody): void {
  expect(typeof m.text).toBe('string');
  expect(m.text.length).toBeGreaterThan(0);
  for (const b of m.blocks) {
    expect(['header', 'section', 'actions', 'context']).toContain(b.type);
    if (b.type === 'header') expect(b.text?.type).toBe('plain_text');
    if (b.type === 'section') expect(b.text ?? b.fields).toBeDefined();
    for (const f of b.fields ?? []) expect(f.type).toBe('mrkdwn');
  }
}

let people: TestIssuer;
let receiver: Receiver;
let gate: NotifyServer;
let dir: string;

beforeAll(async () => {
  people = await startTestIssuer();
  receiver = await startReceiver();
  env.NT_SLACK_URL = `${receiver.base}${SLACK_PATH}`;
  dir = await mkdtemp(join(tmpdir(), 'gate-notify-slack-'));
  gate = await startNotifyServer({ yaml: yaml(receiver), dataDir: dir, env, people });
});
afterAll(async () => {
  await gate?.close();
  await receiver?.close();
  await people?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('Slack notifications', () => {
  it('a grant request is a Block Kit message with the request and a link into the console', async () => {
    const alice = await gate.token('alice', ['engineering']);
    const created = await gate.api<{ grant: { id: string } }>(alice, 'POST', '/v1/grants', {
      target: 'db-prod',
      role: 'write',
      duration: '30m',
      reason: 'restore <rows> & fix INC-7',
    });
    const id = created.body.grant.id;
    const m = slackBody(await receiver.waitFor((r) => slack(r) && r.body.includes(id)));
    expectIncomingWebhookShape(m);
    expect(m.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'actions', 'context']);
    expect(m.blocks[0]!.text!.text).toBe('Access requested: db-prod (write)');
    expect(m.blocks[1]!.fields!.map((f) => f.text)).toEqual(['*Requester*\nalice', '*Target*\ndb-prod', '*Role*\nwrite', '*Duration*\n30m']);
    // mrkdwn: &, < and > escaped, so a reason cannot forge a link or a mention.
    expect(m.blocks[2]!.text!.text).toBe('*Reason*\nrestore &lt;rows&gt; &amp; fix INC-7');
    const button = m.blocks[3]!.elements![0]!;
    expect(button).toMatchObject({ type: 'button', text: { type: 'plain_text', text: 'Review in gate' }, url: `https://gate.internal.example/ui/grants/${id}` });
    expect(m.text).toContain('alice');
    expect(m.text).toContain(`https://gate.internal.example/ui/grants/${id}`);
  });

  it('a held statement reaches Slack and the webhook with masked values and secrets removed', async () => {
    const alice = await gate.token('alice', ['engineering']);
    const grant = (await gate.api<{ grant: { id: string; state: string } }>(alice, 'POST', '/v1/grants', { target: 'db-prod', role: 'read' })).body.grant;
    expect(grant.state).toBe('active');
    // What the gateway hands the grant service when a require_approval guardrail holds a statement.
    const statement = `update customers set ssn = '123-45-6789', note = 'card 4111 1111 1111 1111' -- for jane.doe@example.com\nwhere email = 'jane.doe@example.com' and 1 < 2`;
    const held = await gate.server.ctx.grants.requestCommandApproval({
      grant: { id: grant.id },
      text: statement,
      rule: '^update',
      summary: [{ tag: 'UPDATE', tables: ['customers'], filtered: true }],
    });
    expect(held.status).toBe('pending');
    const detectorOnly = `select * from orders where note = 'paid with 4111111111111111 by jane.doe@example.com'`;
    const second = await gate.server.ctx.grants.requestCommandApproval({ grant: { id: grant.id }, text: detectorOnly, rule: '^select' });

    const m = slackBody(await receiver.waitFor((r) => slack(r) && r.body.includes(held.id)));
    expectIncomingWebhookShape(m);
    expect(m.blocks[0]!.text!.text).toBe('Statement held for approval: db-prod (read)');
    const code = m.blocks.find((b) => b.type === 'section' && b.text?.text.startsWith('*Statement*'))!.text!.text;
    // The statement names a masked column: every literal and comment is gone, the shape stays, < is escaped.
    expect(code).toBe(
      "*Statement* (UPDATE customers)\n```update customers set ssn = '****', note = '****' /* **** */\nwhere email = '****' and **** &lt; ****```",
    );
    const button = m.blocks.find((b) => b.type === 'actions')!.elements![0]!;
    expect(button.url).toBe(`https://gate.internal.example/ui/approvals/${held.id}`);

    const hook = JSON.parse((await receiver.waitFor((r) => r.path === '/hook' && r.body.includes(held.id))).body) as NotificationPayload;
    expect(hook).toMatchObject({
      event: 'approval.requested',
      approval: { id: held.id, grant_id: grant.id, requester: 'alice', target: 'db-prod', role: 'read', statement_redacted: true, rule: '^update' },
      links: { console: `https://gate.internal.example/ui/approvals/${held.id}`, grant: `https://gate.internal.example/ui/grants/${grant.id}` },
    });

    // No masked column: the detectors still apply (card kept to its last four, e-mail to its first letter and domain).
    const other = JSON.parse((await receiver.waitFor((r) => r.path === '/hook' && r.body.includes(second.id))).body) as NotificationPayload;
    expect(other.approval!.statement).toBe(`select * from orders where note = 'paid with ************1111 by j***@example.com'`);
    await receiver.waitFor((r) => slack(r) && r.body.includes(second.id));

    for (const r of receiver.received) {
      for (const secret of ['123-45-6789', '4111 1111 1111 1111', '4111111111111111', 'jane.doe', env.NT_DB_PASSWORD!, env.NT_HOOK_SECRET!, 'slack-path-secret-42']) {
        expect(r.body).not.toContain(secret);
      }
    }
    expect(gate.logs.join('')).not.toContain('slack-path-secret-42');
  });
});
