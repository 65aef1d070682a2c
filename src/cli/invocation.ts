import { basename, isAbsolute, relative } from 'node:path';

/**
 * How the user runs gate, for commands we print for them to copy: `gate`
 * when it is on PATH (npm link, a global install), `node bin/gate.js` when
 * started from a checkout with `node bin/gate.js`.
 */
export function gateCommand(script: string | undefined = process.argv[1], cwd = process.cwd()): string {
  if (!script || basename(script) !== 'gate.js') return 'gate';
  const rel = relative(cwd, script);
  const shown = rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : script;
  return `node ${shown.includes(' ') ? JSON.stringify(shown) : shown}`;
}
