/**
 * Masking of result values before they reach the client.
 *
 * - Masked result columns (decided per RowDescription from the catalog and the
 *   statement's lineage, see result-masking.ts): the column's type becomes
 *   `text` in the RowDescription and each non-NULL value `****`. Text in
 *   binary format is its UTF-8 bytes, so it decodes the same either way.
 * - Detectors (detectors.ts) look only at text-like values: text, varchar,
 *   bpchar, name, json, jsonb, xml, unknown, and arrays and records of these,
 *   in text and binary format. They never change a value's type: numbers,
 *   UUIDs, timestamps, bytea are passed as they are.
 */
import type { PostgresTarget } from '../../config/schema.js';
import { cstringAt } from './backend.js';
import { type Detectors, detectText, mayContainSecret } from './detectors.js';

export { isCardNumber } from './detectors.js';

export interface Masker extends Detectors {
  /** The target names masked columns (result columns are then planned per RowDescription). */
  hasColumns: boolean;
}

export interface FieldInfo {
  name: string;
  tableOid: number;
  attnum: number;
  type: number;
  format: number;
  masked: boolean;
}

const TEXT_OID = 25;
const JSONB_OID = 3802;
/** Scalar types whose text form is the value itself. */
const TEXT_SCALARS = new Set([25, 1043, 1042, 19, 705, 114, 3802, 142]);
/** Arrays of text-like types (element type). */
const TEXT_ARRAYS = new Map([
  [1009, 25],
  [1015, 1043],
  [1014, 1042],
  [1003, 19],
  [199, 114],
  [3807, 3802],
  [143, 142],
]);
const RECORD_OID = 2249;
const RECORD_ARRAY_OID = 2287;
const MASK = Buffer.from('****');

export function createMasker(config: PostgresTarget['masking'] | undefined): Masker | undefined {
  if (!config) return undefined;
  const hasColumns = config.columns.length > 0;
  const email = config.detectors.includes('email');
  const card = config.detectors.includes('credit_card');
  if (!hasColumns && !email && !card) return undefined;
  return { hasColumns, email, card };
}

/** May the detectors change a value of this type? */
export function textLike(type: number): boolean {
  return TEXT_SCALARS.has(type) || TEXT_ARRAYS.has(type) || type === RECORD_OID || type === RECORD_ARRAY_OID;
}

/** Reads a RowDescription's fields. */
export function readFields(body: Buffer): FieldInfo[] {
  const count = body.readInt16BE(0);
  const fields: FieldInfo[] = [];
  let i = 2;
  for (let f = 0; f < count; f++) {
    const [name, after] = cstringAt(body, i);
    i = after;
    fields.push({
      name,
      tableOid: body.readUInt32BE(i),
      attnum: body.readInt16BE(i + 4),
      type: body.readUInt32BE(i + 6),
      format: body.readInt16BE(i + 16),
      masked: false,
    });
    i += 18;
  }
  return fields;
}

/** The RowDescription with masked fields typed as text; undefined when none is masked. */
export function rewriteDescription(body: Buffer, fields: FieldInfo[]): Buffer | undefined {
  if (!fields.some((f) => f.masked)) return undefined;
  const copy = Buffer.from(body);
  let i = 2;
  for (const f of fields) {
    i = cstringAt(copy, i)[1];
    if (f.masked) {
      copy.writeInt32BE(TEXT_OID, i + 6);
      copy.writeInt16BE(-1, i + 10);
      copy.writeInt32BE(-1, i + 12);
      f.type = TEXT_OID;
    }
    i += 18;
  }
  return copy;
}

/** Applies a Bind's result format codes to a statement's fields. */
export function withFormats(fields: FieldInfo[], formats: number[]): FieldInfo[] {
  return fields.map((f, i) => ({
    ...f,
    format: formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : (formats[i] ?? 0),
  }));
}

/**
 * Returns a rewritten DataRow body, or undefined when nothing changed. With no
 * description known (a flow gate could not follow), nothing of the row can be
 * trusted: every value becomes NULL when the target masks columns.
 */
export function maskDataRow(masker: Masker, fields: FieldInfo[] | undefined, body: Buffer): Buffer | undefined {
  const count = body.readInt16BE(0);
  let parts: Buffer[] | undefined;
  let last = 0;
  let i = 2;
  for (let c = 0; c < count; c++) {
    const len = body.readInt32BE(i);
    const start = i + 4;
    const end = len < 0 ? start : start + len;
    let replacement: Buffer | null | undefined;
    if (len >= 0) {
      const field = fields?.[c];
      if (!field) replacement = masker.hasColumns ? null : maskValue(masker, TEXT_OID, 0, body.subarray(start, end));
      else if (field.masked) replacement = MASK;
      else if (masker.email || masker.card) replacement = maskValue(masker, field.type, field.format, body.subarray(start, end));
    }
    if (replacement !== undefined) {
      parts ??= [];
      parts.push(body.subarray(last, i));
      parts.push(lengthPrefixed(replacement));
      last = end;
    }
    i = end;
  }
  if (!parts) return undefined;
  parts.push(body.subarray(last));
  return Buffer.concat(parts);
}

