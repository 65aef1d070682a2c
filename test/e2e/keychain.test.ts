import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { completeDeviceLogin } from '../helpers/browser.js';
import { GATE_BIN, gateEnv, type RunningGate, runGate, startGate, startProcess } from '../helpers/gate-bin.js';

const hasSecretService = ['dbus-run-session', 'gnome-keyring-daemon', 'secret-tool'].every(
  (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0,
);

/**
 * The keychain path against a real Secret Service: gnome-keyring inside a
 * private D-Bus session, as on a Linux desktop. The whole CLI sequence runs in
 * that session; the test plays the browser.
 */
describe.skipIf(!hasSecretService)('credentials in the OS keychain (gnome-keyring)', () => {
  let dev: RunningGate;
  let server: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gate-dev-'));
    await writeFile(join(dir, 'gate.yaml'), 'dev:\n  users:\n    - { username: alice, password: alice, email: alice@example.com, groups: [engineering] }\n');
    env = await gateEnv({ GATE_CREDENTIAL_STORE: 'keychain' });
    dev = startGate(['dev', '--port', '0', '--config', 'gate.yaml'], { env, cwd: dir });
    server = /(http:\/\/\S+)/.exec(await dev.waitFor(/gate dev is running at/, 'stderr'))![1]!;
  });

  afterAll(async () => {
    await dev?.stop();
  });

  test('login stores the token in the keychain, not in a file; whoami and logout use it', async () => {
    const script = [
      'export XDG_DATA_HOME="$(mktemp -d)"',
      'eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets)"',
      `node ${GATE_BIN} login --server ${server} --no-browser --json || exit 10`,
      `node ${GATE_BIN} whoami --json || exit 11`,
      `secret-tool lookup service gate username ${server} >/dev/null && echo '{"event":"keychain_has_entry"}'`,
      `node ${GATE_BIN} logout || exit 12`,
      `secret-tool lookup service gate username ${server} >/dev/null || echo '{"event":"keychain_entry_gone"}'`,
      `node ${GATE_BIN} whoami; echo "{\\"event\\":\\"whoami_after_logout\\",\\"code\\":$?}"`,
    ].join('\n');
    const run = startProcess(['dbus-run-session', '--', 'bash', '-c', script], { env });
    const code = JSON.parse(await run.waitFor(/"event":"device_code"/, 'stdout'));
    await completeDeviceLogin({ url: code.verification_uri_complete, username: 'alice', password: 'alice' });
    await run.waitFor(/"event":"whoami_after_logout"/, 'stdout');
    const events = run.lines.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(events.find((e) => e.event === 'logged_in')).toMatchObject({ user: { sub: 'alice' } });
    expect(events.find((e) => e.sub)).toMatchObject({ sub: 'alice', email: 'alice@example.com' });
    expect(events.some((e) => e.event === 'keychain_has_entry')).toBe(true);
    expect(events.some((e) => e.event === 'keychain_entry_gone')).toBe(true);
    expect(events.find((e) => e.event === 'whoami_after_logout')).toMatchObject({ code: 4 });
    expect(existsSync(join(env.GATE_CONFIG_DIR!, 'credentials.json'))).toBe(false);
    expect(run.lines.stderr.join('\n')).not.toContain('no OS keychain');
  });

  test('without a Secret Service, auto mode falls back to the 0600 file with one warning', async () => {
    const fileEnv = await gateEnv({ GATE_CREDENTIAL_STORE: 'auto', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' });
    const login = startGate(['login', '--server', server, '--no-browser', '--json'], { env: fileEnv });
    const code = JSON.parse(await login.waitFor(/"event":"device_code"/, 'stdout'));
    await completeDeviceLogin({ url: code.verification_uri_complete, username: 'alice', password: 'alice' });
    expect(await login.exited).toBe(0);
    const warnings = login.lines.stderr.filter((l) => l.includes('no OS keychain'));
    expect(warnings).toHaveLength(1);
    expect(existsSync(join(fileEnv.GATE_CONFIG_DIR!, 'credentials.json'))).toBe(true);
    // Said once, not on every command.
    const who = await runGate(['whoami', '--json'], { env: fileEnv });
    expect(who.code).toBe(0);
    expect(who.stderr).not.toContain('no OS keychain');
  });
});
