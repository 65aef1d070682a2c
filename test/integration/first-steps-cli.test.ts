/**
 * Issue 14's everyday commands against a real server and dev IdP, driven as a
 * user types them: durations, identical requests, short ids, the audit log's
 * filters and cursor, the approver's grants view, default_role, a bad
 * GATE_TOKEN, and Ctrl-C of a waiting `gate request` (the built CLI, spawned).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Grant } from '../../src/server/grants/types.js';
import { GATE_BIN, gateEnv, startGate } from '../helpers/gate-bin.js';

function runShell(line: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('bash', ['-c', line], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
import { type CliResult, runCli as run, type Stack, startStack } from '../helpers/stack.js';

const CONFIG = `
admins: [platform]
targets:
  db:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    default_role: read
    roles:
      read:  { username: ro, password: env:DB_RO_PASSWORD }
      write: { username: rw, password: env:DB_RW_PASSWORD }
  box:
    type: tcp
    address: 127.0.0.1:9
  box-full:
    type: tcp
    address: 127.0.0.1:9
    record_output: full
policies:
  - { name: eng-box,   groups: [engineering], targets: [box, box-full], roles: [default], max_duration: 1h, approval: auto }
  - { name: eng-read,  groups: [engineering], targets: [db], roles: [read],  max_duration: 8h, approval: auto }
  - { name: eng-write, groups: [engineering], targets: [db], roles: [write], max_duration: 1h,
      approval: { approvers: [dba-oncall], min: 1 } }
`;

let stack: Stack;
let configDir: string;
const tokens: Record<string, string> = {};

async function cli(user: string | undefined, args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  const env: Record<string, string | undefined> = { GATE_SERVER: stack.url, GATE_CONFIG_DIR: configDir, ...extra };
  if (user) env.GATE_TOKEN = tokens[user];
  return run(args, { env });
}

// biome-ignore lint/suspicious/noExplicitAny: NDJSON events carry arbitrary fields.
const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; [k: string]: any });

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

beforeAll(async () => {
  stack = await startStack({ configYaml: CONFIG });
  configDir = await mkdtemp(join(tmpdir(), 'gate-cli-'));
  for (const user of ['alice', 'bob', 'carol']) tokens[user] = await stack.loginAs(user);
});

afterAll(async () => {
  await stack?.close();
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

describe('durations', () => {
  it('accepts 90m, 1h30m and 1.5h as an hour and a half', async () => {
    for (const d of ['90m', '1h30m', '1.5h']) {
      const r = await cli('alice', ['request', 'db', '--role', 'read', '--for', d, '--new', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(events(r.stdout)[0]!.grant).toMatchObject({ duration: 5400, duration_capped: false });
    }
  });

  it('refuses a bare number, saying which units to add', async () => {
    const r = await cli('alice', ['request', 'db', '--role', 'read', '--for', '30']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--for 30 has no unit');
    expect(r.stderr).toContain('--for 30m');
  });

  it('reports a capped duration in the unit the user gave', async () => {
    const hours = await cli('alice', ['request', 'db', '--role', 'read', '--for', '10h', '--new']);
    expect(hours.stderr).toContain('Duration capped at 8h by policy eng-read (you asked for 10h).');
    const minutes = await cli('alice', ['request', 'db', '--role', 'read', '--for', '600m', '--new']);
    expect(minutes.stderr).toContain('Duration capped at 480m by policy eng-read (you asked for 600m).');
  });
});

describe('identical requests', () => {
  it('reuse an active grant and say so, unless --new', async () => {
    const first = await cli('alice', ['request', 'db', '--role', 'read', '--for', '30m', '--json']);
    const id = events(first.stdout).at(-1)!.grant.id as string;
    const again = await cli('alice', ['request', 'db', '--role', 'read', '--for', '30m']);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`reusing grant ${id}`);
    expect(again.stdout).toContain(id);
    const fresh = await cli('alice', ['request', 'db', '--role', 'read', '--for', '30m', '--new', '--json']);
    expect(events(fresh.stdout).at(-1)!.grant.id).not.toBe(id);
  });

  it('reuse a pending request instead of asking the approvers twice', async () => {
    const first = await cli('alice', ['request', 'db', '--role', 'write', '--no-wait', '--json']);
    expect(first.code).toBe(8);
    const id = events(first.stdout).find((e) => e.event === 'waiting_approval')!.grant_id as string;
    const again = await cli('alice', ['request', 'db', '--role', 'write', '--no-wait']);
    expect(again.code).toBe(8);
    expect(again.stderr).toContain(`Your request ${id} for db/write is already waiting for approval: reusing it.`);
    const pending = await cli('bob', ['grants', '--pending', '--json']);
    expect(JSON.parse(pending.stdout).grants.filter((g: { requester: string; role: string }) => g.role === 'write')).toHaveLength(1);
    expect((await cli('alice', ['cancel', id])).code).toBe(0);
  });
});

describe('default_role', () => {
  it('is what a request without --role gets when several roles are open and nobody can be asked', async () => {
    const r = await cli('alice', ['request', 'db', '--new', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(events(r.stdout).at(-1)).toMatchObject({ event: 'approved', grant: { role: 'read' } });
    const t = await cli('alice', ['targets', '--json']);
    expect(JSON.parse(t.stdout).targets[0]).toMatchObject({ name: 'db', default_role: 'read' });
  });
});

describe('short ids', () => {
  it('accept a unique prefix of a grant id, with or without g_, for approve and in gate audit --grant', async () => {
    const req = await cli('alice', ['request', 'db', '--role', 'write', '--reason', 'INC-7 fix', '--for', '20m', '--no-wait', '--json']);
    const id = events(req.stdout).find((e) => e.event === 'waiting_approval')!.grant_id as string;
    const approved = nextChange((g) => g.id === id && g.state === 'active');
    const r = await cli('bob', ['approve', id.slice(2, 10)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Approved ${id}`);
    await approved;
    const audit = await cli('carol', ['audit', '--grant', id.slice(0, 10), '--json']);
    expect(audit.code, audit.stderr).toBe(0);
    const actions = JSON.parse(audit.stdout).events.map((e: { action: string; grant_id: string }) => [e.action, e.grant_id]);
    expect(actions).toEqual([
      ['grant.requested', id],
      ['grant.approved', id],
      ['grant.activated', id],
    ].filter(([a]) => actions.some((x: string[]) => x[0] === a)));
    expect(actions.every((x: string[]) => x[1] === id)).toBe(true);
    const revoke = await cli('alice', ['revoke', id.slice(0, 8)]);
    expect(revoke.code, revoke.stderr).toBe(0);
  });

  it('name the candidates when a prefix is ambiguous or matches nothing', async () => {
    const none = await cli('alice', ['revoke', 'g_ffffffff0000']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('No grant you can see has an id starting "g_ffffffff0000"');
    const session = await cli('carol', ['sessions', 'export', 'bbafbab6']);
    expect(session.stderr).not.toContain('must be a UUID');
    expect(session.stderr).toContain('No session you can see has an id starting "bbafbab6"');
  });
});

describe('the approver view of gate grants', () => {
  it('shows requester, duration and reason, and relative times on a terminal', async () => {
    const req = await cli('alice', ['request', 'db', '--role', 'write', '--reason', 'INC-42 hotfix', '--for', '45m', '--no-wait', '--json']);
    const id = events(req.stdout).find((e) => e.event === 'waiting_approval')!.grant_id as string;
    const piped = await cli('bob', ['grants', '--pending']);
    const row = piped.stdout.split('\n').find((l) => l.startsWith(id))!;
    expect(row.split('\t')).toEqual([id, 'db', 'write', 'pending', expect.any(String), 'needs 1 more from dba-oncall', '45m', 'INC-42 hotfix']);
    const listed = await cli('alice', ['grants']);
    expect(listed.stdout).toMatch(/\tuntil \d{4}-\d\d-\d\dT/);
    await cli('alice', ['cancel', id]);
  });
});

describe('gate audit', () => {
  it('filters by action, user and time, and pages with --after and the next cursor instead of a cap', async () => {
    const all = await cli('carol', ['audit', '--action', 'grant.*', '--user', 'alice', '--json']);
    expect(all.code, all.stderr).toBe(0);
    const every = JSON.parse(all.stdout).events as { id: string; action: string; actor: string }[];
    expect(every.length).toBeGreaterThan(6);
    expect(every.every((e) => e.action.startsWith('grant.') && e.actor === 'alice')).toBe(true);
    // Page through three at a time: the pages join up to exactly the whole list.
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await cli('carol', ['audit', '--action', 'grant.*', '--user', 'alice', '--limit', '3', '--json', ...(after ? ['--after', after] : [])]);
      const body = JSON.parse(page.stdout) as { events: { id: string }[]; next: string | null };
      seen.push(...body.events.map((e) => e.id));
      if (!body.next) break;
      expect(body.events).toHaveLength(3);
      after = body.next;
    }
    expect(seen).toEqual(every.map((e) => e.id));
    const exact = await cli('carol', ['audit', '--action', 'grant.cancelled', '--json']);
    expect(JSON.parse(exact.stdout).events.every((e: { action: string }) => e.action === 'grant.cancelled')).toBe(true);
    const future = await cli('carol', ['audit', '--until', '2000-01-01T00:00:00Z', '--json']);
    expect(JSON.parse(future.stdout)).toEqual({ events: [], next: null });
    const bare = await cli('carol', ['audit', '--since', '5']);
    expect(bare.code).toBe(1);
  });

  it('--follow prints new events as they happen', async () => {
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: tokens.carol });
    await cli('alice', ['request', 'db', '--role', 'read', '--new', '--reason', 'before-follow']);
    const follow = startGate(['audit', '--follow', '--json', '--action', 'grant.requested', '--since', '10m'], { env });
    try {
      // The first page (earlier tests' requests) is out: what comes next arrives by following.
      await follow.waitFor(/"action":"grant.requested"/, 'stdout');
      const req = await cli('alice', ['request', 'db', '--role', 'read', '--new', '--reason', 'follow-me', '--json']);
      const id = events(req.stdout).at(-1)!.grant.id as string;
      const line = JSON.parse(await follow.waitFor(new RegExp(id), 'stdout'));
      expect(line).toMatchObject({ event: 'audit', audit: { action: 'grant.requested', grant_id: id } });
    } finally {
      expect(await follow.stop('SIGINT')).toBe(0);
      await rm(env.GATE_CONFIG_DIR!, { recursive: true, force: true });
    }
  });
});

describe('gate audit | head -1', () => {
  it('exits 0 with no stack trace when head stops reading', async () => {
    // Enough events that the output outlasts the pipe's buffer, so the write after head quits fails (EPIPE).
    for (let i = 0; i < 3000; i++) void stack.server.ctx.audit.append({ action: 'test.filler', actor: 'filler', details: { i, pad: 'x'.repeat(100) } });
    await stack.server.ctx.audit.flush();
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: tokens.carol });
    try {
      const r = await runShell(`set -o pipefail; node ${JSON.stringify(GATE_BIN)} audit --limit 10000 | head -1`, env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
    } finally {
      await rm(env.GATE_CONFIG_DIR!, { recursive: true, force: true });
    }
  });
});

describe('gate exec TARGET -- tool > file', () => {
  const TOOL = ['sh', '-c', 'echo "session=$GATE_SESSION_ID" >&2; echo to-the-terminal >&2; seq 1 20000'];

  async function execAndExport(target: string) {
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: tokens.alice });
    try {
      // stdout is a pipe here, as with `> file`: not a terminal.
      const run = await runShell(`node ${JSON.stringify(GATE_BIN)} exec ${target} -- ${TOOL.map((a) => `'${a}'`).join(' ')} > "$GATE_CONFIG_DIR/dump"; sha256sum "$GATE_CONFIG_DIR/dump"`, env);
      expect(run.code, run.stderr).toBe(0);
      const sha = run.stdout.split(' ')[0]!;
      const id = /session=(\S+)/.exec(run.stderr)![1]!;
      const cast = await cli('carol', ['sessions', 'export', id.slice(0, 8)]);
      expect(cast.code, cast.stderr).toBe(0);
      return { sha, cast: cast.stdout };
    } finally {
      await rm(env.GATE_CONFIG_DIR!, { recursive: true, force: true });
    }
  }

  it('records what reached the terminal, and only the size and SHA-256 of the redirected output', async () => {
    const { sha, cast } = await execAndExport('box');
    expect(cast).toContain('to-the-terminal');
    expect(cast).not.toContain('19999');
    const bytes = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('').length;
    expect(cast).toContain(`"m","stdout (not a terminal, not recorded): ${bytes} bytes, sha256 ${sha}"`);
  });

  it('records all of it when the target says record_output: full', async () => {
    const { cast } = await execAndExport('box-full');
    expect(cast).toContain('19999');
    expect(cast).not.toContain('not recorded');
  });
});

describe('a GATE_TOKEN the server does not accept', () => {
  it('says to replace or unset it, not to run gate login', async () => {
    const r = await cli(undefined, ['grants'], { GATE_TOKEN: 'not-a-token' });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('GATE_TOKEN is set');
    expect(r.stderr).toContain('unset GATE_TOKEN');
    expect(r.stderr).not.toContain('Run `gate login`');
  });
});

describe('Ctrl-C of a waiting gate request', () => {
  it('withdraws the request on the server, so nobody can approve it afterwards', async () => {
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: tokens.alice });
    const req = startGate(['request', 'db', '--role', 'write', '--new', '--reason', 'ctrl-c'], { env });
    try {
      const line = await req.waitFor(/needs approval by/, 'stderr');
      const id = /Grant (g_[0-9a-f]+)/.exec(line)![1]!;
      expect(await req.stop('SIGINT')).toBe(2);
      expect(req.lines.stderr.join('\n')).toContain(`Cancelled: request ${id} was withdrawn and can no longer be approved.`);
      const approve = await cli('bob', ['approve', id]);
      expect(approve.code).not.toBe(0);
      const grant = await cli('alice', ['grants', '--all', '--json']);
      expect(JSON.parse(grant.stdout).grants.find((g: { id: string }) => g.id === id)).toMatchObject({ state: 'cancelled' });
    } finally {
      await rm(env.GATE_CONFIG_DIR!, { recursive: true, force: true });
    }
  });
});
