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

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})/g;
// Not preceded by a word character (or a word character and a joiner), not followed by one.
const CARD = /(?<![0-9A-Za-z_]|[0-9A-Za-z_][-.])[0-9](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z_]|[-.][0-9A-Za-z_])/g;

/** Applies the detectors to a text; undefined when nothing matched. */
export function detectText(d: Detectors, text: string): string | undefined {
  let out = text;
  // Each pattern only runs where it can match: EMAIL backtracks over every run
  // of name characters looking for an `@` (quadratic in a long run without one,
  // 3 µs per byte of a COPY of 1 000-character values), CARD needs 13 digits.
  if (d.card && hasDigits(text, 13)) out = out.replace(CARD, (m) => (cardShaped(m) ? maskCard(m) : m));
  if (d.email && out.includes('@')) out = out.replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`);
  return out === text ? undefined : out;
}

function hasDigits(text: string, n: number): boolean {
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57 && ++digits >= n) return true;
  }
  return false;
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
