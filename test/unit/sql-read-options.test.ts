import { beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeQuery,
  decodeClientSql,
  loadSqlParser,
  readOptionsSupported,
  settingChangeProblem,
} from '../../src/gateway/sql/index.js';

beforeAll(() => loadSqlParser());

describe('client_encoding: text is decoded the way the server converts it', () => {
  it('reads an SJIS character whose second byte is a backslash as one character', () => {
    // 表 is 0x95 0x5C in Shift-JIS: a byte-wise reader sees a backslash that escapes the quote after it.
    const bytes = Buffer.concat([Buffer.from("select E'"), Buffer.from([0x95, 0x5c]), Buffer.from("'; drop table t; -- '")]);
    const text = decodeClientSql(bytes, 'SJIS');
    expect(text).toBe("select E'表'; drop table t; -- '");
    const a = analyzeQuery(text!, { clientEncoding: 'SJIS' });
    expect(a.ok && a.statements.map((s) => s.tag)).toEqual(['SELECT', 'DROP TABLE']);
    // Read as UTF-8 (the old relay did), the bytes are not even valid text.
    expect(decodeClientSql(bytes, 'UTF8')).toBeUndefined();
  });

  it('accepts PostgreSQL’s spellings of encoding names', () => {
    for (const name of ['UTF8', 'utf-8', 'Unicode', 'SJIS', 'shift_jis', 'EUC_JP', 'euc-kr', 'GBK', 'BIG5', 'WIN1252', 'LATIN1', 'latin9', 'KOI8R'])
      expect(decodeClientSql(Buffer.from('select 1'), name), name).toBe('select 1');
  });

  it('reads LATIN1 as ISO-8859-1, not windows-1252', () => {
    expect(decodeClientSql(Buffer.from([0x80]), 'LATIN1')).toBe('\u0080');
    expect(decodeClientSql(Buffer.from([0x80]), 'WIN1252')).toBe('€');
  });

  it('refuses invalid bytes and unsupported encodings (undefined: the relay refuses on a guarded target)', () => {
    expect(decodeClientSql(Buffer.from([0x95]), 'SJIS')).toBeUndefined();
    expect(decodeClientSql(Buffer.from([0xc3, 0x28]), 'UTF8')).toBeUndefined();
    expect(decodeClientSql(Buffer.from('select 1'), 'MULE_INTERNAL')).toBeUndefined();
    expect(decodeClientSql(Buffer.from('select 1'), 'EUC_TW')).toBeUndefined();
  });
});

describe('standard_conforming_strings', () => {
  it('is supported only on: with it off the server reads backslashes that libpg-query does not', () => {
    expect(readOptionsSupported({ standardConformingStrings: true, clientEncoding: 'UTF8' })).toBe(true);
    expect(readOptionsSupported({ standardConformingStrings: false, clientEncoding: 'UTF8' })).toBe(false);
  });

  it('names the setting when a change would leave gate unable to read the session', () => {
    const current = { standardConformingStrings: true, clientEncoding: 'UTF8' };
    expect(settingChangeProblem('standard_conforming_strings', 'off', current)).toMatch(/standard_conforming_strings = off/);
    expect(settingChangeProblem('standard_conforming_strings', 'false', current)).toMatch(/standard_conforming_strings/);
    expect(settingChangeProblem('standard_conforming_strings', 'on', current)).toBeUndefined();
    expect(settingChangeProblem('standard_conforming_strings', undefined, current)).toBeUndefined();
    expect(settingChangeProblem('client_encoding', 'MULE_INTERNAL', current)).toMatch(/client_encoding MULE_INTERNAL/);
    expect(settingChangeProblem('client_encoding', 'SJIS', current)).toBeUndefined();
    expect(settingChangeProblem('?', 'off', current)).toMatch(/set_config/);
    expect(settingChangeProblem('work_mem', '1MB', current)).toBeUndefined();
  });
});
