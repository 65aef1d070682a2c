import { spawn as spawnChild, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { UsageError } from '../errors.js';

/** A readable that may be a TTY (process.stdin). */
type Input = Readable & { isTTY?: boolean; setRawMode?(mode: boolean): unknown; isRaw?: boolean };
/** A writable that may be a TTY (process.stdout) or a test double with columns/rows and 'resize' events. */
type Output = Writable & { columns?: number; rows?: number };

export interface RunToolOptions {
  /** Executable name (looked up on env.PATH) or path. */
  file: string;
  args: string[];
  /** The tool's whole environment (nothing is inherited). */
  env: Record<string, string>;
  cwd?: string;
  stdin: Input;
  stdout: Output;
  /** Where the tool's stderr goes when tty=false; defaults to stdout. Under a pty stderr is part of the terminal. */
  stderr?: Writable;
  /** Run under a pseudo-terminal (node-pty) rather than pipes. */
  tty: boolean;
  /**
   * Everything the tool wrote, for the recording: under a pty the raw bytes
   * as relayed (a UTF-8 sequence may be split between calls; do not modify
   * them), with pipes decoded text.
   */
  onOutput?(data: Buffer | string): void;
  /**
   * With pipes: the tool's stdout goes here instead of to onOutput (stderr
   * still goes to onOutput). For `record_output: terminal` when stdout is a
   * file or a pipe, so a dump is counted and hashed rather than recorded.
   */
  onStdoutBytes?(data: Buffer): void;
  /** Everything sent to the tool's stdin (decoded UTF-8). */
  onInput?(data: string): void;
  /** The terminal size, once at start and after each change (tty=true only). */
  onResize?(cols: number, rows: number): void;
  /** Aborting kills the tool: SIGHUP, then SIGKILL after `killGraceMs`. */
  signal?: AbortSignal;
  /** Default 3000. */
  killGraceMs?: number;
}

export interface RunToolResult {
  /** The tool's exit code; 128+N when it died of signal N (SIGINT 130, SIGTERM 143, SIGKILL 137). */
  exitCode: number;
  /** The signal's name when the tool died of one. */
  signal?: string;
}

const INSTALL_HINTS: Record<string, string> = {
  psql: 'install postgresql-client (e.g. `apt-get install postgresql-client`, `brew install libpq`)',
  kubectl: 'install kubectl (https://kubernetes.io/docs/tasks/tools/)',
};

/**
 * Finds an executable the way execvp would, so a missing tool is a clear
 * usage error before anything is spawned (node-pty would only print
 * "execvp(3) failed" inside the terminal).
 */
export function resolveExecutable(file: string, env: Record<string, string>, cwd = process.cwd()): string {
  const candidates = file.includes('/')
    ? [isAbsolute(file) ? file : resolve(cwd, file)]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(isAbsolute(dir) ? dir : resolve(cwd, dir), file));
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  const where = file.includes('/') ? `${file} does not exist or is not executable` : `${file} was not found on PATH`;
  const hint = INSTALL_HINTS[file];
  throw new UsageError(hint ? `${where}; ${hint}.` : `${where}.`, {
    hint: hint ? undefined : `Install ${file}, or check the command name and PATH.`,
    details: { file },
  });
}

function exitFromSignal(signal: string | number | null | undefined): RunToolResult | undefined {
  if (signal === null || signal === undefined || signal === 0) return undefined;
  const name =
    typeof signal === 'number'
      ? Object.entries(osConstants.signals).find(([, n]) => n === signal)?.[0]
      : signal;
  const number = typeof signal === 'number' ? signal : osConstants.signals[signal as NodeJS.Signals];
  return { exitCode: 128 + (number ?? 0), signal: name };
}

/**
 * Runs a tool with the user's terminal attached, reporting what it shows (and
 * what the user types) for the recording. With tty=true it runs under a
 * pseudo-terminal: stdin is put in raw mode (so Ctrl-C/Ctrl-Z reach the tool,
 * not gate), window size changes are forwarded, and the terminal is restored
 * on every way out. With tty=false it uses pipes. Resolves with the tool's own
 * exit code; rejects only with a UsageError when the executable is missing.
 */
export async function runTool(opts: RunToolOptions): Promise<RunToolResult> {
  const file = resolveExecutable(opts.file, opts.env, opts.cwd);
  if (opts.signal?.aborted) return { exitCode: 129, signal: 'SIGHUP' };
  return opts.tty ? runPty(file, opts) : runPipes(file, opts);
}

