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
