/**
 * Durations of the config file and of the CLI's flags: `45s`, `30m`, `8h`,
 * `7d`, compound `1h30m`, and decimals `1.5h`. A bare number is not one (it
 * used to mean seconds silently, which nobody expects of `--for 30`).
 */
export const DURATION = /^(?:\d+(?:\.\d+)?[smhd])+$/;

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;
const PART = /(\d+(?:\.\d+)?)([smhd])/g;

/** Parses `30m`, `1h30m`, `1.5h`, `7d`, `45s` into milliseconds (rounded to whole ms). */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (!DURATION.test(t)) throw new TypeError(`not a duration: ${JSON.stringify(text)}`);
  let ms = 0;
  for (const [, n, unit] of t.matchAll(PART)) ms += Number(n) * UNIT_MS[unit as Unit];
  return Math.round(ms);
}

/** True for `30`, `1800`: a number with no unit. */
export function isBareNumber(text: string): boolean {
  return /^\s*\d+(?:\.\d+)?\s*$/.test(text);
}

/**
 * Formats seconds in the units of `like` (what the user typed), so a cap
 * reads in the user's own terms: 10h capped → "8h", 90m capped → "60m",
 * 1h30m capped → "1h". Without `like`, the largest whole units.
 */
export function formatDuration(seconds: number, like?: string): string {
  const units = like && DURATION.test(like.trim()) ? [...like.trim().matchAll(PART)].map((m) => m[2] as Unit) : [];
  if (units.length === 1) {
    const unit = units[0]!;
    const n = (seconds * 1000) / UNIT_MS[unit];
    return `${Number.isInteger(n) ? n : Number(n.toFixed(2))}${unit}`;
  }
  const order: Unit[] = units.length > 1 ? (['d', 'h', 'm', 's'] as Unit[]).filter((u) => units.includes(u)) : ['d', 'h', 'm', 's'];
  let left = seconds * 1000;
  let out = '';
  for (const unit of order) {
    const n = Math.floor(left / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      left -= n * UNIT_MS[unit];
    }
  }
  if (left > 0) out += `${Math.round(left / 1000)}s`;
  return out || `0${order[order.length - 1]}`;
}