function lengthPrefixed(value: Buffer | null): Buffer {
  if (value === null) {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(-1, 0);
    return b;
  }
  const b = Buffer.allocUnsafe(4 + value.length);
  b.writeInt32BE(value.length, 0);
  value.copy(b, 4);
  return b;
}

/** undefined = unchanged, Buffer = the new value (same type). */
export function maskValue(d: Detectors, type: number, format: number, value: Buffer): Buffer | undefined {
  if (!textLike(type)) return undefined;
  if (!mayContainSecret(d, value, 0, value.length)) return undefined;
  // Text format, and binary text scalars, are the value's characters.
  if (format === 0 || TEXT_SCALARS.has(type)) {
    const offset = format !== 0 && type === JSONB_OID ? 1 : 0;
    const masked = detectText(d, value.toString('utf8', offset));
    if (masked === undefined) return undefined;
    const out = Buffer.from(masked, 'utf8');
    return offset ? Buffer.concat([value.subarray(0, offset), out]) : out;
  }
  try {
    if (type === RECORD_OID) return maskBinaryRecord(d, value);
    return maskBinaryArray(d, value);
  } catch {
    // A binary value gate cannot walk: better no value than a raw one.
    return Buffer.alloc(0);
  }
}

/** Binary array: ndim, hasnull, element oid, dims (size, lbound) × ndim, then elements. */
function maskBinaryArray(d: Detectors, v: Buffer): Buffer | undefined {
  const ndim = v.readInt32BE(0);
  const elem = v.readUInt32BE(8);
  let i = 12 + ndim * 8;
  const head = v.subarray(0, i);
  const parts: Buffer[] = [head];
  let changed = false;
  while (i < v.length) {
    const len = v.readInt32BE(i);
    const value = len < 0 ? undefined : v.subarray(i + 4, i + 4 + len);
    const masked = value ? maskValue(d, elem, 1, value) : undefined;
    if (masked) changed = true;
    parts.push(value === undefined ? v.subarray(i, i + 4) : lengthPrefixed(masked ?? value));
    i += 4 + Math.max(len, 0);
  }
  return changed ? Buffer.concat(parts) : undefined;
}

/** Binary record: ncols, then (oid, length, bytes) per column. */
function maskBinaryRecord(d: Detectors, v: Buffer): Buffer | undefined {
  const n = v.readInt32BE(0);
  const parts: Buffer[] = [v.subarray(0, 4)];
  let i = 4;
  let changed = false;
  for (let c = 0; c < n; c++) {
    const oid = v.readUInt32BE(i);
    const len = v.readInt32BE(i + 4);
    const value = len < 0 ? undefined : v.subarray(i + 8, i + 8 + len);
    const masked = value ? maskValue(d, oid, 1, value) : undefined;
    if (masked) changed = true;
    parts.push(v.subarray(i, i + 4), value === undefined ? v.subarray(i + 4, i + 8) : lengthPrefixed(masked ?? value));
    i += 8 + Math.max(len, 0);
  }
  return changed ? Buffer.concat(parts) : undefined;
}

/** Applies the detectors to a text (notices, NOTIFY payloads, COPY fields); undefined when nothing matched. */
export function maskText(d: Detectors, text: string): string | undefined {
  return detectText(d, text);
}

/**
 * An ErrorResponse/NoticeResponse body with the detectors applied to its
 * human-readable fields (message, detail, hint, where); undefined when nothing changed.
 */
export function maskMessageFields(d: Detectors, body: Buffer): Buffer | undefined {
  if (!d.email && !d.card) return undefined;
  const parts: Buffer[] = [];
  let changed = false;
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = body[i]!;
    const end = body.indexOf(0, i + 1);
    if (end < 0) return undefined;
    let value = body.subarray(i + 1, end);
    // M message, D detail, H hint, W where, q internal query.
    if (code === 0x4d || code === 0x44 || code === 0x48 || code === 0x57 || code === 0x71) {
      const masked = detectText(d, value.toString('utf8'));
      if (masked !== undefined) {
        value = Buffer.from(masked, 'utf8');
        changed = true;
      }
    }
    parts.push(Buffer.from([code]), value, Buffer.from([0]));
    i = end + 1;
  }
  if (!changed) return undefined;
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}
