/**
 * `gate login` on a terminal of a machine with no browser: pressing Enter to
 * open one says that none could be opened, why, and repeats the URL to open
 * on another device. Run in a real pseudo-terminal (node-pty), against the
 * real server and its dev IdP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATE_BIN } from '../helpers/gate-bin.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
let empty: string;
const dirs: string[] = [];

/** Runs `gate login` on a terminal, presses Enter at its prompt, and returns what it printed until it repeated the URL. */
async function loginPressingEnter(env: Record<string, string>): Promise<string> {
  const configDir = await mkdtemp(join(tmpdir(), 'gate-nobrowser-'));
  dirs.push(configDir);
  const p = pty.spawn(process.execPath, [GATE_BIN, 'login', '--server', stack.url], {
    cols: 200,
    rows: 40,
    env: { HOME: configDir, GATE_CONFIG_DIR: configDir, GATE_CREDENTIAL_STORE: 'file', NO_COLOR: '1', TERM: 'xterm-256color', LANG: 'C.UTF-8', ...env },
  });
  let out = '';
  let pressed = false;
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to Enter; output:\n${out}`)), 30_000);
      p.onData((d) => {
        out += d;
        if (!pressed && /Press Enter to open the browser/.test(out)) {
          pressed = true;
          p.write('\r');
        }
        if (/Open this URL in a browser on any device: \S+/.test(out)) {
          clearTimeout(timer);
          resolve(out.replace(/\r/g, ''));
        }
      });
      p.onExit(() => reject(new Error(`gate login exited; output:\n${out}`)));
    });
  } finally {
    p.kill('SIGINT');
  }
}

beforeAll(async () => {
  stack = await startStack();
  empty = await mkdtemp(join(tmpdir(), 'gate-empty-path-'));
  dirs.push(empty);
});

afterAll(async () => {
  await stack?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('gate login, Enter on a machine without a browser', () => {
  it('with no xdg-open on PATH: says no browser could be opened, and repeats the URL', async () => {
    const out = await loginPressingEnter({ PATH: empty });
    const url = /which carries the code: (\S+)/.exec(out)?.[1];
    expect(url, out).toBeDefined();
    expect(out).toContain('No browser could be opened here (xdg-open is not installed).');
    expect(out).toContain(`Open this URL in a browser on any device: ${url}`);
  });

  it('with BROWSER naming a program that does not exist: the same, naming the opener that failed', async () => {
    const out = await loginPressingEnter({ PATH: process.env.PATH ?? '/usr/bin:/bin', BROWSER: '/nonexistent/browser', DISPLAY: '', WAYLAND_DISPLAY: '' });
    const url = /which carries the code: (\S+)/.exec(out)?.[1];
    expect(out).toMatch(/No browser could be opened here \(xdg-open exited with code \d+\)\./);
    expect(out).toContain(`Open this URL in a browser on any device: ${url}`);
  });
});
