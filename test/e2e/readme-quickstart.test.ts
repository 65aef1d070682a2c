/**
 * The README's quick start, run exactly as printed, for alice: `node
 * bin/gate.js dev` from a directory holding the checkout's bin/ (so its
 * .gate-dev/ is a temporary one), the login with Chromium for the browser
 * step, then `node bin/gate.js psql demo-db` with no --role. The one change:
 * gate dev listens on a free port (tests never take a fixed one), and the
 * README's 4180 becomes that port; that the README's commands are the ones
 * gate dev prints is asserted too. Then gate dev's lifecycle: Ctrl-C exits 2,
 * a deleted data dir starts clean, a second gate dev names the running one,
 * --reset starts from scratch.
 */
import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDemoPostgres } from '../../src/server/dev-postgres.js';
import { completeDeviceLogin } from '../helpers/browser.js';
import { gateEnv, type RunningGate, startProcess } from '../helpers/gate-bin.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** The shell lines of the README block that follows `marker`, comments dropped. */
async function readmeBlock(marker: string): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const from = readme.indexOf(marker);
  expect(from, `README has "${marker}"`).toBeGreaterThan(-1);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(from))![1]!;
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter(Boolean);
}

/** Runs one README line in a shell, as a user would paste it; returns when it exits. */
function sh(line: string, cwd: string, env: NodeJS.ProcessEnv, input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('sh', ['-c', line], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('README quick start, as printed, for alice', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let dev: RunningGate | undefined;

  const startDev = (args: string[] = []) => startProcess(['sh', '-c', `exec node bin/gate.js dev --port 0 ${args.join(' ')}`], { env, cwd: dir });
  const urlOf = async (d: RunningGate) => /(http:\/\/\S+)/.exec(await d.waitFor(/gate dev is running at/, 'stderr', 120_000))![1]!;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gate-readme-'));
    await symlink(join(ROOT, 'bin'), join(dir, 'bin'));
    env = await gateEnv();
  });

  afterAll(async () => {
    await dev?.stop('SIGINT');
    if (dir) {
      await removeDemoPostgres(join(dir, '.gate-dev', 'postgres')).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
    if (env?.GATE_CONFIG_DIR) await rm(env.GATE_CONFIG_DIR, { recursive: true, force: true });
  });

  it('gate dev, login, psql demo-db: works exactly as the README says', async () => {
    const build = await readmeBlock('## Quick start');
    expect(build).toEqual(['npm ci && npm run build', 'node bin/gate.js dev']);
    const steps = await readmeBlock('Then, in another terminal');
    expect(steps).toHaveLength(2);

    dev = startDev();
    const url = await urlOf(dev);
    await dev.waitFor(/Press Ctrl-C to stop/, 'stderr');
    // gate dev prints the README's commands (with its own port).
    const printed = dev.lines.stderr.map((l) => l.trim());
    const port = new URL(url).port;
    const asRun = steps.map((s) => s.replace('http://127.0.0.1:4180', url));
    for (const step of asRun) expect(printed).toContain(step);
    expect(port).not.toBe('');

    // Step 1: login; the browser step in Chromium, as alice.
    const login = startProcess(['sh', '-c', asRun[0]!], { env, cwd: dir });
    const link = await login.waitFor(/Or open this URL, which carries the code: /, 'stderr');
    await completeDeviceLogin({ url: link.replace(/^.*carries the code: /, '').trim(), username: 'alice', password: 'alice' });
    expect(await login.exited).toBe(0);
    expect(login.lines.stderr.join('\n')).toContain('Logged in as');

    // Step 2: psql demo-db, no --role: alice has two roles, no terminal to ask on, so the default (read).
    const psql = await sh(asRun[1]!, dir, env, 'select count(*) as customers from demo.customers;\n');
    expect(psql.stderr).not.toMatch(/several roles|WARNING: psql major version|server version/);
    expect(psql.code, psql.stderr).toBe(0);
    expect(psql.stdout).toMatch(/customers\s*\n-+\n\s*4\s*\n/);
    expect(psql.stderr).toContain('demo-db/read');
  });

  it('a second gate dev names the running one; Ctrl-C exits 2', async () => {
    const url = await urlOf(dev!);
    const second = await sh('node bin/gate.js dev --port 0', dir, env);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`gate dev is already running on .gate-dev: pid ${dev!.child.pid}, at ${url}.`);
    expect(second.stderr).not.toMatch(/delete|rm -rf/);
    expect(await dev!.stop('SIGINT')).toBe(2);
    dev = undefined;
  });

  it('starts clean after its data dir was deleted, and --reset starts from scratch', async () => {
    await rm(join(dir, '.gate-dev'), { recursive: true, force: true });
    dev = startDev();
    // It used to die here: "password authentication failed … This is a bug in gate" (root, cluster in /var/tmp).
    await urlOf(dev);
    expect(dev.lines.stderr.join('\n')).not.toContain('This is a bug in gate');
    await writeFile(join(dir, '.gate-dev', 'marker'), 'x');
    expect(await dev.stop('SIGINT')).toBe(2);

    dev = startDev(['--reset']);
    await urlOf(dev);
    expect(dev.lines.stderr.join('\n')).toContain('Reset: deleted .gate-dev.');
    await expect(access(join(dir, '.gate-dev', 'marker'))).rejects.toThrow();
    expect(await dev.stop('SIGINT')).toBe(2);
    dev = undefined;
  });
});
