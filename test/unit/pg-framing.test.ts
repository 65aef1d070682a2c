import { describe, expect, it } from 'vitest';
import { FrameReader, ProtocolError } from '../../src/gateway/postgres/framing.js';

function msg(type: string, body: string): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(4 + body.length, 1);
  b.write(body, 5, 'latin1');
  return b;
}

function drain(r: FrameReader): string[] {
  const out: string[] = [];
  while (r.next()) out.push(String.fromCharCode(r.type) + r.body().toString('latin1'));
  return out;
}

describe('FrameReader', () => {
  it('returns many messages from one chunk and a message split across many chunks', () => {
    const r = new FrameReader(1024);
    const all = Buffer.concat([msg('Q', 'one'), msg('Q', 'two'), msg('X', '')]);
    r.push(all.subarray(0, 3));
    expect(drain(r)).toEqual([]);
    r.push(all.subarray(3, 10));
    expect(drain(r)).toEqual(['Qone']);
    for (let i = 10; i < all.length; i++) r.push(all.subarray(i, i + 1));
    expect(drain(r)).toEqual(['Qtwo', 'X']);
  });

  it('rejects a length below 4 or above the cap', () => {
    const r = new FrameReader(100);
    r.push(Buffer.from([0x51, 0, 0, 0, 3]));
    expect(() => r.next()).toThrow(ProtocolError);
    const r2 = new FrameReader(100);
    r2.push(Buffer.from([0x51, 0, 0, 1, 0]));
    expect(() => r2.next()).toThrow(/invalid message length 256/);
  });

  it('hands out views of the received chunk when a message fits in it', () => {
    const r = new FrameReader(1024);
    const chunk = Buffer.concat([msg('D', 'abc'), msg('D', 'def')]);
    r.push(chunk);
    r.next();
    expect(r.buf).toBe(chunk);
    r.next();
    expect(r.start).toBe(8);
  });
});

describe('FrameReader on a long result', () => {
  it('returns every row of a stream cut at arbitrary places intact and in order', () => {
    const rows = Array.from({ length: 500 }, (_, i) => msg('d', `${i}:${'x'.repeat(i % 97)}`));
    const all = Buffer.concat(rows);
    const r = new FrameReader(1 << 20);
    const got: string[] = [];
    // Chunk sizes that cut headers and bodies everywhere.
    for (let at = 0, k = 0; at < all.length; k++) {
      const n = [1, 3, 7, 64, 333, 4096][k % 6]!;
      r.push(all.subarray(at, at + n));
      at += n;
      got.push(...drain(r));
    }
    expect(got).toEqual(rows.map((m) => `d${m.subarray(5).toString('latin1')}`));
    expect(r.pending).toBe(0);
  });

  it('copies only the row that spans two chunks: the rows after it are views of the chunk they came in', () => {
    const rows = Array.from({ length: 20 }, (_, i) => msg('d', `row-${i}-${'y'.repeat(40)}`));
    const all = Buffer.concat(rows);
    const cut = rows[0]!.length * 3 + 10; // inside the fourth row
    // Buffer.alloc: not from the shared pool, so `.buffer` tells the chunk apart from a copy.
    const first = Buffer.alloc(cut);
    all.copy(first, 0, 0, cut);
    const second = Buffer.alloc(all.length - cut);
    all.copy(second, 0, cut);
    const r = new FrameReader(1 << 20);
    r.push(first);
    expect(drain(r)).toHaveLength(3);
    r.push(second);
    expect(r.next()).toBe(true); // the fourth row: joined
    expect(r.next()).toBe(true); // the fifth: wholly inside `second`
    expect(r.buf.buffer).toBe(second.buffer);
    expect(r.frame().equals(rows[4]!)).toBe(true);
  });
});
