import * as pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GrantWire } from '../../src/api/wire-grants.js';
import type { PendingWire } from '../../src/api/wire-pending.js';
import { GATE_BIN, gateEnv, runGate } from '../helpers/gate-bin.js';
import { startTokenStack, type TokenStack } from '../helpers/token-stack.js';

// `gate approvals` as an approver runs it: the ink queue in a real pty, and the plain list when piped.

const CONFIG = `
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      read:  { username: readonly, password: env:DB_PROD_RO_PASSWORD }
      write: { username: app_rw, password: env:DB_PROD_RW_PASSWORD }
  # The picker's own target: no grant of alice's there for gate to reuse instead of asking.
  db-stage:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      read:  { username: readonly, password: env:DB_PROD_RO_PASSWORD }
      write: { username: app_rw, password: env:DB_PROD_RW_PASSWORD }
policies:
  - { name: eng-read, groups: [engineering], targets: [db-prod, db-stage], roles: [read], max_duration: 8h, approval: auto }
  - { name: eng-write, groups: [engineering], targets: [db-prod, db-stage], roles: [write], max_duration: 1h,
      approval: { approvers: [dba-oncall], min: 1 } }
`;

let stack: TokenStack;
let alice: string;
let bob: string;

beforeAll(async () => {
  stack = await startTokenStack(CONFIG);
  alice = await stack.human('alice', ['engineering']);
  bob = await stack.human('bob', ['dba-oncall']);
});

afterAll(async () => {
  await stack?.close();
});

async function aliceRequests(reason: string): Promise<string> {
  const r = await stack.api<{ grant: GrantWire }>(alice, 'POST', '/v1/grants', { target: 'db-prod', role: 'write', duration: '30m', reason });
  expect(r.status).toBe(201);
  return r.body.grant.id;
}

const grant = async (id: string) => (await stack.api<{ grant: GrantWire }>(bob, 'GET', `/v1/grants/${id}`)).body.grant;

/** The built gate in a pty, with a way to wait for what the screen shows. */
function spawnPty(args: string[], env: NodeJS.ProcessEnv) {
  const term = pty.spawn(process.execPath, [GATE_BIN, ...args], { name: 'xterm-256color', cols: 140, rows: 40, env: env as Record<string, string> });
  let output = '';
  let raw = '';
  let mark = 0;
  const waiters: { re: RegExp; from: number; resolve(): void }[] = [];
  term.onData((d) => {
    raw += d;
    // What the screen says, without ink's colours and cursor moves.
    output += d.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    for (const w of [...waiters]) {
      if (w.re.test(output.slice(w.from))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const exited = new Promise<{ exitCode: number }>((r) => term.onExit(r));
  return {
    term,
    exited,
    get output() {
      return output;
    },
    /** Everything the pty printed, escape sequences included. */
    get raw() {
      return raw;
    },
    /** Waits for `re` in what the screen printed after the last `expectNext` call. */
    waitFor(re: RegExp, timeoutMs = 30_000): Promise<void> {
      const from = mark;
      if (re.test(output.slice(from))) return Promise.resolve();
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`timed out waiting for ${re}; output so far:\n${output}`)), timeoutMs);
        waiters.push({
          re,
          from,
          resolve: () => {
            clearTimeout(timer);
            res();
          },
        });
      });
    },
    /** From now on, waitFor looks only at new output. */
    expectNext() {
      mark = output.length;
    },
  };
}

describe('gate approvals in a terminal', () => {
  it('approves one of alice requests with a, denies the other with d and a reason, and quits with q', async () => {
    const first = await aliceRequests('INC-42: fix invoice totals');
    const second = await aliceRequests('bulk cleanup');
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: bob });
    const view = spawnPty(['approvals'], env);
    try {
      await view.waitFor(new RegExp(`2 waiting for you[\\s\\S]*${second}[\\s\\S]*enter details`));
      expect(view.output).toContain(first);
      expect(view.output).toContain('INC-42: fix invoice totals');

      // enter shows the details: the reason in full; esc goes back to the list.
      view.expectNext();
      view.term.write('\r');
      await view.waitFor(/requester\s+alice[\s\S]*reason\s+INC-42: fix invoice totals/);
      view.expectNext();
      view.term.write('\x1b');
      await view.waitFor(/enter details/);

      // The oldest request is selected first: approve it.
      view.expectNext();
      view.term.write('a');
      await view.waitFor(new RegExp(`Approved ${first}`));
      // The live list drops it by itself (the long-poll sees the change).
      await view.waitFor(/1 waiting for you/);

      view.expectNext();
      view.term.write('d');
      await view.waitFor(new RegExp(`Reason for denying ${second}`));
      view.term.write('not during the freeze');
      await view.waitFor(/not during the freeze/);
      view.expectNext();
      view.term.write('\r');
      await view.waitFor(new RegExp(`Denied ${second}`));
      await view.waitFor(/nothing waiting for you/);

      view.term.write('q');
      expect((await view.exited).exitCode).toBe(0);
    } finally {
      view.term.kill();
    }

    const approved = await grant(first);
    expect(approved).toMatchObject({ state: 'active' });
    expect(approved.approvals.map((a) => a.by)).toEqual(['bob']);
    expect(await grant(second)).toMatchObject({ state: 'denied', ended_by: 'bob', comment: 'not during the freeze' });
  });

  it('shows a request that arrives while it is open, and Ctrl-C is a cancel (exit 2)', async () => {
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: bob });
    const view = spawnPty(['approvals'], env);
    try {
      await view.waitFor(/nothing waiting for you[\s\S]*q quit/);
      const id = await aliceRequests('arrives later');
      await view.waitFor(new RegExp(id));
      view.term.write('\x03');
      expect((await view.exited).exitCode).toBe(2);
    } finally {
      view.term.kill();
    }
    await stack.api(bob, 'POST', `/v1/grants/${(await stack.api<PendingWire>(bob, 'GET', '/v1/pending')).body.grants[0]!.id}/deny`, {});
  });
});

