/**
 * The console's Sessions pages against a real server and IdP, in Chromium:
 * an MCP session shows its tool calls, a session is only for those the API
 * lets read it, and the player is served by gate itself (no internet).
 */
import { randomUUID } from 'node:crypto';
import type { Locator } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withBrowser } from '../helpers/browser.js';
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
      read: { username: ro, password: env:NOPE_RO }
policies:
  - { name: eng-read, groups: [engineering], targets: [db], roles: [read], max_duration: 1h, approval: { approvers: [dba-oncall], min: 1 } }
`;

// biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what the user reads.
const shown = (l: Locator) => l.innerText();

let stack: Stack;
const sessionId = randomUUID();

async function post(token: string, path: string, body: unknown) {
  const res = await request(`${stack.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.body.dump();
  return res.statusCode;
}

beforeAll(async () => {
  stack = await startStack({ configYaml: CONFIG });
  const alice = await stack.loginAs('alice');
  expect(
    await post(alice, '/v1/sessions', { id: sessionId, target: 'db', user: 'alice', command: 'gate mcp', width: 80, height: 24, startedAt: new Date().toISOString(), recordInput: false, kind: 'mcp', client: 'claude-code/2.1.0' }),
  ).toBe(201);
  expect(await post(alice, `/v1/sessions/${sessionId}/tool-calls`, { tool: 'gate_sql', arguments: { target: 'db', sql: 'select count(*) from invoices' }, outcome: 'ok', target: 'db', message: '1 row' })).toBe(201);
});
afterAll(async () => {
  await stack?.close();
});

describe('console sessions', () => {
  it('an approver of the target finds alice’s MCP session and sees its tool calls; someone else gets not found', async () => {
    await withBrowser(async (page) => {
      await consoleSignIn(page, stack.url, 'bob', 'bob', '/ui/sessions?q=mcp');
      await page.getByRole('link', { name: /\d{4}-\d\d-\d\d/ }).first().click();
      await page.getByRole('heading', { name: 'Tool calls' }).waitFor();
      const timeline = await shown(page.locator('.timeline'));
      expect(timeline).toContain('mcp.tool_call');
      expect(timeline).toContain('gate_sql');
      expect(timeline).toContain('select count(*) from invoices');
      // No recording to play for an MCP session: its record is the tool calls.
      expect(await page.locator('#player').count()).toBe(0);
    });
    await withBrowser(async (page) => {
      await consoleSignIn(page, stack.url, 'erin', 'erin', `/ui/sessions/${sessionId}`);
      expect(await shown(page.getByRole('alert'))).toContain(`No session ${sessionId}`);
    });
  });

  it('serves asciinema-player from the installed package', async () => {
    const js = await request(`${stack.url}/ui/assets/player/asciinema-player.min.js`);
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toContain('javascript');
    expect(await js.body.text()).toContain('AsciinemaPlayer');
    const css = await request(`${stack.url}/ui/assets/player/asciinema-player.css`);
    expect(css.statusCode).toBe(200);
    expect(await css.body.text()).toContain('.ap-');
  });
});
