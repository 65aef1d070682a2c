import { render } from 'ink';
import type { IO } from '../io.js';
import { Colored, Spinner } from './components.js';
import { inkStreams } from './streams.js';

/** A spinner line on stderr while gate waits (for an approval); `stop` erases it. */
export function showWaiting(io: IO, color: boolean, text: string): () => void {
  const { stdout, stderr } = inkStreams(io, 'stderr');
  // No stdin: a waiting line reads no keys, so Ctrl-C stays a signal that cancels the request.
  const view = (
    <Colored on={color}>
      <Spinner text={text} />
    </Colored>
  );
  const instance = render(view, { stdout, stderr, exitOnCtrlC: false, patchConsole: false });
  return () => {
    instance.clear();
    instance.unmount();
  };
}
