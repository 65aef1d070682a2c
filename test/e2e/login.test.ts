import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { completeDeviceLogin } from '../helpers/browser.js';
import { GATE_BIN, gateEnv, type RunningGate, runGate, startGate } from '../helpers/gate-bin.js';

/** Runs `gate login --no-browser --json` and does the browser side in Chromium. */
async function loginAs(env: NodeJS.ProcessEnv, server: string, username: string): Promise<{ code: number | null; events: Record<string, unknown>[] }> {
  const login = startGate(['login', '--server', server, '--no-browser', '--json'], { env });
  const first = JSON.parse(await login.waitFor(/"event":"device_code"/, 'stdout'));
  expect(first.user_code).toMatch(/\S+/);
  expect(first.verification_uri).toContain('/idp/');
  await completeDeviceLogin({ url: first.verification_uri_complete, username, password: username });
  await login.waitFor(/"event":"logged_in"/, 'stdout');
  const code = await login.exited;
  return { code, events: login.lines.stdout.map((l) => JSON.parse(l)) };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

describe('gate dev with embedded defaults, then login, whoami, logout', () => {
  let dev: RunningGate;
  let server: string;
  let env: NodeJS.ProcessEnv;
  let devDir: string;

  beforeAll(async () => {
    devDir = await mkdtemp(join(tmpdir(), 'gate-dev-'));
    env = await gateEnv();
    dev = startGate(['dev', '--port', '0'], { env, cwd: devDir });
    const line = await dev.waitFor(/gate dev is running at/, 'stderr', 90_000);
    server = /(http:\/\/\S+)/.exec(line)![1]!;
    await dev.waitFor(/ login --server /, 'stderr');
  });

  afterAll(async () => {
    await dev?.stop();
  });

  test('gate dev prints what to run next and serves the demo target', () => {
    const text = dev.lines.stderr.join('\n');
    // Run from a checkout, gate dev names the command as it can be typed here: `node …/bin/gate.js login …`.
    expect(text).toContain(`node ${GATE_BIN} login --server ${server}`);
    expect(text).toContain('demo-db');
  });

  test('a second gate dev on the same port fails with exit 1 and says why', async () => {
    const port = new URL(server).port;
    const other = await mkdtemp(join(tmpdir(), 'gate-dev-'));
    const res = await runGate(['dev', '--port', port], { env, cwd: other, timeoutMs: 90_000 });
    expect(res.stderr).toContain(`Cannot listen on 127.0.0.1:${port}: it is already in use.`);
    expect(res.code).toBe(1);
  });

  test('device login, whoami, then logout makes whoami exit 4', async () => {
    const { code, events } = await loginAs(env, server, 'alice');
    expect(code).toBe(0);
    expect(events.map((e) => e.event)).toEqual(['device_code', 'logged_in']);
    expect(events[1]).toMatchObject({ user: { sub: 'alice', email: 'alice@example.com', groups: ['engineering'] } });

    const who = await runGate(['whoami', '--json'], { env });
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ sub: 'alice', email: 'alice@example.com', groups: ['engineering'], server });
    expect(who.stderr).toBe('');

    // The file store: 0600, and it holds gate's own tokens only, never a target secret.
    const credFile = join(env.GATE_CONFIG_DIR!, 'credentials.json');
    expect((await stat(credFile)).mode & 0o777).toBe(0o600);
    const creds = await readFile(credFile, 'utf8');
    const secrets = await Promise.all(
      (await filesUnder(join(devDir, '.gate-dev'))).filter((f) => f.endsWith('.password')).map((f) => readFile(f, 'utf8')),
    );
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(creds).not.toContain(secret.trim());

    const status = await runGate(['status', '--json'], { env });
    expect(JSON.parse(status.stdout)).toMatchObject({ server, reachable: true, logged_in: true, user: { sub: 'alice' } });

    const out = await runGate(['logout'], { env });
    expect(out.code).toBe(0);
    expect(out.stderr).toContain('Logged out');

    const after = await runGate(['whoami'], { env });
    expect(after.code).toBe(4);
    expect(after.stderr).toContain('gate login');
    expect(after.stdout).toBe('');
  });

  test('a server that is not running gets one clear line naming the URL', async () => {
    const res = await runGate(['whoami', '--server', 'http://127.0.0.1:9'], { env: { ...env, GATE_TOKEN: 'some-token' } });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('Cannot reach the gate server at http://127.0.0.1:9');
    expect(res.stderr).not.toContain('some-token');
    const status = await runGate(['status', '--json', '--server', 'http://127.0.0.1:9'], { env });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ server: 'http://127.0.0.1:9', reachable: false });
  });
});

describe('silent renewal', () => {
  let dev: RunningGate;
  let server: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gate-dev-'));
    // A gate token shorter than the CLI's renewal margin: every command must renew it.
    await writeFile(
      join(dir, 'gate.yaml'),
      'server: { token_ttl: 20s }\ndev:\n  users:\n    - { username: bob, password: bob, email: bob@example.com, groups: [dba-oncall] }\n',
    );
    env = await gateEnv();
    dev = startGate(['dev', '--port', '0', '--config', 'gate.yaml'], { env, cwd: dir });
    server = /(http:\/\/\S+)/.exec(await dev.waitFor(/gate dev is running at/, 'stderr'))![1]!;
  });

  afterAll(async () => {
    await dev?.stop();
  });

  test('an expiring gate token is renewed with the refresh token, without a prompt', async () => {
    expect((await loginAs(env, server, 'bob')).code).toBe(0);
    const credFile = join(env.GATE_CONFIG_DIR!, 'credentials.json');
    const before = JSON.parse(await readFile(credFile, 'utf8'))[server];
    const who = await runGate(['whoami', '--json'], { env });
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout).sub).toBe('bob');
    const after = JSON.parse(await readFile(credFile, 'utf8'))[server];
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.refresh_token).not.toBe(before.refresh_token);
  });
});
