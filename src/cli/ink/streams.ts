import type { IO } from '../io.js';

/** ink's stream options from gate's IO: the view on `out` (stdout for a view of data, stderr for prompts and progress). */
export function inkStreams(io: IO, out: 'stdout' | 'stderr') {
  return {
    stdout: io[out] as NodeJS.WriteStream,
    stdin: io.stdin as NodeJS.ReadStream,
    stderr: io.stderr as NodeJS.WriteStream,
  };
}

/** True when ink can read keys from stdin (a real terminal, not a test's stand-in stream) and draw on `out`. */
export function canUseInk(io: IO, out: 'stdout' | 'stderr' = 'stdout'): boolean {
  return Boolean(io.stdin.isTTY && typeof io.stdin.setRawMode === 'function' && io[out].isTTY);
}
