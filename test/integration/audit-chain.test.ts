import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli, type Stack, startStack } from '../helpers/stack.js';

const CONFIG = `
admins: [platform]
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      read:  { username: readonly, password: env:DB_PROD_RO_PASSWORD }
      write: { username: app_rw,   password: env:DB_PROD_RW_PASSWORD }
  other-db:
    type: tcp
    address: 127.0.0.1:6000
policies:
  - { name: eng-read,  groups: [engineering], targets: [db-prod, other-db], roles: [read, default], approval: auto }
  - { name: eng-write, groups: [engineering], targets: [db-prod], roles: [write], approval: { approvers: [dba-oncall] } }
`;

let stack: Stack;
let configDir: string;
const tokens: Record<string, string> = {};

const cli = (user: string, args: string[]): Promise<CliResult> =>
  runCli(args, { env: { GATE_SERVER: stack.url, GATE_CONFIG_DIR: configDir, GATE_TOKEN: tokens[user] } });

beforeAll(async () => {
  stack = await startStack({ configYaml: CONFIG });
  configDir = await mkdtemp(join(tmpdir(), 'gate-cli-'));
  for (const user of ['alice', 'bob', 'carol']) tokens[user] = await stack.loginAs(user);
  await cli('alice', ['request', 'db-prod', '--role', 'read']);
  await cli('alice', ['request', 'other-db']);
  const id = (await cli('alice', ['request', 'db-prod', '--role', 'write', '--no-wait'])).stdout.trim();
  await cli('bob', ['approve', id, '--comment', 'ok']);
  await cli('bob', ['revoke', id]);
});

afterAll(async () => {
  await stack?.close();
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

describe('audit log', () => {
  it('records logins and every grant transition, in order', async () => {
    const r = await cli('carol', ['audit', '--json']);
    expect(r.code).toBe(0);
    const actions = (JSON.parse(r.stdout).events as { action: string; actor: string }[]).map((e) => `${e.actor ?? 'system'} ${e.action}`);
    expect(actions.slice(0, 3)).toEqual(['alice auth.login', 'bob auth.login', 'carol auth.login']);
    expect(actions).toContain('alice grant.requested');
    expect(actions).toContain('system grant.approved');
    expect(actions.slice(-3)).toEqual(['alice grant.requested', 'bob grant.approved', 'bob grant.revoked']);
  });

  it('an approver sees only the targets they approve; others are refused', async () => {
    const bob = JSON.parse((await cli('bob', ['audit', '--json'])).stdout).events as { target: string }[];
    expect(bob.length).toBeGreaterThan(0);
    expect(new Set(bob.map((e) => e.target))).toEqual(new Set(['db-prod']));
    const alice = await cli('alice', ['audit']);
    expect(alice.code).toBe(5);
    expect((await cli('carol', ['audit', '--target', 'other-db', '--json'])).stdout).toContain('"other-db"');
    const since = JSON.parse((await cli('carol', ['audit', '--since', '2000-01-01T00:00:00Z', '--json'])).stdout).events;
    expect(since.length).toBeGreaterThan(5);
  });

  it('`gate audit verify` passes on an untouched log', async () => {
    const r = await cli('carol', ['audit', 'verify']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Audit log intact: \d+ events verified/);
    expect((await cli('bob', ['audit', 'verify'])).code).toBe(5);
  });

  it('a row edited in SQLite makes `gate audit verify` fail and name the event', async () => {
    const db = new Database(join(stack.dataDir, 'gate.db'));
    const row = db.prepare("SELECT id FROM audit_events WHERE action = 'grant.approved' AND actor = 'bob'").get() as { id: string };
    db.prepare("UPDATE audit_events SET details = '{\"comment\":\"never said that\"}' WHERE id = ?").run(row.id);
    db.close();
    const r = await cli('carol', ['audit', 'verify']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Audit chain broken at event ${row.id}`);
    expect(r.stderr).toContain('edited');
    const json = await cli('carol', ['audit', 'verify', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, broken: { id: row.id } });
  });
});
