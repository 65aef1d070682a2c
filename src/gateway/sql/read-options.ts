/**
 * The session state that changes how PostgreSQL reads text. The server first
 * converts the client's bytes from `client_encoding` to its own encoding, then
 * lexes; libpg-query lexes UTF-8 with `standard_conforming_strings = on`. So
 * gate decodes the bytes the way the server would, and refuses what it cannot
 * read the same way (a guarded target never guesses).
 */
import type { SqlReadOptions } from './types.js';

/** PostgreSQL encoding names → WHATWG TextDecoder labels (Node's ICU). Unlisted ones are unsupported. */
const DECODERS: Record<string, string> = {
  UTF8: 'utf-8',
  UNICODE: 'utf-8',
  SQL_ASCII: 'utf-8',
  SJIS: 'shift_jis',
  SHIFT_JIS: 'shift_jis',
  MSKANJI: 'shift_jis',
  WIN932: 'shift_jis',
  WINDOWS932: 'shift_jis',
  EUC_JP: 'euc-jp',
  EUC_KR: 'euc-kr',
  UHC: 'euc-kr',
  WIN949: 'euc-kr',
  BIG5: 'big5',
  WIN950: 'big5',
  GBK: 'gbk',
  WIN936: 'gbk',
  CP936: 'gbk',
  EUC_CN: 'gbk',
  GB18030: 'gb18030',
  KOI8R: 'koi8-r',
  KOI8: 'koi8-r',
  KOI8U: 'koi8-u',
  WIN866: 'ibm866',
  ALT: 'ibm866',
  WIN874: 'windows-874',
  WIN1250: 'windows-1250',
  WIN1251: 'windows-1251',
  WIN: 'windows-1251',
  WIN1252: 'windows-1252',
  WIN1253: 'windows-1253',
  WIN1254: 'windows-1254',
  WIN1255: 'windows-1255',
  WIN1256: 'windows-1256',
  WIN1257: 'windows-1257',
  WIN1258: 'windows-1258',
  LATIN2: 'iso-8859-2',
  LATIN3: 'iso-8859-3',
  LATIN4: 'iso-8859-4',
  ISO_8859_5: 'iso-8859-5',
  ISO_8859_6: 'iso-8859-6',
  ISO_8859_7: 'iso-8859-7',
  ISO_8859_8: 'iso-8859-8',
  LATIN6: 'iso-8859-10',
  LATIN7: 'iso-8859-13',
  LATIN8: 'iso-8859-14',
  LATIN9: 'iso-8859-15',
  LATIN10: 'iso-8859-16',
};

// PostgreSQL accepts encoding names case-insensitively, ignoring '-' and '_' (UTF-8, utf8, Shift-JIS…).
function canonical(name: string): string {
  const squashed = name.toUpperCase().replace(/[-_\s]/g, '');
  for (const k of Object.keys(DECODERS)) if (k.replace(/_/g, '') === squashed) return k;
  if (squashed === 'LATIN1' || squashed === 'ISO88591') return 'LATIN1';
  return squashed;
}

/** True when gate reads text under `clientEncoding` exactly as the server does. */
export function encodingSupported(clientEncoding: string): boolean {
  const c = canonical(clientEncoding);
  return c === 'LATIN1' || c in DECODERS;
}

/**
 * The query text as the server will lex it, from the client's bytes; undefined
 * when the encoding is unsupported or the bytes are not valid in it (the
 * server refuses invalid bytes too). A guarded target refuses on undefined.
 */
export function decodeClientSql(bytes: Buffer, clientEncoding: string): string | undefined {
  const c = canonical(clientEncoding);
  // TextDecoder's "latin1" is windows-1252; PostgreSQL's LATIN1 is true ISO-8859-1.
  if (c === 'LATIN1') return bytes.toString('latin1');
  if (c === 'WIN1252') return decodeWin1252(bytes);
  const label = DECODERS[c];
  if (!label) return undefined;
  try {
    const text = new TextDecoder(label, { fatal: true, ignoreBOM: true }).decode(bytes);
    // PostgreSQL never accepts NUL in query text; a decoder that produced one read something else.
    return text.includes('\u0000') ? undefined : text;
  } catch {
    return undefined;
  }
}

// Node 20's TextDecoder reads windows-1252 as ISO-8859-1; these are the 0x80–0x9F code points that differ.
const WIN1252_HIGH = '€\uFFFD‚ƒ„…†‡ˆ‰Š‹Œ\uFFFDŽ\uFFFD\uFFFD‘’“”•–—˜™š›œ\uFFFDžŸ';

function decodeWin1252(bytes: Buffer): string | undefined {
  let out = '';
  for (const b of bytes) {
    const ch = b >= 0x80 && b <= 0x9f ? WIN1252_HIGH[b - 0x80]! : String.fromCharCode(b);
    if (ch === '\uFFFD' || b === 0) return undefined;
    out += ch;
  }
  return out;
}

/** Why gate cannot read SQL under these options, or undefined when it can. */
export function readOptionsProblem(opts: SqlReadOptions): string | undefined {
  if (!opts.standardConformingStrings)
    return 'gate cannot read SQL with standard_conforming_strings = off (backslashes in string literals); keep it on for this target';
  if (!encodingSupported(opts.clientEncoding))
    return `gate cannot read SQL in client_encoding ${opts.clientEncoding}; use UTF8 (or another encoding listed in docs/postgres.md) for this target`;
  return undefined;
}

/** True when `analyzeQuery` reads text under `opts` exactly as PostgreSQL does. */
export function readOptionsSupported(opts: SqlReadOptions): boolean {
  return readOptionsProblem(opts) === undefined;
}

/**
 * Would a SET of `name` to `value` leave the session in a state gate reads?
 * The relay refuses the statement on a guarded target when this returns a reason.
 */
export function settingChangeProblem(name: string, value: string | undefined, current: SqlReadOptions): string | undefined {
  const n = name.toLowerCase();
  if (n === 'standard_conforming_strings') {
    if (value === undefined) return undefined; // RESET / DEFAULT: the server default is on since 9.1.
    const on = /^(on|true|yes|1|t|y)$/i.test(value.trim());
    return on ? undefined : readOptionsProblem({ ...current, standardConformingStrings: false });
  }
  if (n === 'client_encoding') {
    if (value === undefined) return undefined;
    return encodingSupported(value) ? undefined : readOptionsProblem({ ...current, clientEncoding: value });
  }
  if (n === '?') return 'gate cannot tell which setting set_config() changes here; name the setting as a literal';
  return undefined;
}
