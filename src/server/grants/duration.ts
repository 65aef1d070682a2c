import { parseDuration } from '../../config/schema.js';

/** No grant may be asked for longer than this, whatever the policy says (30 days). */
export const ABSURD_DURATION_S = 30 * 86_400;

/**
 * Reads a requested duration: `"30m"`, `"2h"`, or a number of seconds (number
 * or digit string). Returns seconds, or an error message naming the value.
 */
export function parseRequestedDuration(value: string | number | undefined): { seconds: number } | { error: string } {
  if (value === undefined) return { error: 'duration is required, e.g. "30m" or 1800 (seconds)' };
  let seconds: number;
  if (typeof value === 'number') seconds = value;
  else if (/^\d+$/.test(value.trim())) seconds = Number(value.trim());
  else {
    try {
      seconds = parseDuration(value) / 1000;
    } catch {
      return { error: `duration ${JSON.stringify(value)} is not a duration such as "30m", "8h" or a number of seconds` };
    }
  }
  if (!Number.isFinite(seconds) || !Number.isInteger(seconds) || seconds <= 0) {
    return { error: `duration must be a positive whole number of seconds, got ${JSON.stringify(value)}` };
  }
  if (seconds > ABSURD_DURATION_S) return { error: `duration ${JSON.stringify(value)} is longer than gate ever grants (30d)` };
  return { seconds };
}
