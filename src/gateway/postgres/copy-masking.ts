/**
 * Masking of `COPY … TO STDOUT` rows (text and csv formats). The server sends
 * one row per CopyData message; gate splits it into fields with the COPY's
 * delimiter and quoting, replaces masked columns with `****` (NULL stays
 * NULL), and runs the detectors on every other field. A field that is only a
 * number is left alone: COPY does not say a column's type, and a detector must
 * never rewrite a number.
 */
import type { Detectors } from './detectors.js';
import { detectText } from './detectors.js';

export interface CopyMask {
  csv: boolean;
  delimiter: string;
  /** Masked column positions, or every column. */
  positions: Set<number> | 'all';
  detectors: Detectors;
}

/** The row format options a COPY statement's text sets (what gate needs to split its rows). */
export function copyFormat(text: string): { csv: boolean; delimiter: string } {
  const csv = /\bformat\s*\(?\s*'?csv\b|\bcsv\b/i.test(text);
  const m = /\bdelimiter\s+(?:as\s+)?E?'(\\t|.)'/i.exec(text);
  const delimiter = m ? (m[1] === '\\t' ? '\t' : m[1]!) : csv ? ',' : '\t';
  return { csv, delimiter };
}

const NUMBER = /^-?[0-9]+(\.[0-9]+)?$/;

/** The masked row, or undefined when nothing changed. */
export function maskCopyRow(mask: CopyMask, row: string): string | undefined {
  const eol = row.endsWith('\r\n') ? '\r\n' : row.endsWith('\n') ? '\n' : '';
  const body = row.slice(0, row.length - eol.length);
  const fields = mask.csv ? splitCsv(body, mask.delimiter) : body.split(mask.delimiter);
  let changed = false;
  const out = fields.map((f, i) => {
    const isNull = mask.csv ? f === '' : f === '\\N';
    if (isNull) return f;
    if (mask.positions === 'all' || mask.positions.has(i)) {
      changed = true;
      return '****';
    }
    const raw = mask.csv && f.startsWith('"') ? f.slice(1, -1).replace(/""/g, '"') : f;
    if (NUMBER.test(raw)) return f;
    const masked = detectText(mask.detectors, raw);
    if (masked === undefined) return f;
    changed = true;
    return mask.csv && f.startsWith('"') ? `"${masked.replace(/"/g, '""')}"` : masked;
  });
  return changed ? out.join(mask.delimiter) + eol : undefined;
}

/** Splits one CSV row, keeping each field's quoting as written. */
function splitCsv(row: string, delimiter: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < row.length; i++) {
    const c = row[i]!;
    if (quoted) {
      cur += c;
      if (c === '"') {
        if (row[i + 1] === '"') cur += row[++i];
        else quoted = false;
      }
    } else if (c === '"') {
      quoted = true;
      cur += c;
    } else if (c === delimiter) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}