function killer(kill: (sig: NodeJS.Signals) => void, graceMs: number) {
  let timer: NodeJS.Timeout | undefined;
  return {
    start() {
      if (timer) return;
      try {
        kill('SIGHUP');
      } catch {
        // already gone
      }
      timer = setTimeout(() => {
        try {
          kill('SIGKILL');
        } catch {
          // already gone
        }
      }, graceMs);
    },
    stop() {
      clearTimeout(timer);
    },
  };
}

async function runPty(file: string, opts: RunToolOptions): Promise<RunToolResult> {
  const { spawn } = await import('node-pty');
  const { stdin, stdout } = opts;
  const size = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  const cleanups: (() => void)[] = [];
  let rawSet = false;
  try {
    const { cols, rows } = size();
    const pty = spawn(file, opts.args, {
      name: 'xterm-256color',
      cols,
      rows,
      cwd: opts.cwd,
      env: opts.env,
    });
    relayBytes(pty);
    opts.onResize?.(cols, rows);
    cleanups.push(holdUntilDrained(pty));

    if (typeof stdin.setRawMode === 'function' && stdin.isTTY) {
      const wasRaw = !!stdin.isRaw;
      stdin.setRawMode(true);
      rawSet = true;
      const restorePost = passOutputThrough(stdout);
      cleanups.push(() => {
        restorePost();
        if (rawSet) stdin.setRawMode!(wasRaw);
      });
    }
    const inDecoder = new StringDecoder('utf8');
    const onStdin = (chunk: Buffer | string) => {
      const text = typeof chunk === 'string' ? chunk : inDecoder.write(chunk);
      pty.write(typeof chunk === 'string' ? chunk : text);
      if (text) opts.onInput?.(text);
    };
    stdin.on('data', onStdin);
    stdin.resume();
    cleanups.push(() => {
      stdin.off('data', onStdin);
      stdin.pause();
    });

    const onResize = () => {
      const s = size();
      try {
        pty.resize(s.cols, s.rows);
      } catch {
        // the tool already exited
      }
      opts.onResize?.(s.cols, s.rows);
    };
    stdout.on('resize', onResize);
    cleanups.push(() => stdout.off('resize', onResize));

    cleanups.push(relayWithoutBlocking(stdout));
    // Back-pressure: a slow terminal pauses the tool rather than filling
    // memory, but only once RELAY_BUFFER bytes wait: a pause at every 16 KiB
    // (the stream's high-water mark) turns the relay into a ping-pong between
    // the tool, gate and the terminal.
    let paused = false;
    const onDrain = () => {
      if (paused) {
        paused = false;
        pty.resume();
      }
    };
    stdout.on('drain', onDrain);
    cleanups.push(() => stdout.off('drain', onDrain));
    const dataSub = pty.onData((data) => {
      stdout.write(data);
      if (!paused && stdout.writableLength > RELAY_BUFFER) {
        paused = true;
        pty.pause();
      }
      opts.onOutput?.(data);
    });
    cleanups.push(() => dataSub.dispose());

    const kill = killer((sig) => pty.kill(sig), opts.killGraceMs ?? 3000);
    cleanups.push(() => kill.stop());
    const onAbort = () => kill.start();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    cleanups.push(() => opts.signal?.removeEventListener('abort', onAbort));

    const result = await new Promise<RunToolResult>((resolveExit) => {
      const sub = pty.onExit(({ exitCode, signal }) => {
        sub.dispose();
        resolveExit(exitFromSignal(signal) ?? { exitCode });
      });
    });
    // Up to RELAY_BUFFER may still be on its way to a slow terminal: the tool
    // is done when the user has seen all of it (a write callback runs in order).
    if (stdout.writableLength > 0 && !stdout.destroyed) await new Promise<void>((done) => stdout.write(Buffer.alloc(0), () => done()));
    return result;
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        cleanup();
      } catch {
        // restoring the terminal must not hide the real outcome
      }
    }
  }
}

/**
 * Turns the terminal's output processing off (`stty -opost`) while the tool
 * runs, as ssh and asciinema do: the tool's own pty already turned each \n into
 * \r\n, and a second pass would make it \r\r\n and cost the kernel a
 * byte-by-byte scan of everything relayed (libuv's raw mode leaves OPOST on).
 * Returns the undo; does nothing when stty is not there.
 */
