/**
 * The email detector reads a value once, left to right: the same addresses
 * the documented pattern `local@label(.label)*.[A-Za-z]{2,}` describes, and a
 * long field (a base64 blob, a long identifier: COPY of such a column) comes
 * back correct, where a backtracking regular expression stalled the gateway.
 */
import { describe, expect, it } from 'vitest';
import { maskCopyRow } from '../../src/gateway/postgres/copy-masking.js';
import { detectText } from '../../src/gateway/postgres/detectors.js';

const d = { email: true, card: false };
/** The pattern as documented, for comparison on short texts (where its backtracking costs nothing). */
const PATTERN = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})/g;
const reference = (t: string) => {
  const out = t.replace(PATTERN, (_m, first: string, domain: string) => `${first}***@${domain}`);
  return out === t ? undefined : out;
};

describe('email detector', () => {
  it('masks what the pattern masks, on thousands of random texts made of the characters that matter', () => {
    const alphabet = 'ab1.-_@@ .cZ%+é';
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let n = 0; n < 20_000; n++) {
      const len = 1 + Math.floor(rand() * 24);
      let t = '';
      for (let i = 0; i < len; i++) t += alphabet[Math.floor(rand() * alphabet.length)];
      expect(detectText(d, t), JSON.stringify(t)).toBe(reference(t));
    }
  });

  it('known cases', () => {
    expect(detectText(d, 'mail jane.doe@example.com, or omar@mail.example.org.')).toBe('mail j***@example.com, or o***@mail.example.org.');
    expect(detectText(d, 'x@example.com1')).toBe('x***@example.com1');
    expect(detectText(d, 'a@b@example.com')).toBe('a@b***@example.com');
    expect(detectText(d, 'user@localhost')).toBeUndefined();
    expect(detectText(d, '@example.com')).toBeUndefined();
  });

  it('a long field without an address comes back as it was, and an address after it is masked', () => {
    const blob = 'QUJD'.repeat(250_000);
    expect(detectText(d, blob)).toBeUndefined();
    expect(detectText(d, `${'a'.repeat(1_000_000)} jane@example.com`)).toBe(`${'a'.repeat(1_000_000)} j***@example.com`);
    expect(detectText(d, `${'a.'.repeat(500_000)}@example.com`)).toBe(`a***@example.com`);
  });

  it('COPY rows with long fields: the blob intact, the address masked', () => {
    const blob = 'x'.repeat(200_000);
    const row = `1\t${blob}\tjane.doe@example.com\n`;
    const masked = maskCopyRow({ csv: false, delimiter: '\t', positions: new Set(), detectors: { email: true, card: true } }, row);
    expect(masked).toBe(`1\t${blob}\tj***@example.com\n`);
  });
});
