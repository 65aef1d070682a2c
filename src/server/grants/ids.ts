import { randomBytes } from 'node:crypto';

/** Grant ids start `g_`, command approval ids `a_`: `gate approve` dispatches on the prefix. */
export function newIdFor(prefix: 'g' | 'a'): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
