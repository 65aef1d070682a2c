import { isBareNumber, parseDuration } from '../config/duration.js';
import { UsageError } from '../errors.js';

/** Parses a --port value (0 = any free port). */
export function parsePort(value: string, flag = '--port'): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number from 0 to 65535, got ${JSON.stringify(value)}.`);
  return n;
}

/**
 * Ports the WHATWG fetch standard blocks ("bad ports"): browsers and Node's
 * fetch refuse them, so a gate server there could not be logged in to.
 */
const FETCH_BLOCKED_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115,
  117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587,
  601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669,
  6679, 6697, 10080,
]);

/** Parses the port a gate server listens on: any port the CLI and browsers can reach. */
export function parseServerPort(value: string): number {
  const port = parsePort(value);
  if (FETCH_BLOCKED_PORTS.has(port)) {
    throw new UsageError(`Port ${port} is one that browsers and fetch refuse to connect to (a WHATWG "bad port").`, {
      hint: 'Pick another --port, e.g. 4180.',
    });
  }
  return port;
}

/** Parses a --for / --timeout duration such as 30m, 1h30m, 1.5h, 90s. A bare number is refused: which unit? */
export function parseDurationFlag(value: string, flag: string): number {
  if (isBareNumber(value)) {
    const n = value.trim();
    throw new UsageError(`${flag} ${n} has no unit.`, { hint: `Write ${flag} ${n}m (minutes), ${flag} ${n}h (hours) or ${flag} ${n}s (seconds).` });
  }
  try {
    const ms = parseDuration(value);
    if (ms <= 0) throw new Error('zero');
    return ms;
  } catch {
    throw new UsageError(`${flag} must be a positive duration such as 30m, 1h30m, 1.5h or 90s, got ${JSON.stringify(value)}.`);
  }
}