function passOutputThrough(stdout: Output): () => void {
  // process.stdout has `fd`; other tty.WriteStreams only their handle's.
  const s = stdout as { fd?: unknown; isTTY?: boolean; _handle?: { fd?: unknown } };
  const fd = typeof s.fd === 'number' ? s.fd : s._handle?.fd;
  if (typeof fd !== 'number' || fd < 0 || !s.isTTY) return () => {};
  const stty = (arg: string) => {
    const r = spawnSync('stty', [arg], { stdio: [fd, 'pipe', 'ignore'], timeout: 2000 });
    return r.status === 0 ? r.stdout.toString().trim() : undefined;
  };
  // Saved as a whole (`stty -g`) so the undo leaves a terminal that was -opost already as it was.
  const saved = stty('-g');
  if (!saved || stty('-opost') === undefined) return () => {};
  return () => {
    stty(saved);
  };
}

/**
 * Makes node-pty hand over the tool's output as the bytes it read instead of
 * decoding them into strings, which the relay would only encode back to
 * UTF-8 for the terminal: for an output flood that is two passes over every
 * byte on gate's event loop. The pty is still spawned with node-pty's default
 * encoding, because only then does node-pty set IUTF8 on the tool's terminal
 * (so the kernel's line editing erases a multibyte character whole), and it
 * has to be set before the tool starts. Called before any output is read;
 * relies on the stream's internals (node-pty's own `setEncoding(null)` does
 * not reach them). Without them, output stays strings, which the relay and
 * the recording take as well.
 */
function relayBytes(pty: unknown): void {
  const state = (pty as { _socket?: { _readableState?: { decoder?: unknown; encoding?: unknown } } })._socket?._readableState;
  if (!state || !('decoder' in state)) return;
  state.decoder = null;
  state.encoding = null;
}

/** How much of the tool's output may wait for a slow terminal before the tool is paused. */
const RELAY_BUFFER = 1 << 20;

/**
 * Node writes to a terminal synchronously: while the terminal is busy, gate's
 * whole event loop stands still, so it neither reads the tool's next output
 * nor records nor uploads, and a flood of output crawls through two ptys in
 * lock-step. During the run stdout's handle is made non-blocking (libuv
 * reopens a pty for it, so the user's shell does not share the flag; on other
 * terminals the shell is waiting for gate meanwhile) and made blocking again
 * once everything queued has been written.
 * Streams without such a handle (pipes in tests, files) are left alone.
 */
function relayWithoutBlocking(stdout: Output): () => void {
  const handle = (stdout as { _handle?: { setBlocking?(blocking: boolean): number } })._handle;
  if (!(stdout as { isTTY?: boolean }).isTTY || typeof handle?.setBlocking !== 'function') return () => {};
  if (handle.setBlocking(false) !== 0) return () => {};
  return () => {
    handle.setBlocking!(true);
  };
}

/**
 * node-pty loses the tail of a tool's output at exit: once the child exits it
 * gives the pty reader 200 ms, then destroys it, and the slave's close can
 * also beat the reader to the bytes still buffered in the kernel (measured
 * here: `seq 1 20000` lost up to 12 KB in 1 run of 5). So we hold the slave
 * side open ourselves: the reader cannot hit EOF while bytes are pending.
 * When the tool exits (node-pty's exit handler subscribes to the socket's
 * 'close', the earliest sign we get) and the reader has been quiet for 30 ms
 * and is not paused, we let go; the reader then ends with EIO and node-pty
 * ends the session normally. node-pty's own 200 ms "destroy" is turned into
 * the same release plus a real destroy once output stays quiet (a background
 * process the tool left behind may keep the slave open). This relies on
 * node-pty internals (`_pty`, `_socket`); without them it does nothing.
 * Returns a cleanup.
 */
