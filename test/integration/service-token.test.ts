import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';
import { runCliWith } from '../helpers/cli-run.js';
import { findSecrets } from '../helpers/secret-scan.js';

describe('service tokens: create (admins), use as GATE_TOKEN, list, revoke, expire', () => {
  let server: GateServer;
  let url: string;
  let dataDir: string;
  let configDir: string;
  let adminToken: string;
  let userToken: string;
  let clock = Date.now();
  const logLines: string[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gate-svc-'));
    configDir = await mkdtemp(join(tmpdir(), 'gate-cfg-'));
    const config = parseConfig(
      `admins: [platform]
targets:
  reports-db:
    type: tcp
    address: 127.0.0.1:9
policies:
  - { name: reporting, groups: [reporting], targets: [reports-db], roles: [default] }
`,
      '(test config)',
    );
    server = await buildServer({
      config,
      dataDir,
      now: () => new Date(clock),
      logger: createLogger({ level: 'debug', write: (l) => logLines.push(l) }),
    });
    url = await server.listen({ port: 0 });
    const { key, tokenIssuer } = server.ctx;
    // People come in through the IdP; here their gate tokens are signed directly with the server's key.
    adminToken = (await issueGateToken(key, tokenIssuer, { sub: 'carol', groups: ['platform'], kind: 'user' }, 3_600_000)).token;
    userToken = (await issueGateToken(key, tokenIssuer, { sub: 'alice', groups: ['engineering'], kind: 'user' }, 3_600_000)).token;
  });

  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(configDir, { recursive: true, force: true });
  });

  const gate = (args: string[], token: string, extra: Record<string, string> = {}) =>
    runCliWith(args, { env: { GATE_SERVER: url, GATE_TOKEN: token, GATE_CONFIG_DIR: configDir, ...extra } });

  test('a non-admin cannot create one (exit 5)', async () => {
    const res = await gate(['token', 'create', '--name', 'x', '--groups', 'reporting', '--ttl', '1d'], userToken);
    expect(res.code).toBe(5);
    expect(res.stderr).toContain('Only admins manage service tokens');
    expect(res.stdout).toBe('');
  });

  test('the whole life: create, whoami, ls without the secret, revoke, then 401', async () => {
    const created = await gate(['token', 'create', '--name', 'nightly-report', '--groups', 'reporting,readers', '--ttl', '30d', '--json'], adminToken);
    expect(created.code, created.stderr).toBe(0);
    const { token, service_token: info } = JSON.parse(created.stdout);
    expect(token).toMatch(/^gst_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(info).toMatchObject({ name: 'nightly-report', groups: ['reporting', 'readers'], creator: 'carol', state: 'active', last_used_at: null });
    const secret = token.slice(4 + 16 + 1);

    const who = await gate(['whoami', '--json'], token);
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ sub: 'service:nightly-report', kind: 'service', groups: ['reporting', 'readers'] });

    const ls = await gate(['token', 'ls', '--json'], adminToken);
    expect(ls.code, ls.stderr).toBe(0);
    const listed = JSON.parse(ls.stdout);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: info.id, name: 'nightly-report', creator: 'carol', state: 'active' });
    expect(listed[0].last_used_at).not.toBeNull();
    expect(ls.stdout).not.toContain(secret);
    const table = await gate(['token', 'ls'], adminToken);
    expect(table.stdout).toContain(`${info.id}\tnightly-report\treporting,readers\tactive`);

    // The secret is nowhere on the server's disk (the sqlite file, its WAL, any subdirectory) nor in its log.
    await server.ctx.audit.flush();
    const onDisk = await findSecrets(dataDir, [secret, token]);
    expect(onDisk.scanned.some((f) => f.includes('sqlite') || f.endsWith('.db')), onDisk.scanned.join(' ')).toBe(true);
    expect(onDisk.hits).toEqual([]);
    // Nor in the CLI's own config dir: the creator is shown it once and it is not kept.
    expect((await findSecrets(configDir, [secret])).hits).toEqual([]);
    expect(logLines.join('')).not.toContain(secret);

    const revoke = await gate(['token', 'revoke', info.id, '--yes'], adminToken);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stderr).toContain(`Revoked service token ${info.id}`);

    const after = await gate(['whoami'], token);
    expect(after.code).toBe(4);
    expect(after.stderr).toContain('Service token rejected: it was revoked');
    const events = (await server.ctx.audit.list({ limit: 100 })).map((e) => e.action);
    expect(events).toEqual(expect.arrayContaining(['token.created', 'token.revoked']));
  });

  test('a service token is shown exactly once: on stdout at creation, never again by any API or command', async () => {
    const created = await gate(['token', 'create', '--name', 'once', '--groups', 'reporting', '--ttl', '1d'], adminToken);
    expect(created.code, created.stderr).toBe(0);
    const token = /gst_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/.exec(created.stdout)?.[0];
    expect(token, created.stdout).toBeDefined();
    const secret = token!.slice(21);
    // Once: one copy on stdout (so `| pbcopy` works), none on stderr.
    expect(created.stdout.split(secret)).toHaveLength(2);
    expect(created.stderr).not.toContain(secret);
    expect((await gate(['whoami'], token!)).code).toBe(0);

    const seen: string[] = [];
    for (const args of [['token', 'ls'], ['token', 'ls', '--json'], ['audit', '--json'], ['audit']]) {
      const res = await gate(args, adminToken);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(0);
      seen.push(res.stdout, res.stderr);
    }
    for (const path of ['/v1/tokens', '/v1/audit?limit=1000', '/v1/me']) {
      const res = await request(`${url}${path}`, { headers: { authorization: `Bearer ${path === '/v1/me' ? token : adminToken}` } });
      expect(res.statusCode, path).toBe(200);
      seen.push(await res.body.text());
    }
    const everything = seen.join('\n');
    expect(everything).toContain('once');
    expect(everything).not.toContain(secret);
  });

  test('an expired service token is refused with the reason', async () => {
    const created = await gate(['token', 'create', '--name', 'short', '--groups', 'reporting', '--ttl', '1h', '--json'], adminToken);
    const { token } = JSON.parse(created.stdout);
    expect((await gate(['whoami'], token)).code).toBe(0);
    clock += 2 * 3_600_000;
    try {
      const res = await request(`${url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(401);
      expect(((await res.body.json()) as { error: { message: string } }).error.message).toMatch(/^Service token rejected: it expired at /);
      const cli = await gate(['whoami'], token);
      expect(cli.code).toBe(4);
    } finally {
      clock -= 2 * 3_600_000;
    }
  });

  test('a forged secret for a real id is refused', async () => {
    const created = await gate(['token', 'create', '--name', 'forge', '--groups', 'reporting', '--ttl', '1d', '--json'], adminToken);
    const { token } = JSON.parse(created.stdout);
    const forged = `${token.slice(0, 21)}${'A'.repeat(43)}`;
    const res = await gate(['whoami'], forged);
    expect(res.code).toBe(4);
    expect(res.stderr).toContain('Service token rejected: it is not valid');
  });

  test('revoking asks first; in CI, without a terminal or with --no-input it is a usage error naming --yes', async () => {
    const ci = await gate(['token', 'revoke', 'abcdef0123456789'], adminToken, { CI: 'true' });
    expect(ci.code).toBe(1);
    expect(ci.stderr).toContain('pass --yes');
    const tty = await runCliWith(['token', 'revoke', 'abcdef0123456789', '--no-input'], {
      env: { GATE_SERVER: url, GATE_TOKEN: adminToken, GATE_CONFIG_DIR: configDir },
      tty: true,
    });
    expect(tty.code).toBe(1);
    expect(tty.stderr).toContain('pass --yes');
    // On a terminal the question is asked; "n" leaves the token alone (exit 2, cancelled).
    const created = await gate(['token', 'create', '--name', 'keep', '--groups', 'reporting', '--ttl', '1d', '--json'], adminToken);
    const { token, service_token: info } = JSON.parse(created.stdout);
    const asked = await runCliWith(['token', 'revoke', info.id], {
      env: { GATE_SERVER: url, GATE_TOKEN: adminToken, GATE_CONFIG_DIR: configDir },
      tty: true,
      input: 'n\n',
    });
    expect(asked.stderr).toContain(`Revoke service token ${info.id}? [y/N]`);
    expect(asked.code).toBe(2);
    expect((await gate(['whoami'], token)).code).toBe(0);
  });
});
