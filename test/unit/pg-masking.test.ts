import { describe, expect, it } from 'vitest';
import {
  createMasker,
  describeRow,
  isCardNumber,
  maskDataRow,
  maskText,
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
    expect(maskText(masker, 'order 1234567890123')).toBeUndefined();
  });

  it('rewrites a named column to text and masks its values; leaves other values alone', () => {
    const { fields, rewritten } = describeRow(masker, rowDescription([{ name: 'id', type: 23 }, { name: 'ssn', type: 1043 }]));
    expect(rewritten).toBeDefined();
    expect(rewritten!.readInt32BE(2 + 3 + 18 + 4 + 6)).toBe(25);
    const body = maskDataRow(masker, fields, dataRow([Buffer.from('1'), Buffer.from('123-45-6789')]));
    expect(readRow(body!)).toEqual(['1', '****']);
    expect(maskDataRow(masker, fields, dataRow([Buffer.from('2'), null]))).toBeUndefined();
  });

  it('nulls a binary int8 holding a card number, keeps other integers', () => {
    const { fields } = describeRow(masker, rowDescription([{ name: 'n', type: 20, format: 1 }]));
    const big = Buffer.alloc(8);
    big.writeBigInt64BE(4111111111111111n);
    expect(readRow(maskDataRow(masker, fields, dataRow([big]))!)).toEqual([null]);
    const small = Buffer.alloc(8);
    small.writeBigInt64BE(42n);
    expect(maskDataRow(masker, fields, dataRow([small]))).toBeUndefined();
  });

  it('masks every value when no row description is known and columns are configured', () => {
    expect(readRow(maskDataRow(masker, undefined, dataRow([Buffer.from('x')]))!)).toEqual([null]);
  });
});
