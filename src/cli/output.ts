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
 * A table: aligned columns with a header on a terminal; tab-separated with no
 * header when piped, so `cut -f1` works.
 */
export function printTable(io: IO, header: string[], rows: string[][]): void {
  if (!io.stdout.isTTY) {
    for (const row of rows) io.stdout.write(`${row.join('\t')}\n`);
    return;
  }
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  io.stdout.write(`${line(header.map((h) => h.toUpperCase()))}\n`);
  for (const row of rows) io.stdout.write(`${line(row)}\n`);
}
