/** `30m`, `8h`, `7d`, `45s`: the durations of the config file and of the CLI's flags. */
export const DURATION = /^(\d+)(s|m|h|d)$/;

/** Parses `30m`, `8h`, `7d`, `45s` into milliseconds. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new TypeError(`not a duration: ${JSON.stringify(text)}`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
