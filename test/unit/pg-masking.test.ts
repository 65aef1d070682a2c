import { describe, expect, it } from 'vitest';
import { maskCopyRow } from '../../src/gateway/postgres/copy-masking.js';
import {
  createMasker,
  isCardNumber,
  maskDataRow,
  maskText,
  maskValue,
  readFields,
  rewriteDescription,
} from '../../src/gateway/postgres/masking.js';

function rowDescription(fields: { name: string; type: number; format?: number }[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, fields.length])];
  for (const f of fields) {
    const meta = Buffer.alloc(18);
    meta.writeInt32BE(f.type, 6);
    meta.writeInt16BE(4, 10);
    meta.writeInt32BE(-1, 12);
    meta.writeInt16BE(f.format ?? 0, 16);
    parts.push(Buffer.from(`${f.name}\0`), meta);
  }
  return Buffer.concat(parts);
}

function dataRow(values: (Buffer | null)[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, values.length])];
  for (const v of values) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(v === null ? -1 : v.length);
    parts.push(len);
    if (v) parts.push(v);
  }
  return Buffer.concat(parts);
}

function readRow(body: Buffer): (string | null)[] {
  const out: (string | null)[] = [];
  let i = 2;
  for (let c = 0; c < body.readInt16BE(0); c++) {
    const len = body.readInt32BE(i);
    i += 4;
    out.push(len < 0 ? null : body.toString('utf8', i, i + len));
    if (len > 0) i += len;
  }
  return out;
}

describe('masking', () => {
  const masker = createMasker({ columns: ['SSN'], detectors: ['email', 'credit_card'] })!;

  it('is off when nothing is configured', () => {
    expect(createMasker({ columns: [], detectors: [] })).toBeUndefined();
  });

  it('recognises card numbers by length and Luhn', () => {
    expect(isCardNumber('4111111111111111')).toBe(true);
    expect(isCardNumber('4111111111111112')).toBe(false);
    expect(isCardNumber('411111111111')).toBe(false);
  });

  it('keeps the shape of detected values', () => {
    expect(maskText(masker, 'mail jane.doe@example.com now')).toBe('mail j***@example.com now');
    expect(maskText(masker, '4111-1111-1111-1111')).toBe('****-****-****-1111');
    expect(maskText(masker, 'card 4111 1111 1111 1111.')).toBe('card **** **** **** 1111.');
    expect(maskText(masker, 'order 1234567890123')).toBeUndefined();
  });

  it('needs a card shape: not inside md5 hex, UUIDs, identifiers, or mixed separators', () => {
    // 4111111111111111 is Luhn-valid: each of these holds it inside a longer token.
    expect(maskText(masker, 'a4111111111111111f')).toBeUndefined();
    expect(maskText(masker, 'd41d8cd98f004111111111111111e9800998ecf8427e')).toBeUndefined();
    expect(maskText(masker, '00000000-0000-0000-0000-000000000000')).toBeUndefined();
    expect(maskText(masker, 'user_4111111111111111')).toBeUndefined();
    expect(maskText(masker, 'x-4111111111111111-y')).toBeUndefined();
    expect(maskText(masker, '4111 1111-1111 1111')).toBeUndefined();
    expect(maskText(masker, '2026-12-02 01:23:45.123456+00')).toBeUndefined();
  });

  it('marks masked fields as text in the RowDescription and masks their values; leaves other values alone', () => {
    const desc = rowDescription([{ name: 'id', type: 23 }, { name: 'ssn', type: 1043 }]);
    const fields = readFields(desc);
    fields[1]!.masked = true;
    const rewritten = rewriteDescription(desc, fields);
    expect(rewritten!.readInt32BE(2 + 3 + 18 + 4 + 6)).toBe(25);
    const body = maskDataRow(masker, fields, dataRow([Buffer.from('1'), Buffer.from('123-45-6789')]));
    expect(readRow(body!)).toEqual(['1', '****']);
    expect(maskDataRow(masker, fields, dataRow([Buffer.from('2'), null]))).toBeUndefined();
  });

  it('never rewrites numbers, whatever their format: int8, numeric and their text form', () => {
    const binary = readFields(rowDescription([{ name: 'n', type: 20, format: 1 }]));
    const big = Buffer.alloc(8);
    big.writeBigInt64BE(4111111111111111n);
    expect(maskDataRow(masker, binary, dataRow([big]))).toBeUndefined();
    const text = readFields(rowDescription([{ name: 'n', type: 20 }, { name: 'm', type: 1700 }, { name: 'u', type: 2950 }]));
    expect(maskDataRow(masker, text, dataRow([Buffer.from('1764000000000'), Buffer.from('4111111111111111'), Buffer.from('00000000-0000-0000-0000-000000000000')]))).toBeUndefined();
  });

  it('masks text-like values in binary arrays and records, keeping the type', () => {
    // text[] in binary: ndim 1, no nulls, element oid 25, dim (2, lbound 1), two elements.
    const el = (s: string) => {
      const b = Buffer.alloc(4 + Buffer.byteLength(s));
      b.writeInt32BE(Buffer.byteLength(s));
      b.write(s, 4);
      return b;
    };
    const head = Buffer.alloc(20);
    head.writeInt32BE(1, 0);
    head.writeInt32BE(0, 4);
    head.writeInt32BE(25, 8);
    head.writeInt32BE(2, 12);
    head.writeInt32BE(1, 16);
    const arr = Buffer.concat([head, el('bob@example.com'), el('plain')]);
    const out = maskValue(masker, 1009, 1, arr)!;
    expect(out.subarray(0, 20)).toEqual(head);
    expect(out.toString('utf8', 24, 24 + out.readInt32BE(20))).toBe('b***@example.com');
    expect(out.toString('utf8').endsWith('plain')).toBe(true);
  });

  it('masks every value when no row description is known and columns are configured', () => {
    expect(readRow(maskDataRow(masker, undefined, dataRow([Buffer.from('x')]))!)).toEqual([null]);
  });

  it('masks COPY rows by position in text and csv, leaving numbers and NULLs', () => {
    const text = { csv: false, delimiter: '\t', positions: new Set([1]), detectors: masker };
    expect(maskCopyRow(text, '1\t123-45-6789\tjane@example.com\t4111111111111111\t\\N\n')).toBe('1\t****\tj***@example.com\t4111111111111111\t\\N\n');
    const csv = { csv: true, delimiter: ',', positions: new Set([1]), detectors: masker };
    expect(maskCopyRow(csv, '1,"a,b",x\n')).toBe('1,****,x\n');
    expect(maskCopyRow(csv, '2,,"mail jane@example.com, now"\n')).toBe('2,,"mail j***@example.com, now"\n');
  });
});
