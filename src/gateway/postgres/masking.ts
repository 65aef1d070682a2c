/**
 * Masking of result values before they reach the client.
 *
 * - Named columns (case-insensitive RowDescription field names): the column's
 *   type is rewritten to `text` in every RowDescription, and each non-NULL
 *   value becomes `****`. Text in binary format is its UTF-8 bytes, so the
 *   value decodes the same way whichever format the client asked for.
 * - Detectors scan every other value: `email` keeps the first character and
 *   the domain (`j***@example.com`); `credit_card` (13–19 digits, spaces or
 *   dashes allowed, Luhn-valid) keeps separators and the last four digits
 *   (`****-****-****-1111`). Text-format values of any type are rewritten in
 *   place. Binary-format values are rewritten when their type is text-like;
 *   a binary int8/numeric holding a card number becomes NULL (no other value
 *   would decode as that type).
 */
import type { PostgresTarget } from '../../config/schema.js';
import { cstringAt } from './backend.js';

export interface Masker {
  columns: Set<string>;
  email: boolean;
  card: boolean;
}

export interface FieldInfo {
  name: string;
  type: number;
  format: number;
  masked: boolean;
}

const TEXT_OID = 25;
const TEXT_LIKE = new Set([25, 1043, 1042, 19, 705, 114, 3802]);
const JSONB_OID = 3802;
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const MASK = Buffer.from('****');

export function createMasker(config: PostgresTarget['masking'] | undefined): Masker | undefined {
  if (!config) return undefined;
  const columns = new Set(config.columns.map((c) => c.toLowerCase()));
  const email = config.detectors.includes('email');
  const card = config.detectors.includes('credit_card');
  if (columns.size === 0 && !email && !card) return undefined;
  return { columns, email, card };
}

/** Reads a RowDescription; when a masked column is present also returns the rewritten body. */
export function describeRow(masker: Masker, body: Buffer): { fields: FieldInfo[]; rewritten?: Buffer } {
  const count = body.readInt16BE(0);
  const fields: FieldInfo[] = [];
  let i = 2;
  let copy: Buffer | undefined;
  for (let f = 0; f < count; f++) {
    const [name, after] = cstringAt(body, i);
    i = after;
    const type = body.readInt32BE(i + 6);
    const format = body.readInt16BE(i + 16);
    const masked = masker.columns.has(name.toLowerCase());
    if (masked) {
      copy ??= Buffer.from(body);
      copy.writeInt32BE(TEXT_OID, i + 6);
      copy.writeInt16BE(-1, i + 10);
      copy.writeInt32BE(-1, i + 12);
    }
    fields.push({ name, type: masked ? TEXT_OID : type, format, masked });
    i += 18;
  }
  return copy ? { fields, rewritten: copy } : { fields };
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
 * description known (a flow gate could not follow), named-column masking
 * cannot be applied by name, so every value is replaced by NULL.
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
      if (!field) {
        replacement = masker.columns.size > 0 ? null : maskUnknown(masker, body, start, end);
      } else if (field.masked) {
        replacement = MASK;
      } else if (masker.email || masker.card) {
        replacement = maskValue(masker, field, body, start, end);
      }
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

function maskUnknown(masker: Masker, body: Buffer, start: number, end: number): Buffer | null | undefined {
  return maskValue(masker, { name: '', type: TEXT_OID, format: 0, masked: false }, body, start, end);
}

/** undefined = unchanged, null = send NULL, Buffer = new value. */
function maskValue(masker: Masker, field: FieldInfo, body: Buffer, start: number, end: number): Buffer | null | undefined {
  if (field.format === 0 || TEXT_LIKE.has(field.type)) {
    const offset = field.format !== 0 && field.type === JSONB_OID ? 1 : 0;
    if (!mayContainSecret(masker, body, start + offset, end)) return undefined;
    const text = body.toString('utf8', start + offset, end);
    const masked = maskText(masker, text);
    if (masked === undefined) return undefined;
    const out = Buffer.from(masked, 'utf8');
    return offset ? Buffer.concat([body.subarray(start, start + offset), out]) : out;
  }
  if (!masker.card) return undefined;
  const digits =
    field.type === INT8_OID && end - start === 8
      ? body.readBigInt64BE(start).toString()
      : field.type === NUMERIC_OID
        ? numericDigits(body.subarray(start, end))
        : undefined;
  if (digits && isCardNumber(digits.replace(/^-/, ''))) return null;
  return undefined;
}

/** Cheap byte scan so most values never become strings. */
function mayContainSecret(masker: Masker, body: Buffer, start: number, end: number): boolean {
  if (end - start < 6) return false;
  if (masker.email && body.indexOf(0x40, start) >= 0 && body.indexOf(0x40, start) < end) return true;
  if (masker.card) {
    let digits = 0;
    for (let i = start; i < end; i++) {
      const b = body[i]!;
      if (b >= 0x30 && b <= 0x39 && ++digits >= 13) return true;
    }
  }
  return false;
}

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})/g;
const CARD = /(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])/g;

/** Applies the detectors to a text; undefined when nothing matched. */
export function maskText(masker: Masker, text: string): string | undefined {
  let out = text;
  if (masker.card) {
    out = out.replace(CARD, (m) => {
      const digits = m.replace(/[ -]/g, '');
      if (!isCardNumber(digits)) return m;
      let keep = 4;
      let masked = '';
      for (let i = m.length - 1; i >= 0; i--) {
        const ch = m[i]!;
        if (ch >= '0' && ch <= '9') masked = (keep-- > 0 ? ch : '*') + masked;
        else masked = ch + masked;
      }
      return masked;
    });
  }
  if (masker.email) out = out.replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`);
  return out === text ? undefined : out;
}

/** 13–19 digits passing the Luhn check. */
export function isCardNumber(digits: string): boolean {
  if (!/^[0-9]{13,19}$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** The integer digits of a binary numeric (ignores any fraction). */
function numericDigits(value: Buffer): string | undefined {
  if (value.length < 8) return undefined;
  const ndigits = value.readInt16BE(0);
  const weight = value.readInt16BE(2);
  if (ndigits <= 0 || value.length < 8 + ndigits * 2 || weight < 0) return undefined;
  let s = '';
  for (let d = 0; d <= weight; d++) {
    const group = d < ndigits ? value.readInt16BE(8 + d * 2) : 0;
    s += d === 0 ? String(group) : String(group).padStart(4, '0');
  }
  return s;
}

/**
 * An ErrorResponse/NoticeResponse body with the detectors applied to its
 * human-readable fields (message, detail, hint, where); undefined when nothing changed.
 */
export function maskMessageFields(masker: Masker, body: Buffer): Buffer | undefined {
  if (!masker.email && !masker.card && masker.columns.size === 0) return undefined;
  const parts: Buffer[] = [];
  let changed = false;
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = body[i]!;
    const end = body.indexOf(0, i + 1);
    if (end < 0) return undefined;
    let value = body.subarray(i + 1, end);
    // M message, D detail, H hint, W where, q internal query, s/t/c names are identifiers.
    if (code === 0x4d || code === 0x44 || code === 0x48 || code === 0x57 || code === 0x71) {
      const masked = maskText(masker, value.toString('utf8'));
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
