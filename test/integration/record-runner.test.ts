import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isGateError } from '../../src/errors.js';
import { runTool } from '../../src/record/runner.js';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', HOME: process.env.HOME ?? '/tmp' };

/** A stand-in for process.stdout: collects what the tool printed, has a size, can be resized. */
function fakeTerminal(columns = 80, rows = 24) {
  let text = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const out = Object.assign(
    new Writable({
      write(chunk, _enc, cb) {
        text += chunk.toString();
        for (const w of [...waiters]) if (w.re.test(text)) w.resolve();
        cb();
      },
    }),
    { columns, rows },
  );
  return {
    out,
    text: () => text,
    waitFor: (re: RegExp) =>
      new Promise<void>((resolve) => (re.test(text) ? resolve() : waiters.push({ re, resolve }))),
  };
}

/** A stand-in for a TTY stdin that remembers raw-mode changes. */
function fakeTtyStdin() {
  const stream = new PassThrough();
  const raw: boolean[] = [];
  return Object.assign(stream, {
    isTTY: true,
    isRaw: false,
    raw,
    setRawMode(mode: boolean) {
      raw.push(mode);
      this.isRaw = mode;
      return this;
    },
  });
}

describe('runTool under a pty', () => {
  it("passes the tool's exit code through and records its output", async () => {
    const term = fakeTerminal();
    let recorded = '';
    const result = await runTool({
      file: 'sh',
      args: ['-c', 'printf hello; exit 3'],
      env,
      stdin: new PassThrough(),
      stdout: term.out,
      tty: true,
      onOutput: (d) => (recorded += d),
    });
    expect(result).toEqual({ exitCode: 3 });
    expect(term.text()).toBe('hello');
    expect(recorded).toBe('hello');
  });

  it('relays multibyte output split across reads intact, and keeps IUTF8 on the tool terminal', async () => {
    const term = fakeTerminal();
    const recorded: Buffer[] = [];
    const result = await runTool({
      file: 'sh',
      // 4-byte characters: pty reads of 4095 bytes cut them.
      args: ['-c', 'stty -a | tr " " "\\n" | grep -x -- "-*iutf8"; i=0; while [ $i -lt 2000 ]; do printf "🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉"; i=$((i+1)); done; echo'],
      env: { ...env, LANG: 'C.UTF-8' },
      stdin: new PassThrough(),
      stdout: term.out,
      tty: true,
      onOutput: (d) => recorded.push(Buffer.isBuffer(d) ? d : Buffer.from(d)),
    });
    expect(result).toEqual({ exitCode: 0 });
    const expected = `iutf8\r\n${'🎉'.repeat(50_000)}\r\n`;
    expect(Buffer.concat(recorded).toString('utf8')).toBe(expected);
  });

  it('gives the tool a real terminal of the right size, and forwards a resize', async () => {
    const term = fakeTerminal(91, 33);
    const stdin = new PassThrough();
    const sizes: string[] = [];
    const run = runTool({
      file: 'sh',
      args: ['-c', 'test -t 0 && echo tty; tput cols; read x; tput cols; stty size'],
      env,
      stdin,
      stdout: term.out,
      tty: true,
      onResize: (c, r) => sizes.push(`${c}x${r}`),
    });
    await term.waitFor(/91\r\n/);
    Object.assign(term.out, { columns: 132, rows: 50 });
    term.out.emit('resize');
    stdin.write('\r');
    const result = await run;
    expect(result.exitCode).toBe(0);
    expect(term.text()).toMatch(/tty\r\n91\r\n[\s\S]*132\r\n50 132\r\n$/);
    expect(sizes).toEqual(['91x33', '132x50']);
    expect(term.out.listenerCount('resize')).toBe(0);
  });

  it('delivers the last bytes a tool writes before exiting (node-pty drops them on its own)', async () => {
    for (let i = 0; i < 5; i++) {
      const term = fakeTerminal();
      const result = await runTool({
        file: 'sh',
        args: ['-c', 'seq 1 20000; exit 5'],
        env,
        stdin: new PassThrough(),
        stdout: term.out,
        tty: true,
      });
      expect(result.exitCode).toBe(5);
      expect(term.text().endsWith('\r\n19999\r\n20000\r\n')).toBe(true);
    }
  });

  it('gives a slow terminal all of a flood, pausing the tool rather than dropping output', async () => {
    let text = '';
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk, _enc, cb) {
        text += chunk.toString();
        setTimeout(cb, 1);
      },
    });
    const result = await runTool({
      file: 'sh',
      args: ['-c', 'seq 1 30000'],
      env,
      stdin: new PassThrough(),
      stdout: slow,
      tty: true,
    });
    expect(result.exitCode).toBe(0);
    expect(text.endsWith('\r\n29999\r\n30000\r\n')).toBe(true);
    expect(text.split('\r\n').length).toBe(30001);
  });

  it('reports death by SIGTERM as 143', async () => {
    const result = await runTool({
      file: 'sh',
      args: ['-c', 'kill -TERM $$'],
      env,
      stdin: new PassThrough(),
      stdout: fakeTerminal().out,
      tty: true,
    });
    expect(result).toEqual({ exitCode: 143, signal: 'SIGTERM' });
  });

  it('puts a TTY stdin in raw mode, sends keystrokes (Ctrl-C included) to the tool, and restores it', async () => {
    const stdin = fakeTtyStdin();
    const term = fakeTerminal();
    const typed: string[] = [];
    // The tool traps INT so the Ctrl-C byte proves it reached the tool's terminal, not gate.
    const run = runTool({
      file: 'sh',
      args: ['-c', 'trap "echo got-int; exit 7" INT; echo ready; while :; do sleep 0.05; done'],
      env,
      stdin,
      stdout: term.out,
      tty: true,
      onInput: (d) => typed.push(d),
    });
    await term.waitFor(/ready/);
    expect(stdin.isRaw).toBe(true);
    stdin.write('\x03');
    const result = await run;
    expect(result.exitCode).toBe(7);
    expect(term.text()).toContain('got-int');
    expect(typed).toEqual(['\x03']);
    expect(stdin.raw).toEqual([true, false]);
    expect(stdin.listenerCount('data')).toBe(0);
  });

  it('kills the tool when aborted (SIGHUP) and still restores the terminal', async () => {
    const stdin = fakeTtyStdin();
    const term = fakeTerminal();
    const ac = new AbortController();
    const run = runTool({
      file: 'sh',
      args: ['-c', 'echo started; exec sleep 30'],
      env,
      stdin,
      stdout: term.out,
      tty: true,
      signal: ac.signal,
    });
    await term.waitFor(/started/);
    ac.abort();
    expect(await run).toEqual({ exitCode: 129, signal: 'SIGHUP' });
    expect(stdin.raw).toEqual([true, false]);
  });

  it('escalates to SIGKILL when the tool ignores SIGHUP', async () => {
    const term = fakeTerminal();
    const ac = new AbortController();
    const run = runTool({
      file: 'sh',
      args: ['-c', 'trap "" HUP; echo started; while :; do sleep 0.05; done'],
      env,
      stdin: new PassThrough(),
      stdout: term.out,
      tty: true,
      signal: ac.signal,
      killGraceMs: 200,
    });
    await term.waitFor(/started/);
    ac.abort();
    expect(await run).toEqual({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('fails with a clear usage error when the tool is not installed', async () => {
    const err = await runTool({
      file: 'psql',
      args: [],
      env: { PATH: '/nonexistent' },
      stdin: new PassThrough(),
      stdout: fakeTerminal().out,
      tty: true,
    }).catch((e: unknown) => e);
    expect(isGateError(err) && err.code).toBe('GATE_ERR_USAGE');
    expect((err as Error).message).toBe(
      'psql was not found on PATH; install postgresql-client (e.g. `apt-get install postgresql-client`, `brew install libpq`).',
    );
  });
});

describe('runTool with pipes', () => {
  it('pipes stdin through, ends it when ours ends, and records stdout and stderr', async () => {
    const out = fakeTerminal();
    const err = fakeTerminal();
    const stdin = new PassThrough();
    let recorded = '';
    const run = runTool({
      file: 'sh',
      args: ['-c', 'test -t 0 || echo no-tty; tr a-z A-Z; echo oops >&2; exit 4'],
      env,
      stdin,
      stdout: out.out,
      stderr: err.out,
      tty: false,
      onOutput: (d) => (recorded += d),
    });
    stdin.end('select 1;\n');
    expect(await run).toEqual({ exitCode: 4 });
    expect(out.text()).toBe('no-tty\nSELECT 1;\n');
    expect(err.text()).toBe('oops\n');
    expect(recorded).toContain('SELECT 1;\n');
    expect(recorded).toContain('oops\n');
  });

  it('reports death by SIGKILL as 137 and survives a tool that ignores its stdin', async () => {
    const stdin = new PassThrough();
    const run = runTool({
      file: 'sh',
      args: ['-c', 'kill -KILL $$'],
      env,
      stdin,
      stdout: fakeTerminal().out,
      tty: false,
    });
    stdin.write('x'.repeat(1 << 20));
    expect(await run).toEqual({ exitCode: 137, signal: 'SIGKILL' });
  });
});
