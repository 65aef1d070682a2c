/**
 * The web console against a real gate server and the real dev IdP, in
 * Chromium: sign-in by the code flow with PKCE, the approvals page, a decision
 * that reaches a waiting long-poll, and what the console refuses (a
 * cross-site post, an approval by someone outside the approver group).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator } from 'playwright-core';
import { request } from 'undici';
import { pageText, withBrowser } from '../helpers/browser.js';
import { consoleSignIn } from '../helpers/console.js';
import { type Stack, startStack } from '../helpers/stack.js';

const CONFIG = `
admins: [platform]
targets:
  db:
    type: postgres
    address: 127.0.0.1:1
    database: app
    roles:
      read:  { username: ro, password: env:NOPE_RO }
      write: { username: rw, password: env:NOPE_RW }
policies:
  - { name: eng-write, groups: [engineering], targets: [db], roles: [write], max_duration: 1h, approval: { approvers: [dba-oncall], min: 1 } }
`;

type ApiBody = { grant: { id: string; state: string; approvals: { by: string; comment?: string }[] } };

/** What a person reads in a part of the page. */
// biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what the user reads.
const shown = (l: Locator) => l.innerText();

let stack: Stack;
let alice: string;

async function api(token: string, method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await request(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.statusCode, body: (await res.body.json()) as ApiBody };
}

beforeAll(async () => {
  stack = await startStack({ configYaml: CONFIG });
  alice = await stack.loginAs('alice');
});
afterAll(async () => {
  await stack?.close();
});