describe('the same ink pieces elsewhere', () => {
  it('picks a role with the arrows in the role picker, then shows the wait until bob approves', async () => {
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: alice });
    const view = spawnPty(['connect', 'db-stage', '--for', '10m', '--reason', 'picker', '--json'], env);
    try {
      await view.waitFor(/db-stage has several roles you may request:[\s\S]*1\) read[\s\S]*2\) write[\s\S]*Role \[read\]/);
      view.expectNext();
      view.term.write('\x1b[B');
      await view.waitFor(/Role \[write\]/);
      view.term.write('\r');
      await view.waitFor(/Role: write/);
      await view.waitFor(/"event":"waiting_approval"/);
      const mine = (await stack.api<PendingWire>(bob, 'GET', '/v1/pending')).body.grants.find((g) => g.reason === 'picker');
      expect(mine).toMatchObject({ role: 'write', requester: 'alice' });
      await stack.api(bob, 'POST', `/v1/grants/${mine!.id}/approve`, {});
      await view.waitFor(/"event":"approved"/);
    } finally {
      view.term.kill();
    }
  });

  it('shows the ink spinner while gate request waits, and the grant once approved', async () => {
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: alice, TERM: 'xterm-256color', NO_COLOR: undefined });
    const view = spawnPty(['request', 'db-prod', '--role', 'write', '--for', '10m', '--reason', 'spinner', '--new'], env);
    try {
      await view.waitFor(/needs approval by a member of dba-oncall[\s\S]*Waiting for approval/);
      // The spinner is cyan on a colour terminal.
      expect(view.raw).toContain('\x1b[36m');
      const mine = (await stack.api<PendingWire>(bob, 'GET', '/v1/pending')).body.grants.find((g) => g.reason === 'spinner');
      await stack.api(bob, 'POST', `/v1/grants/${mine!.id}/approve`, {});
      await view.waitFor(/Access granted: db-prod\/write/);
      expect((await view.exited).exitCode).toBe(0);
    } finally {
      view.term.kill();
    }
  });
});

describe('NO_COLOR', () => {
  it('turns off the colours of the ink views, as it does for the rest of gate', async () => {
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: alice, TERM: 'xterm-256color', NO_COLOR: '1' });
    const view = spawnPty(['request', 'db-prod', '--role', 'write', '--for', '10m', '--reason', 'no colour', '--new'], env);
    try {
      await view.waitFor(/Waiting for approval/);
      // Still drawn by ink (the spinner's frames), but with no SGR colour (30-37, 90-97, 38;5;n).
      expect(view.output).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Waiting for approval/);
      expect(view.raw).not.toMatch(/\x1b\[(3[0-8]|9[0-7])(;[0-9]+)*m/);
    } finally {
      view.term.kill();
    }
    const mine = (await stack.api<PendingWire>(bob, 'GET', '/v1/pending')).body.grants.find((g) => g.reason === 'no colour');
    await stack.api(bob, 'POST', `/v1/grants/${mine!.id}/deny`, {});
  });
});

describe('gate approvals without a terminal', () => {
  it('prints the pending items tab-separated, and as JSON with --json', async () => {
    const id = await aliceRequests('piped list');
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: bob });
    const plain = await runGate(['approvals'], { env });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain(`${id}\tgrant\talice\tdb-prod\twrite\t30m\tpiped list`);

    const json = await runGate(['approvals', '--json'], { env });
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as PendingWire;
    expect(body.grants.map((g) => g.id)).toEqual([id]);
    expect(body).toMatchObject({ approvals: [], cursor: expect.any(String) });

    // Alice's own request is not hers to decide: an empty list, still exit 0.
    const hers = await runGate(['approvals', '--json'], { env: await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: alice }) });
    expect(hers.code).toBe(0);
    expect(JSON.parse(hers.stdout)).toMatchObject({ grants: [], approvals: [] });
  });

  it('says clearly when the server is down or the token is not accepted', async () => {
    const down = await runGate(['approvals'], { env: await gateEnv({ GATE_SERVER: 'http://127.0.0.1:9', GATE_TOKEN: bob }) });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('Cannot reach the gate server at http://127.0.0.1:9');
    const badToken = await runGate(['approvals'], { env: await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: 'expired' }) });
    expect(badToken.code).toBe(4);
  });
});
