import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';

/**
 * Resolves a secret reference (`env:NAME` or `file:/path`) at the moment it is
 * needed. The error names the reference, never a value.
 */
export async function resolveSecret(ref: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (ref.startsWith('env:')) {
    const value = env[ref.slice(4)];
    if (value === undefined || value === '') {
      throw new ConfigError(`Secret reference ${ref} is not set in the server's environment.`);
    }
    return value;
  }
  if (ref.startsWith('file:')) {
    try {
      return (await readFile(ref.slice(5), 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(`Secret reference ${ref} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  throw new ConfigError(`Not a secret reference: it must start with env: or file:.`);
}
