import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** The built CLI, as a user runs it (`npm test` builds first). */
export const GATE_BIN = resolve(import.meta.dirname, '../../bin/gate.js');

export interface GateResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A clean environment for a spawned gate: its own config dir, file credentials, no CI prompts leaking in. */
export async function gateEnv(extra: Record<string, string | undefined> = {}): Promise<NodeJS.ProcessEnv> {
  const configDir = await mkdtemp(join(tmpdir(), 'gate-cfg-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    GATE_CONFIG_DIR: configDir,
    GATE_CREDENTIAL_STORE: 'file',
    NO_COLOR: '1',
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs gate to completion and collects its output. */
export function runGate(args: string[], options: { env: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number }): Promise<GateResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [GATE_BIN, ...args], { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

export interface RunningGate {
  child: ChildProcess;
  /** Resolves with the first stdout/stderr line matching `re` (rejects if the process exits first). */
  waitFor(re: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<string>;
  /** All stdout lines so far. */
  lines: { stdout: string[]; stderr: string[] };
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code once the process exits on its own. */
  exited: Promise<number | null>;
}

/** Starts a long-running gate command (dev, connect) in the background. */
export function startGate(args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): RunningGate {
  return startProcess([process.execPath, GATE_BIN, ...args], options);
}

/** Starts any command in the background with line-by-line access to its output. */
export function startProcess(argv: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): RunningGate {
  const child = spawn(argv[0]!, argv.slice(1), { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const waiters: { re: RegExp; stream?: string; resolve(line: string): void }[] = [];
  let exited = false;
  const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
    lines[stream].push(line);
    for (const w of [...waiters]) {
      if ((!w.stream || w.stream === stream) && w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine('stdout'));
  createInterface({ input: child.stderr! }).on('line', onLine('stderr'));
  const exit = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      exited = true;
      r(code);
    }),
  );
  return {
    child,
    lines,
    waitFor(re, stream, timeoutMs = 60_000) {
      const seen = (stream ? lines[stream] : [...lines.stdout, ...lines.stderr]).find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`timed out waiting for ${re}; output:\n${[...lines.stdout, ...lines.stderr].join('\n')}`)), timeoutMs);
        waiters.push({
          re,
          stream,
          resolve: (l) => {
            clearTimeout(timer);
            res(l);
          },
        });
        void exit.then((code) => {
          clearTimeout(timer);
          rej(new Error(`gate exited (${code}) before printing ${re}; output:\n${[...lines.stdout, ...lines.stderr].join('\n')}`));
        });
      });
    },
    exited: exit,
    async stop(signal = 'SIGTERM') {
      if (!exited) child.kill(signal);
      return exit;
    },
  };
}
