import type { Readable, Writable } from 'node:stream';
import type { GateEnv } from '../env.js';

/** The process's streams, swappable in tests. */
export interface IO {
  stdin: Readable & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: Writable & { isTTY?: boolean };
}

export function processIO(): IO {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

/** True when a prompt may be shown: both ends are terminals and nothing disabled prompting. */
export function canPrompt(io: IO, env: GateEnv, noInput = false): boolean {
  return Boolean(io.stdin.isTTY && io.stdout.isTTY) && !env.ci && !env.promptDisabled && !noInput;
}

/** Colour follows NO_COLOR / CLICOLOR / CLICOLOR_FORCE, then whether stderr is a terminal. */
export function useColor(io: IO, env: GateEnv): boolean {
  return env.color ?? Boolean(io.stderr.isTTY);
}

export interface Style {
  /** Whether colour is on (NO_COLOR, CLICOLOR, a terminal): the ink views follow it too. */
  readonly enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

export function style(enabled: boolean): Style {
  const wrap = (open: number, close: number) => (s: string) => (enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    green: wrap(32, 39),
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}