describe('console approvals', () => {
  it('bob signs in with the code flow, sees alice’s pending request with its reason, approves it, and her waiting long-poll returns active', async () => {
    const created = await api(alice, 'POST', '/v1/grants', { target: 'db', role: 'write', duration: '30m', reason: 'fix invoice 4711 (INC-982)' });
    expect(created.status).toBe(201);
    const id = created.body.grant.id as string;
    const waiting = api(alice, 'GET', `/v1/grants/${id}?wait=55&state=pending`);

    await withBrowser(async (page) => {
      await consoleSignIn(page, stack.url, 'bob');
      // Signed in through the IdP's code flow: the cookie is HttpOnly and SameSite.
      const cookie = (await page.context().cookies()).find((c) => c.name === 'gate_console');
      expect(cookie?.httpOnly).toBe(true);
      expect(cookie?.sameSite).toBe('Lax');
      const card = page.locator(`#grant-${id}`);
      await expect(shown(card)).resolves.toContain('fix invoice 4711 (INC-982)');
      const text = await shown(card);
      expect(text).toContain('alice');
      expect(text).toMatch(/Role\s+write/);
      expect(text).toMatch(/Duration\s+30m/);
      await card.locator('textarea[name=comment]').fill('ok, watch the invoices table');
      await card.getByRole('button', { name: 'Approve' }).click();
      await page.getByRole('status').filter({ hasText: 'Approved.' }).waitFor();
    });

    const done = await waiting;
    expect(done.body.grant.state).toBe('active');
    expect(done.body.grant.approvals[0]).toMatchObject({ by: 'bob', comment: 'ok, watch the invoices table' });
  });

  it('the approvals page updates live when another approver decides', async () => {
    const created = await api(alice, 'POST', '/v1/grants', { target: 'db', role: 'write', reason: 'live update check' });
    const id = created.body.grant.id as string;
    const dave = await stack.loginAs('dave');
    await withBrowser(async (page) => {
      await consoleSignIn(page, stack.url, 'bob');
      await page.locator(`#grant-${id}`).waitFor();
      // The approver sees the requester's recent activity: the write grant bob approved in the test before.
      expect(await shown(page.locator(`#grant-${id}`))).toMatch(/Recent grants\s+db\/write active/);
      // The page's event stream is open before anyone else decides.
      await page.locator('body[data-live-ready="1"]').waitFor({ state: 'attached' });
      expect((await api(dave, 'POST', `/v1/grants/${id}/deny`, { comment: 'not today' })).status).toBe(200);
      // Gone from bob's page without a reload: nothing of it is left to decide.
      await page.locator(`#grant-${id}`).waitFor({ state: 'detached' });
      expect(await shown(page.locator('#s-requests').locator('..'))).toContain('No access request is waiting for you.');
    });
  });

  it('a user outside the approver group sees no approve button, and the console and the API refuse the approval with 403', async () => {
    const created = await api(alice, 'POST', '/v1/grants', { target: 'db', role: 'write', reason: 'second request' });
    const id = created.body.grant.id as string;
    const erin = await stack.loginAs('erin');
    // erin (marketing) cannot even see it through the API: the console shows her the same.
    expect((await api(erin, 'POST', `/v1/grants/${id}/approve`, {})).status).toBe(404);
    const carol = await stack.loginAs('carol');
    // carol is an admin, so she sees the request, but she is not in dba-oncall.
    expect((await api(carol, 'POST', `/v1/grants/${id}/approve`, {})).status).toBe(403);

    await withBrowser(async (page) => {
      // Not on her approvals page (nothing there is hers to decide); the grant's own page, as a notification links it.
      await consoleSignIn(page, stack.url, 'carol', 'carol', `/ui/grants/${id}`);
      const card = page.locator(`#grant-${id}`);
      await card.waitFor();
      expect(await card.getByRole('button', { name: 'Approve' }).count()).toBe(0);
      expect(await shown(card)).toContain('Only members of dba-oncall may decide this.');
      // Posting the decision anyway (a crafted same-origin form with her valid CSRF token) is refused by the API's check.
      const csrf = await page.locator('form.who input[name=csrf]').inputValue();
      const status = await page.evaluate(
        async ([url, token]) => {
          const res = await fetch(url!, { method: 'POST', body: new URLSearchParams({ csrf: token!, decision: 'approve', back: '/ui/approvals' }) });
          return { status: res.status, text: await res.text() };
        },
        [`/ui/grants/${id}/decide`, csrf],
      );
      expect(status.status).toBe(403);
      expect(status.text).toContain('Only members of dba-oncall may approve');
    });
    expect((await api(alice, 'GET', `/v1/grants/${id}`)).body.grant.state).toBe('pending');
  });

  it('a cross-site form post is refused with 403 and changes nothing', async () => {
    const created = await api(alice, 'POST', '/v1/grants', { target: 'db', role: 'write', reason: 'third request' });
    const id = created.body.grant.id as string;
    await withBrowser(async (page) => {
      await consoleSignIn(page, stack.url, 'bob');
      const csrf = await page.locator('form.who input[name=csrf]').inputValue();
      // A same-origin post without the session's token (another tab's stale form, a forged one) is refused too.
      const tokenless = await page.evaluate(async (url) => {
        const res = await fetch(url, { method: 'POST', body: new URLSearchParams({ decision: 'approve', csrf: 'not-the-token' }) });
        return { status: res.status, text: await res.text() };
      }, `/ui/grants/${id}/decide`);
      expect(tokenless.status).toBe(403);
      expect(tokenless.text).toContain('security token');
      // An attacker's page on another origin (localhost is another site than 127.0.0.1) auto-submits a form to the console.
      const { createServer } = await import('node:http');
      const site = createServer((_req, res) => {
        res.setHeader('content-type', 'text/html');
        res.end(`<form id="f" method="post" action="${stack.url}/ui/grants/${id}/decide"><input name="decision" value="approve"><input name="csrf" value="${csrf}"></form><script>document.getElementById('f').submit()</script>`);
      });
      await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
      const port = (site.address() as { port: number }).port;
      try {
        // Same browser context as bob's session: his cookie would ride along if the console let it.
        const answer = page.waitForResponse((r) => r.url().endsWith(`/ui/grants/${id}/decide`));
        await page.goto(`http://localhost:${port}/`);
        const res = await answer;
        expect(res.status()).toBe(403);
        await page.waitForLoadState();
        expect(await pageText(page)).toContain('Cross-site request refused');
      } finally {
        site.close();
      }
    });
    expect((await api(alice, 'GET', `/v1/grants/${id}`)).body.grant.state).toBe('pending');
  });
});
