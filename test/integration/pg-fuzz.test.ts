/**
 * Garbage, truncated and oversized input never takes the gateway down: every
 * bad connection ends (with an ErrorResponse where the protocol allows one),
 * every handler call settles, and a valid client still works afterwards.
 */
import { connect, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handlePostgres } from '../../src/gateway/postgres/handler.js';
import { serveHandler, startPostgres, type HandlerHarness, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let h: HandlerHarness;

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function typed(type: string, body: Buffer): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
}

const cstr = (s: string) => Buffer.from(`${s}\0`);

function startup(): Buffer {
  const body = Buffer.concat([Buffer.from([0, 3, 0, 0]), cstr('user'), cstr('x'), cstr('database'), cstr('y'), Buffer.from([0])]);
  const len = Buffer.alloc(4);
  len.writeInt32BE(body.length + 4);
  return Buffer.concat([len, body]);
}

function validMessages(): Buffer[] {
  const int16 = (n: number) => {
    const b = Buffer.alloc(2);
    b.writeInt16BE(n);
    return b;
  };
  return [
    typed('Q', cstr('select 1')),
    typed('P', Buffer.concat([cstr('s1'), cstr('select $1::int'), int16(0)])),
    typed('B', Buffer.concat([cstr(''), cstr('s1'), int16(0), int16(1), Buffer.from([0, 0, 0, 1, 0x37]), int16(0)])),
    typed('D', Buffer.concat([Buffer.from('P'), cstr('')])),
    typed('E', Buffer.concat([cstr(''), Buffer.alloc(4)])),
    typed('S', Buffer.alloc(0)),
    typed('d', Buffer.from('row\n')),
    typed('C', Buffer.concat([Buffer.from('S'), cstr('s1')])),
  ];
}

/** Sends bytes and half-closes, then collects the reply until the server closes. */
function exchange(port: number, parts: Buffer[], halfClose = true): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s: Socket = connect(port, '127.0.0.1', () => {
      for (const p of parts) s.write(p);
      // Half-close: the handler must notice the end of input mid-message too.
      if (halfClose) s.end();
    });
    const timer = setTimeout(() => s.destroy(), 2_000);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

beforeAll(async () => {
  db = await startPostgres();
  h = await serveHandler(handlePostgres, {
    target: {
      type: 'postgres',
      address: `127.0.0.1:${db.port}`,
      database: 'postgres',
      tls: { mode: 'disable' },
      roles: { read: { username: 'postgres', password: 'env:PW' } },
      guardrails: [{ deny: '^drop' }],
      masking: { columns: ['secret'], detectors: ['email', 'credit_card'] },
      limits: { max_message_bytes: 1024 * 1024, max_statement_bytes: 512 * 1024 },
      record_input: false,
      recording: 'best-effort',
    },
    secrets: { 'env:PW': db.password },
  });
});

afterAll(async () => {
  await h?.close();
  await db?.stop();
});

async function stillWorks(): Promise<void> {
  const c = new pg.Client({ host: '127.0.0.1', port: h.port, user: 'u', database: 'd' });
  await c.connect();
  expect((await c.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
  await c.end();
}

describe('postgres handler: hostile input', () => {
  it('survives random bytes before and after startup', async () => {
    const rand = rng(1234);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    for (let i = 0; i < 60; i++) {
      const parts = i % 2 === 0 ? [bytes(Math.floor(rand() * 200))] : [startup(), bytes(1 + Math.floor(rand() * 200))];
      await exchange(h.port, parts);
    }
    await h.settled();
    await stillWorks();
  });

  it('survives mutated, truncated and split valid messages', async () => {
    const rand = rng(99);
    const msgs = validMessages();
    for (let i = 0; i < 80; i++) {
      const m = Buffer.from(msgs[Math.floor(rand() * msgs.length)]!);
      const mode = i % 4;
      let parts: Buffer[];
      if (mode === 0) {
        // Flip a few bytes anywhere (the length included).
        for (let k = 0; k < 3; k++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
        parts = [startup(), m];
      } else if (mode === 1) {
        // Body cut short while the length still claims the full size, then the next message.
        const cut = m.subarray(0, Math.max(1, Math.floor(rand() * m.length)));
        parts = [startup(), Buffer.concat([cut.subarray(0, 1), Buffer.from([0, 0, 0, 5]), cut.subarray(5)]), msgs[0]!];
      } else if (mode === 2) {
        // Valid, but delivered one byte per write.
        parts = [startup(), ...[...Buffer.concat([m, msgs[5]!])].map((b) => Buffer.from([b]))];
      } else {
        parts = [startup(), m.subarray(0, Math.floor(rand() * m.length))];
      }
      await exchange(h.port, parts);
    }
    await h.settled();
    await stillWorks();
  });

  it('answers an oversized message with 54000 naming the limit, audits it, and keeps the session', async () => {
    // What a client claiming a 200 MB Query would get: an error at once, not a closed socket.
    const header = Buffer.alloc(5);
    header.write('Q', 0, 'latin1');
    header.writeInt32BE(200 * 1024 * 1024, 1);
    const reply = await exchange(h.port, [startup(), header], false);
    const text = reply.toString('latin1');
    expect(text).toContain('C54000');
    expect(text).toContain('over the 1048576-byte limit on db-test');
    // A real client with a 2 MB bind parameter: refused, and the next query works on the same connection.
    const c = new pg.Client({ host: '127.0.0.1', port: h.port, user: 'x', database: 'y' });
    await c.connect();
    const err = await c.query('select length($1::text) as n', ['x'.repeat(2 * 1024 * 1024)]).catch((e: pg.DatabaseError) => e);
    expect((err as pg.DatabaseError).code).toBe('54000');
    expect((err as pg.DatabaseError).message).toMatch(/message of \d+ bytes is over the 1048576-byte limit on db-test/);
    expect((await c.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
    await c.end();
    await h.settled();
    const events = h.audit.filter((e) => e.action === 'pg.limit_exceeded');
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events[0]!.details).toMatchObject({ limit: 'max_message_bytes', max: 1048576 });
    const tiny = Buffer.from([0x51, 0, 0, 0, 2]);
    expect((await exchange(h.port, [startup(), tiny], false)).toString('latin1')).toContain('C08P01');
    const badStartup = Buffer.from([0, 0, 0, 3]);
    await exchange(h.port, [badStartup]);
    await h.settled();
    await stillWorks();
  });
});
