import { TextDecoder } from 'node:util';
/**
 * Statement bytes become text the way the server reads them: in the session's
 * `client_encoding`. PostgreSQL converts to the server encoding before it
 * lexes, so a multi-byte character whose second byte is `\` or `'` (SJIS,
 * BIG5, GBK) is one character, never a quote or an escape. An encoding gate
 * cannot decode exactly returns undefined (the relay refuses on guarded targets).
 */
const LABELS: Record<string, string> = {
  UTF8: 'utf-8',
  UNICODE: 'utf-8',
  SQL_ASCII: 'latin1',
  LATIN1: 'latin1',
  SJIS: 'shift_jis',
  SHIFT_JIS_2004: 'shift_jis',
  EUC_JP: 'euc-jp',
  EUC_KR: 'euc-kr',
  BIG5: 'big5',
  GBK: 'gbk',
  GB18030: 'gb18030',
  WIN1252: 'windows-1252',
  WIN1251: 'windows-1251',
  KOI8R: 'koi8-r',
};

const decoders = new Map<string, InstanceType<typeof TextDecoder>>();

/** Decodes statement bytes in `encoding` (PostgreSQL's name); undefined when gate cannot. */
export function decodeClientText(bytes: Buffer, encoding: string): string | undefined {
  const key = encoding.toUpperCase().replace(/[-_]/g, (c) => (c === '-' ? '_' : c));
  if (key === 'UTF8' || key === 'UNICODE') {
    // Invalid UTF-8 is refused by the server anyway; reading it as UTF-8 is safe.
    return bytes.toString('utf8');
  }
  const label = LABELS[key];
  if (!label) return undefined;
  // SQL_ASCII: the server does no conversion and lexes bytes; ASCII-compatible either way.
  if (label === 'latin1') return bytes.toString('latin1');
  let d = decoders.get(label);
  if (!d) {
    try {
      d = new TextDecoder(label, { fatal: true });
    } catch {
      return undefined;
    }
    decoders.set(label, d);
  }
  try {
    return d.decode(bytes);
  } catch {
    return undefined;
  }
}
