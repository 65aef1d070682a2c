/**
 * The value detectors: `email` keeps the first character and the domain
 * (`j***@example.com`); `credit_card` keeps separators and the last four
 * digits (`****-****-****-1111`). A card number has a card's shape: 13–19
 * digits, optionally grouped by single spaces or dashes, Luhn-valid, and not
 * part of a longer token (an md5 hex string, a UUID, an identifier).
 */

export interface Detectors {
  email: boolean;
  card: boolean;
}

/** Characters of an address's local part (before `@`) and of a domain label. */
const LOCAL = charTable('A-Za-z0-9._%+-');
const LABEL = charTable('A-Za-z0-9-');
const ALPHA = charTable('A-Za-z');
// Not preceded by a word character (or a word character and a joiner), not followed by one.
const CARD = /(?<![0-9A-Za-z_]|[0-9A-Za-z_][-.])[0-9](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z_]|[-.][0-9A-Za-z_])/g;

/** Applies the detectors to a text; undefined when nothing matched. */
export function detectText(d: Detectors, text: string): string | undefined {
  let out = text;
  // The pattern itself, compiled to native code, finds where no number is faster than a loop counting digits first.
  if (d.card) out = out.replace(CARD, (m) => (cardShaped(m) ? maskCard(m) : m));
  if (d.email) out = maskEmails(out);
  return out === text ? undefined : out;
}

function charTable(ranges: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let i = 0; i < ranges.length; i++) {
    if (ranges[i + 1] === '-' && i + 2 < ranges.length) {
      for (let c = ranges.charCodeAt(i); c <= ranges.charCodeAt(i + 2); c++) t[c] = 1;
      i += 2;
    } else t[ranges.charCodeAt(i)] = 1;
  }
  return t;
}

const is = (t: Uint8Array, c: number) => c < 128 && t[c] === 1;

/**
 * Where the domain after an `@` at `from` ends (labels of [A-Za-z0-9-]
 * joined by dots, the last one starting with two or more letters, which end
 * it), or -1. The same addresses as
 * `local@label(.label)*.[A-Za-z]{2,}`, read once from left to right.
 */
function domainEnd(text: string, from: number): number {
  let end = -1;
  let i = from;
  let labels = 0;
  for (;;) {
    const start = i;
    while (i < text.length && is(LABEL, text.charCodeAt(i))) i++;
    if (i === start) break;
    if (labels > 0) {
      let a = start;
      while (a < i && is(ALPHA, text.charCodeAt(a))) a++;
      if (a - start >= 2) end = a;
    }
    labels++;
    if (text.charCodeAt(i) !== 0x2e /* . */) break;
    i++;
  }
  return end;
}

/**
 * `jane.doe@example.com` → `j***@example.com`. Found from each `@` outwards,
 * so the work is linear in the text: a regular expression that looks for the
 * local part first tries every start in a long run of letters (a base64 blob,
 * a long identifier), which made one 20 kB field cost seconds.
 */
function maskEmails(text: string): string {
  let at = text.indexOf('@');
  if (at < 0) return text;
  let out = '';
  let last = 0;
  while (at >= 0) {
    let start = at;
    while (start > last && is(LOCAL, text.charCodeAt(start - 1))) start--;
    const end = start < at ? domainEnd(text, at + 1) : -1;
    if (end < 0) {
      at = text.indexOf('@', at + 1);
      continue;
    }
    out += `${text.slice(last, start)}${text[start]}***@${text.slice(at + 1, end)}`;
    last = end;
    at = text.indexOf('@', end);
  }
  return out + text.slice(last);
}

/** Groups use one kind of separator; the digits pass Luhn. */
function cardShaped(m: string): boolean {
  if (m.includes(' ') && m.includes('-')) return false;
  return isCardNumber(m.replace(/[ -]/g, ''));
}

function maskCard(m: string): string {
  let keep = 4;
  let masked = '';
  for (let i = m.length - 1; i >= 0; i--) {
    const ch = m[i]!;
    masked = (ch >= '0' && ch <= '9' ? (keep-- > 0 ? ch : '*') : ch) + masked;
  }
  return masked;
}

/** 13–19 digits passing the Luhn check. */
export function isCardNumber(digits: string): boolean {
  if (!/^[0-9]{13,19}$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let v = digits.charCodeAt(i) - 48;
    if (double) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Cheap byte scan so most values never become strings. */
export function mayContainSecret(d: Detectors, body: Buffer, start: number, end: number): boolean {
  if (end - start < 6) return false;
  if (d.email) {
    const at = body.indexOf(0x40, start);
    if (at >= 0 && at < end) return true;
  }
  if (d.card) {
    let digits = 0;
    for (let i = start; i < end; i++) {
      const b = body[i]!;
      if (b >= 0x30 && b <= 0x39 && ++digits >= 13) return true;
    }
  }
  return false;
}