function holdUntilDrained(pty: unknown): () => void {
  const internals = pty as {
    _pty?: unknown;
    _socket?: {
      destroy: (...args: unknown[]) => unknown;
      isPaused(): boolean;
      on(event: string, listener: (...args: never[]) => void): unknown;
      off(event: string, listener: (...args: never[]) => void): unknown;
    };
  };
  const socket = internals._socket;
  if (process.platform === 'win32' || typeof internals._pty !== 'string' || typeof socket?.destroy !== 'function') {
    return () => {};
  }
  let fd: number | undefined;
  try {
    fd = openSync(internals._pty, fsConstants.O_RDWR | fsConstants.O_NOCTTY);
  } catch {
    return () => {};
  }
  const destroy = socket.destroy.bind(socket);
  let exited = false;
  let draining = false;
  let settle: NodeJS.Timeout | undefined;
  let quiet: NodeJS.Timeout | undefined;
  let cap: NodeJS.Timeout | undefined;

  const release = () => {
    if (fd === undefined) return;
    if (socket.isPaused() && !draining) return armSettle();
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    fd = undefined;
  };
  const armSettle = () => {
    clearTimeout(settle);
    settle = setTimeout(release, 30);
  };
  const stopTimers = () => {
    clearTimeout(settle);
    clearTimeout(quiet);
    clearTimeout(cap);
  };
  const finish = (...args: unknown[]) => {
    stopTimers();
    socket.destroy = destroy;
    return destroy(...args);
  };
  const onData = () => {
    if (exited && fd !== undefined) armSettle();
    if (draining) {
      clearTimeout(quiet);
      quiet = setTimeout(finish, 250);
    }
  };
  const onNewListener = (event: string) => {
    if (event !== 'close') return;
    socket.off('newListener', onNewListener);
    exited = true;
    armSettle();
  };
  socket.on('data', onData);
  socket.on('newListener', onNewListener);
  socket.destroy = (...args: unknown[]) => {
    // The stream's own destroy(err) on EIO, or a second call: the real thing.
    if (draining || args.length > 0) return finish(...args);
    draining = true;
    release();
    onData();
    cap = setTimeout(finish, 5000);
    return socket;
  };
  return () => {
    draining = true;
    release();
    socket.off('newListener', onNewListener);
    socket.off('data', onData);
    stopTimers();
  };
}

async function runPipes(file: string, opts: RunToolOptions): Promise<RunToolResult> {
  const { stdin, stdout } = opts;
  const stderr = opts.stderr ?? stdout;
  const child = spawnChild(file, opts.args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const cleanups: (() => void)[] = [];
  try {
    // The tool may exit without reading its stdin; EPIPE there is not our failure.
    child.stdin.on('error', () => {});
    const inDecoder = new StringDecoder('utf8');
    const onStdin = (chunk: Buffer | string) => {
      if (opts.onInput) {
        const text = typeof chunk === 'string' ? chunk : inDecoder.write(chunk);
        if (text) opts.onInput(text);
      }
    };
    const onStdinEnd = () => child.stdin.end();
    stdin.on('data', onStdin);
    stdin.on('end', onStdinEnd);
    stdin.pipe(child.stdin, { end: false });
    cleanups.push(() => {
      stdin.unpipe(child.stdin);
      stdin.off('data', onStdin);
      stdin.off('end', onStdinEnd);
      stdin.pause();
    });

    const outDecoder = new StringDecoder('utf8');
    const errDecoder = new StringDecoder('utf8');
    child.stdout.on('data', (chunk: Buffer) => {
      if (opts.onStdoutBytes) {
        opts.onStdoutBytes(chunk);
        return;
      }
      const text = outDecoder.write(chunk);
      if (text) opts.onOutput?.(text);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      const text = errDecoder.write(chunk);
      if (text) opts.onOutput?.(text);
    });
    child.stdout.pipe(stdout, { end: false });
    child.stderr.pipe(stderr, { end: false });

    const kill = killer((sig) => child.kill(sig), opts.killGraceMs ?? 3000);
    cleanups.push(() => kill.stop());
    const onAbort = () => kill.start();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    cleanups.push(() => opts.signal?.removeEventListener('abort', onAbort));

    return await new Promise<RunToolResult>((resolveExit, rejectExit) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'EACCES') {
          rejectExit(new UsageError(`${opts.file} could not be started: ${err.code}.`, { cause: err }));
        } else rejectExit(err);
      });
      // 'close' waits for stdout/stderr to end, so no output is lost.
      child.once('close', (code, signal) => {
        const tail = outDecoder.end() + errDecoder.end();
        if (tail) opts.onOutput?.(tail);
        resolveExit(exitFromSignal(signal) ?? { exitCode: code ?? 1 });
      });
    });
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
  }
}
