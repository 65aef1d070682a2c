import type { IO } from './io.js';

/**
 * The ink spinner of src/cli/ink/progress.tsx, loaded on first use so that
 * commands that never wait never load ink. Returns `stop`, which also works
 * before the spinner has appeared.
 */
export function waitingLine(io: IO, color: boolean, text: string): () => void {
  let stop: (() => void) | undefined;
  let stopped = false;
  import('./ink/progress.js').then(
    ({ showWaiting }) => {
      if (!stopped) stop = showWaiting(io, color, text);
    },
    () => io.stderr.write(`${text}\n`),
  );
  return () => {
    stopped = true;
    stop?.();
    stop = undefined;
  };
}
