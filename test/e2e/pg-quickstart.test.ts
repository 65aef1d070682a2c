/**
 * The README's quick start, as a new user runs it: `gate dev` with no config
 * in an empty directory, a device login in Chromium, then `gate connect
 * demo-db` with psql, and `gate psql demo-db`, all through the built CLI.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDeviceLogin } from '../helpers/browser.js';
import { gateEnv, type RunningGate, runGate, startGate } from '../helpers/gate-bin.js';

function psql(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('psql', ['-X', ...args], { env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '10', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

describe('quick start: gate dev, login, connect demo-db', () => {
  let dev: RunningGate;
  let server: string;
  let env: NodeJS.ProcessEnv;
  let devDir: string;

  beforeAll(async () => {
    devDir = await mkdtemp(join(tmpdir(), 'gate-quickstart-'));
    env = await gateEnv();
    dev = startGate(['dev', '--port', '0'], { env, cwd: devDir });
    server = /(http:\/\/\S+)/.exec(await dev.waitFor(/gate dev is running at/, 'stderr', 90_000))![1]!;
    env.GATE_SERVER = server;
    const login = startGate(['login', '--no-browser', '--json'], { env });
    const device = JSON.parse(await login.waitFor(/"event":"device_code"/, 'stdout'));
    await completeDeviceLogin({ url: device.verification_uri_complete, username: 'alice', password: 'alice' });
    expect(await login.exited).toBe(0);
  });

  afterAll(async () => {
    await dev?.stop();
    if (devDir) await rm(devDir, { recursive: true, force: true });
    if (env?.GATE_CONFIG_DIR) await rm(env.GATE_CONFIG_DIR, { recursive: true, force: true });
  });

  it('gate connect demo-db --json, then psql counts the sample customers', async () => {
    const connect = startGate(['connect', 'demo-db', '--role', 'read', '--json'], { env });
    try {
      const ready = JSON.parse(await connect.waitFor(/"event":"ready"/, 'stdout'));
      expect(ready).toMatchObject({ event: 'ready', target: 'demo-db', role: 'read', host: '127.0.0.1' });
      const out = await psql(['-A', '-t', '-c', 'select count(*) > 0 from demo.customers'], {
        PGHOST: ready.host,
        PGPORT: String(ready.port),
        PGUSER: ready.user,
        PGDATABASE: ready.database,
      });
      expect(out.stderr).toBe('');
      expect(out.stdout.trim()).toBe('t');
    } finally {
      expect(await connect.stop('SIGINT')).toBe(2);
    }
  });

  it("gate psql demo-db -- -c 'select 1' prints the answer and exits 0", async () => {
    const res = await runGate(['psql', 'demo-db', '--role', 'read', '--', '-A', '-t', '-c', 'select 1 as one'], { env });
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe('1');
  });
});
