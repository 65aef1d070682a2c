/**
 * The audit log's per-event encoding shortcuts (issue 18) write exactly what
 * the plain encoding would: canonical JSON through JSON.stringify when keys
 * are in order, the statement event built in that order, the cached ISO time.
 */
import { describe, expect, it } from 'vitest';
import { queryEvent } from '../../src/gateway/postgres/audit-record.js';
import { canonicalJson } from '../../src/server/audit/chain.js';
import { isoTime } from '../../src/server/audit/iso-time.js';

/** The canonical encoding spelled out the plain way: sorted keys at every depth, JSON.stringify's rules for the rest. */
function reference(value: unknown): string {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return 'null';
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return reference((value as { toJSON(): unknown }).toJSON());
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const parts: string[] = [];
  for (const k of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    parts.push(`${JSON.stringify(k)}:${reference(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** A small deterministic generator (mulberry32), so a failure names its seed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ['a', 'b', 'B', 'aa', 'a_b', 'statement', 'statement_bytes', '10', '9', '0', 'é', '\u{1F600}', '"q"', 'x\ny', ''];

function value(r: () => number, depth: number, sorted: boolean): unknown {
  const pick = Math.floor(r() * (depth > 3 ? 8 : 11));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return Math.floor(r() * 2000) - 1000;
    case 3:
      return [Number.NaN, -0, 1.5e300, Number.POSITIVE_INFINITY][Math.floor(r() * 4)];
    case 4:
      return ['', 'select "x"', 'é\u2028\u0000', '\ud800', 'tab\there'][Math.floor(r() * 5)];
    case 5:
      return undefined;
    case 6:
      return () => 1;
    case 7:
      return new Date(Math.floor(r() * 4e12));
    case 8:
    case 9: {
      const keys = KEYS.filter(() => r() < 0.35);
      if (sorted) keys.sort();
      else keys.sort(() => r() - 0.5);
      const out: Record<string, unknown> = {};
      for (const k of keys) out[k] = value(r, depth + 1, sorted);
      return out;
    }
    default:
      return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1, sorted));
  }
}

describe('canonical JSON', () => {
  it('writes the reference encoding for values in any key order and in sorted order (20,000 generated)', () => {
    for (let seed = 1; seed <= 10_000; seed++) {
      for (const sorted of [false, true]) {
        const v = value(rng(seed), 0, sorted);
        const got = canonicalJson(v);
        if (got !== reference(v)) throw new Error(`seed ${seed} (${sorted ? 'sorted' : 'shuffled'}): ${got} != ${reference(v)}`);
      }
    }
  });

  it('a nested object out of order or a date below an ordered one still comes out sorted', () => {
    expect(canonicalJson({ a: { y: 1, x: 2 }, b: 1 })).toBe('{"a":{"x":2,"y":1},"b":1}');
    expect(canonicalJson({ a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}]}');
    expect(canonicalJson({ at: new Date(0), b: { toJSON: () => ({ z: 1, y: 2 }) } })).toBe('{"at":"1970-01-01T00:00:00.000Z","b":{"y":2,"z":1}}');
    expect(canonicalJson({ 9: 'nine', 10: 'ten' })).toBe('{"10":"ten","9":"nine"}');
  });

  it('encodes an object by its own keys whatever its prototype lists', () => {
    const own = (proto: object, fields: Record<string, unknown>) => Object.assign(Object.create(proto), fields);
    for (const v of [own({ z: 1 }, { a: 1, b: 2 }), own({ a: 1 }, { c: 3, b: 2 }), own({ m: 1 }, { b: { z: own({ a: 0 }, { y: 1 }) } }), Object.assign(Object.create(null), { b: 1, a: 2 })]) {
      expect(canonicalJson(v)).toBe(reference(v));
    }
  });
});

describe('the statement event', () => {
  const full = {
    text: 'SELECT email FROM users WHERE id = 1',
    protocol: 'extended' as const,
    prepared: true,
    statements: [
      { tag: 'SELECT', tables: ['users', 'users'], fingerprint: 'f1', filtered: true },
      { tag: 'UPDATE', tables: ['orders'], fingerprint: 'f2', opaque: 'function' },
    ],
    decision: 'approved as a_1',
    masked: ['email'],
    rows: 3,
    tag: 'SELECT 3',
    error: { sqlstate: '42501', message: 'permission denied' },
  };

  it('builds its details in sorted key order at every depth, so they encode in one JSON.stringify', () => {
    for (const r of [full, { text: 'select 1', protocol: 'simple' as const }, { ...full, statements: [full.statements[0]!] }]) {
      const { details } = queryEvent(r, 1024);
      expect(JSON.stringify(details)).toBe(canonicalJson(details));
    }
  });

  it('keeps every field of the statement', () => {
    const event = queryEvent(full, 1024);
    expect(event).toMatchObject({ action: 'pg.query', result: 'error' });
    expect(event.details).toEqual({
      command: 'SELECT; UPDATE',
      decision: 'approved as a_1',
      error: { message: 'permission denied', sqlstate: '42501' },
      fingerprint: 'f1,f2',
      masked_columns: ['email'],
      prepared: true,
      protocol: 'extended',
      rows: 3,
      statement: full.text,
      statement_bytes: full.text.length,
      statement_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      statements: [
        { filtered: true, fingerprint: 'f1', tables: ['users', 'users'], tag: 'SELECT' },
        { fingerprint: 'f2', opaque: 'function', tables: ['orders'], tag: 'UPDATE' },
      ],
      tables: ['users', 'orders'],
      tag: 'SELECT 3',
    });
    expect(queryEvent({ text: 'x'.repeat(300), protocol: 'simple' }, 256).details).toMatchObject({
      statement: 'x'.repeat(256),
      statement_bytes: 300,
      statement_truncated: true,
    });
  });
});

describe('isoTime', () => {
  it('equals toISOString for times in one second, across seconds, before 1970 and past 9999', () => {
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, -1, -999, -1000, -1001, 1_796_324_431_500, 1_796_324_431_501, 1_796_324_432_007];
    times.push(253_402_300_799_999, 253_402_300_800_000, -62_198_755_200_000, 8.64e15);
    const r = rng(7);
    let t = 1_796_324_431_000;
    for (let i = 0; i < 5000; i++) {
      t += Math.floor(r() * 1500);
      times.push(t);
    }
    for (const ms of times) expect(isoTime(new Date(ms))).toBe(new Date(ms).toISOString());
  });

  it('throws for an invalid date, as toISOString does', () => {
    expect(() => isoTime(new Date(Number.NaN))).toThrow(RangeError);
  });
});
