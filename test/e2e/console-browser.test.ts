/**
 * The web console in `gate dev`, as people use it: the built gate, its
 * embedded IdP and demo database, alice at her terminal and bob in Chromium.
 * bob approves alice's waiting `gate request` from the console; alice's psql
 * session (in a pty, recorded) has a statement held by a require_approval
 * guardrail, which bob approves from the console and which then runs; bob
 * replays the session and the player shows the query's output.
 *
 * With GATE_CONSOLE_SCREENSHOTS=docs/img the run also saves the screenshots
 * docs/console.md shows (that is how they were made).
 */
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as pty from 'node-pty';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDemoPostgres } from '../../src/server/dev-postgres.js';
import { completeDeviceLogin, pageText, withBrowser } from '../helpers/browser.js';
import { consoleSignIn } from '../helpers/console.js';
import { GATE_BIN, gateEnv, type RunningGate, startGate, startProcess } from '../helpers/gate-bin.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SHOTS = process.env.GATE_CONSOLE_SCREENSHOTS ? resolve(ROOT, process.env.GATE_CONSOLE_SCREENSHOTS) : undefined;

async function shot(page: Page, name: string): Promise<void> {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `console-${name}.png`) });
}

/** gate in a pty, as alice's terminal runs it. */
function spawnPty(args: string[], env: NodeJS.ProcessEnv) {
  const term = pty.spawn(process.execPath, [GATE_BIN, ...args], { name: 'xterm-256color', cols: 100, rows: 30, env: env as Record<string, string> });
  let output = '';
  const waiters: { re: RegExp; resolve(m: RegExpMatchArray): void }[] = [];
  term.onData((d) => {
    output += d;
    for (const w of [...waiters]) {
      const m = output.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
  return {
    term,
    exited,
    /** Resolves with the first match of `re` in everything printed so far or later. */
    waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
      const seen = output.match(re);
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`timed out waiting for ${re}; output so far:\n${output}`)), timeoutMs);
        waiters.push({
          re,
          resolve: (m) => {
            clearTimeout(timer);
            res(m);
          },
        });
      });
    },
    get output() {
      return output;
    },
  };
}

