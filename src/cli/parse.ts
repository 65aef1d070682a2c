import { parseDuration } from '../config/schema.js';
import { UsageError } from '../errors.js';

/** Parses a --port value (0 = any free port). */
export function parsePort(value: string, flag = '--port'): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number from 0 to 65535, got ${JSON.stringify(value)}.`);
  return n;
}

/** Parses a --for / --timeout duration such as 30m, 2h, 90s. */
export function parseDurationFlag(value: string, flag: string): number {
  try {
    const ms = parseDuration(value);
    if (ms <= 0) throw new Error('zero');
    return ms;
  } catch {
    throw new UsageError(`${flag} must be a positive duration such as 30m, 2h or 90s, got ${JSON.stringify(value)}.`);
  }
}
