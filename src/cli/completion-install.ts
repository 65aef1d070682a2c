import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import type { GateEnv } from '../env.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/**
 * Where each shell loads a user's completions from without any setup:
 * bash-completion's per-user directory, fish's completions directory; zsh has
 * no such place, so it gets the XDG one and a line for `fpath`.
 */
export function completionPath(shell: Shell, env: Pick<GateEnv, 'xdgDataHome' | 'xdgConfigHome'>): string {
  switch (shell) {
    case 'bash':
      return join(env.xdgDataHome, 'bash-completion', 'completions', 'gate');
    case 'zsh':
      return join(env.xdgDataHome, 'zsh', 'site-functions', '_gate');
    case 'fish':
      return join(env.xdgConfigHome, 'fish', 'completions', 'gate.fish');
  }
}

/** The shell named on the command line, else the login shell ($SHELL). */
export function shellToInstall(named: Shell | undefined, env: Pick<GateEnv, 'shell'>): Shell {
  if (named) return named;
  const login = env.shell ? basename(env.shell) : '';
  if ((SHELLS as readonly string[]).includes(login)) return login as Shell;
  throw new UsageError(`Name the shell to install completions for: gate completion bash|zsh|fish --install${login ? ` (your shell, ${login}, has none)` : ''}.`);
}

/** Writes the script where the shell finds it; returns the path and what the user still has to do, if anything. */
export async function installCompletion(shell: Shell, script: string, env: Pick<GateEnv, 'xdgDataHome' | 'xdgConfigHome'>): Promise<{ path: string; next?: string }> {
  const path = completionPath(shell, env);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, script);
  if (shell === 'zsh') {
    return { path, next: `add this line to ~/.zshrc before compinit, then open a new shell:\n  fpath=(${dirname(path)} $fpath)` };
  }
  return { path, next: 'open a new shell to use it' };
}
