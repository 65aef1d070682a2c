import type { IO } from './io.js';

/**
 * stdout carries data only. JSON is pretty on a terminal and compact when
 * piped; NDJSON events are always one compact object per line.
 */
export function printJson(io: IO, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, io.stdout.isTTY ? 2 : undefined)}\n`);
}

/** Writes one NDJSON event (`{"event": name, ...fields}`) on stdout. */
export function emitEvent(io: IO, event: string, fields: Record<string, unknown> = {}): void {
  io.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/** Prose for humans: progress, hints and warnings go to stderr. */
export function say(io: IO, line = ''): void {
  io.stderr.write(`${line}\n`);
}

/**
 * A table: aligned columns with a header on a terminal, fitted to its width
 * (the widest columns give way first, cut with …); tab-separated with no
 * header when piped, so `cut -f1` works.
 */
export function printTable(io: IO, header: string[], rows: string[][]): void {
  if (!io.stdout.isTTY) {
    for (const row of rows) io.stdout.write(`${row.join('\t')}\n`);
    return;
  }
  const all = [header, ...rows];
  const widths = fitWidths(
    header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length))),
    io.stdout.columns,
  );
  const line = (r: string[]) =>
    r
      .map((c, i) => {
        const cell = truncate(c, widths[i] ?? 0);
        return i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0);
      })
      .join('  ')
      .trimEnd();
  io.stdout.write(`${line(header.map((h) => h.toUpperCase()))}\n`);
  for (const row of rows) io.stdout.write(`${line(row)}\n`);
}

const GAP = 2;
const MIN_COLUMN = 6;

/** Shrinks the widest column, one character at a time, until the row fits `columns` (or every column is at its minimum). */
export function fitWidths(widths: number[], columns: number | undefined): number[] {
  const out = [...widths];
  if (!columns || columns <= 0) return out;
  const total = () => out.reduce((a, b) => a + b, 0) + GAP * (out.length - 1);
  while (total() > columns) {
    let widest = 0;
    for (let i = 1; i < out.length; i++) if (out[i]! > out[widest]!) widest = i;
    if (out[widest]! <= MIN_COLUMN) break;
    out[widest]! -= 1;
  }
  return out;
}

/** Cuts `text` to `width` characters, ending in … when cut. */
export function truncate(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return '…'.slice(0, width);
  return `${text.slice(0, width - 1)}…`;
}

/** "in 42m", "3h ago", "just now": how far `iso` is from `now`, for people. */
export function relativeTime(iso: string | undefined | null, now: Date): string {
  if (!iso) return '-';
  const ms = new Date(iso).getTime() - now.getTime();
  if (Number.isNaN(ms)) return iso;
  const abs = Math.abs(ms);
  if (abs < 45_000) return ms >= 0 ? 'in a moment' : 'just now';
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ];
  const [unit, size] = units.find(([, n]) => abs >= n) ?? ['m', 60_000];
  const n = Math.round(abs / size);
  return ms >= 0 ? `in ${n}${unit}` : `${n}${unit} ago`;
}

/** A time cell: relative on a terminal, the ISO time when piped (scripts parse it). */
export function timeCell(io: IO, iso: string | undefined | null, now: Date): string {
  if (!iso) return '-';
  return io.stdout.isTTY ? relativeTime(iso, now) : iso;
}
