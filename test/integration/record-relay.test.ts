import { spawnSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import * as pty from 'node-pty';
import { afterEach, describe, expect, it } from 'vitest';
import { runTool } from '../../src/record/runner.js';

// runTool relaying to a real terminal: the slave side of a pty opened as
// tty streams, as process.stdin/stdout are when gate runs in a terminal; the
// test reads what the "screen" gets from the master.

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', HOME: process.env.HOME ?? '/tmp' };
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A terminal: what reaches the screen, and tty streams for its slave side. */
function terminal() {
  const holder = pty.spawn('sleep', ['60'], { name: 'xterm-256color', cols: 100, rows: 30, env });
  let screen = '';
  holder.onData((d) => {
    screen += d;
  });
  const slave = (holder as unknown as { _pty: string })._pty;
  const inFd = openSync(slave, constants.O_RDWR | constants.O_NOCTTY);
  const outFd = openSync(slave, constants.O_RDWR | constants.O_NOCTTY);
  const stdin = new ReadStream(inFd);
  const stdout = new WriteStream(outFd);
  cleanups.push(() => {
    stdin.destroy();
    stdout.destroy();
    holder.kill('SIGKILL');
  });
  const stty = () => spawnSync('stty', ['-a'], { stdio: [outFd, 'pipe', 'pipe'] }).stdout.toString();
  return { stdin, stdout, screen: () => screen, stty, close: () => closeSync(inFd) };
}

describe('runTool in a real terminal', () => {
  it("hands the terminal the tool's bytes unchanged (no \\r\\r\\n) and restores the terminal's modes", async () => {
    const term = terminal();
    const before = term.stty();
    expect(before).toMatch(/(^|\s)opost(\s|$)/);
    const result = await runTool({ file: 'seq', args: ['1', '20000'], env, stdin: term.stdin, stdout: term.stdout, tty: true });
    expect(result.exitCode).toBe(0);
    // Everything runTool handed over has reached the screen once it returned (allow the kernel a moment).
    for (let i = 0; i < 100 && !term.screen().endsWith('20000\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
    const screen = term.screen();
    expect(screen).not.toContain('\r\r\n');
    expect(screen.endsWith('\r\n19999\r\n20000\r\n')).toBe(true);
    expect(screen.split('\r\n')).toHaveLength(20001);
    // The user's terminal is back as it was: output processing on, not raw.
    expect(term.stty()).toBe(before);
    expect(term.stdin.isRaw).toBe(false);
  });
});