describe('the web console in gate dev', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let dev: RunningGate | undefined;
  let url = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gate-console-'));
    await symlink(join(ROOT, 'bin'), join(dir, 'bin'));
    env = await gateEnv();
    dev = startProcess(['sh', '-c', 'exec node bin/gate.js dev --port 0'], { env, cwd: dir });
    url = /(http:\/\/\S+)/.exec(await dev.waitFor(/gate dev is running at/, 'stderr', 120_000))![1]!;
    await dev.waitFor(/Press Ctrl-C to stop/, 'stderr');
    env = { ...env, GATE_SERVER: url };
    const login = startGate(['login', '--server', url, '--no-browser', '--json'], { env });
    const first = JSON.parse(await login.waitFor(/"event":"device_code"/, 'stdout'));
    await completeDeviceLogin({ url: first.verification_uri_complete, username: 'alice', password: 'alice' });
    expect(await login.exited).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await dev?.stop('SIGINT');
    if (dir) {
      await removeDemoPostgres(join(dir, '.gate-dev', 'postgres')).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
    if (env?.GATE_CONFIG_DIR) await rm(env.GATE_CONFIG_DIR, { recursive: true, force: true });
  });

  it('gate dev prints the console URL', () => {
    expect(dev!.lines.stderr.map((l) => l.trim())).toContain(`web console ${url}/ui (approvals, grants, session replay, audit)`);
  });

  it('bob approves alice’s waiting write request in the console; her gate request returns approved; the held statement is approved there and then runs; bob replays the session and terminates her next tunnel from the Live page', async () => {
    const request = startGate(['request', 'demo-db', '--role', 'write', '--for', '30m', '--reason', 'backfill country codes (TICKET-77)', '--json'], { env });
    const waiting = JSON.parse(await request.waitFor(/"event":"waiting_approval"/, 'stdout'));
    const grantId = waiting.grant_id as string;

    await withBrowser(async (page) => {
      await page.setViewportSize({ width: 1100, height: 760 });
      await consoleSignIn(page, url, 'bob');
      const card = page.locator(`#grant-${grantId}`);
      await card.waitFor();
      const text = await card.textContent();
      expect(text).toContain('alice');
      expect(text).toContain('backfill country codes (TICKET-77)');
      expect(text).toContain('demo-db');
      await shot(page, 'approvals');
      await card.locator('textarea[name=comment]').fill('go ahead');
      await card.getByRole('button', { name: 'Approve' }).click();
      await page.getByRole('status').filter({ hasText: 'Approved.' }).waitFor();

      // alice's terminal: gate request was waiting, and now says approved.
      expect(await request.exited).toBe(0);
      expect(request.lines.stdout.map((l) => JSON.parse(l).event)).toContain('approved');

      // alice's recorded psql session, under a pty as a person runs it.
      const psql = spawnPty(['psql', 'demo-db', '--role', 'write'], env);
      await psql.waitFor(/=>\s*$|=#\s*$/m, 60_000);
      psql.term.write('select name from demo.customers order by name;\r');
      await psql.waitFor(/Margaret Hamilton[\s\S]*\(4 rows\)/);
      psql.term.write("update demo.customers set country = 'GB';\r");
      const held = await psql.waitFor(/held for approval \(request (a_[A-Za-z0-9]+)\)/);
      const approvalId = held[1]!;

      // The live page, while her tunnel is open: bob approves demo-db, so he may terminate it.
      await page.goto(`${url}/ui/live`);
      const tunnelRow = page.locator('tr[id^=tunnel-]').filter({ hasText: 'alice' });
      await tunnelRow.waitFor();
      expect(await tunnelRow.getByRole('button', { name: 'Terminate' }).count()).toBe(1);
      await shot(page, 'live');

      await page.goto(`${url}/ui/approvals`);
      const heldCard = page.locator(`#approval-${approvalId}`);
      await heldCard.waitFor();
      expect(await heldCard.locator('pre.sql').textContent()).toBe("update demo.customers set country = 'GB';");
      const summary = await heldCard.locator('table.summary').textContent();
      expect(summary).toContain('UPDATE');
      expect(summary).toContain('demo.customers');
      expect(summary).toContain('no: every row');
      await shot(page, 'held-statement');
      await heldCard.getByRole('button', { name: 'Approve' }).click();
      await page.getByRole('status').filter({ hasText: 'Approved.' }).waitFor();

      // Run again: approved, it runs.
      psql.term.write("update demo.customers set country = 'GB';\r");
      await psql.waitFor(/UPDATE 4/);
      psql.term.write('\\q\r');
      expect(await psql.exited).toBe(0);

      await page.goto(`${url}/ui/grants`);
      await page.locator(`#grant-${grantId}`).waitFor();
      await shot(page, 'grants');

      // The replay: the session list, then the player beside the gateway's statements.
      await page.goto(`${url}/ui/sessions?user=alice`);
      const row = page.locator('tbody tr').filter({ hasText: 'demo-db' }).first();
      await row.waitFor();
      await shot(page, 'sessions');
      await row.getByRole('link').click();
      const statement = page.locator('.timeline .ev[data-action="pg.query"]').filter({ hasText: 'select name from demo.customers' }).first();
      await statement.waitFor();
      expect(await page.locator('.timeline').textContent()).toContain("update demo.customers set country = 'GB';");
      await page.locator('#player .ap-player, #player .ap-wrapper').first().waitFor();
      await statement.getByRole('button').click();
      try {
        await page.locator('#player').filter({ hasText: 'Margaret Hamilton' }).waitFor({ timeout: 20_000 });
      } catch (err) {
        throw new Error(`the player never showed the query's output: ${await pageText(page)}`, { cause: err });
      }
      await shot(page, 'replay');

      // Live: bob (an approver of demo-db) terminates alice's open psql tunnel, and psql says who cut it.
      const second = spawnPty(['psql', 'demo-db', '--role', 'write'], env);
      await second.waitFor(/=>\s*$|=#\s*$/m, 60_000);
      second.term.write('select 40 + 2 as answer;\r');
      await second.waitFor(/42\s*\r?\n\(1 row\)/);
      await page.goto(`${url}/ui/live`);
      const open = page.locator('tr[id^=tunnel-]').filter({ hasText: 'alice' });
      await open.first().waitFor();
      await open.first().getByRole('button', { name: 'Terminate' }).click();
      await page.getByRole('status').filter({ hasText: 'Terminated' }).waitFor();
      second.term.write('select 1;\r');
      await second.waitFor(/terminated by bob from the gate console/);
      second.term.write('\\q\r');
      await second.exited;
    });
  }, 240_000);

  it('carol (admin) sees the audit log with the verify result', async () => {
    await withBrowser(async (page) => {
      await page.setViewportSize({ width: 1100, height: 760 });
      await consoleSignIn(page, url, 'carol', 'carol', '/ui/audit?target=demo-db');
      await page.getByText('The audit chain verifies').waitFor();
      expect(await page.locator('table.audit').textContent()).toContain('grant.approved');
      await shot(page, 'audit');
    });
  }, 60_000);
});
