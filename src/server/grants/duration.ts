import { isBareNumber, parseDuration } from '../../config/duration.js';

/** No grant may be asked for longer than this, whatever the policy says (30 days). */
export const ABSURD_DURATION_S = 30 * 86_400;

/**
 * Reads a requested duration: `"30m"`, `"1h30m"`, `"1.5h"`, or a JSON number of
 * seconds. A digit string is refused: it has no unit. Returns seconds, or an error message naming the value.
 */
export function parseRequestedDuration(value: string | number | undefined): { seconds: number } | { error: string } {
  if (value === undefined) return { error: 'duration is required, e.g. "30m" or 1800 (seconds)' };
  let seconds: number;
  if (typeof value === 'number') seconds = value;
  else if (isBareNumber(value)) {
    // "30" used to mean 30 seconds silently; a string names its unit (a JSON number is seconds).
    return { error: `duration ${JSON.stringify(value)} has no unit: write it as ${value.trim()}m, ${value.trim()}h or ${value.trim()}s` };
  } else {
    try {
      seconds = parseDuration(value) / 1000;
    } catch {
      return { error: `duration ${JSON.stringify(value)} is not a duration such as "30m", "1h30m", "1.5h" or "8h"` };
    }
  }
  if (typeof value === 'string') seconds = Math.round(seconds);
  if (!Number.isFinite(seconds) || !Number.isInteger(seconds) || seconds <= 0) {
    return { error: `duration must be a positive whole number of seconds, got ${JSON.stringify(value)}` };
  }
  if (seconds > ABSURD_DURATION_S) return { error: `duration ${JSON.stringify(value)} is longer than gate ever grants (30d)` };
  return { seconds };
}
