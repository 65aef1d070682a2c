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

interface Reply {
  bytes: Buffer;
  /** True when the gateway closed the connection; false when only the test's 5 s guard did. */
  closedByServer: boolean;
}

/** Sends bytes and half-closes, then collects the reply until the server closes. */
function exchange(port: number, parts: Buffer[], halfClose = true): Promise<Reply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let guard = false;
    const s: Socket = connect(port, '127.0.0.1', () => {
      for (const p of parts) s.write(p);
      // Half-close: the handler must notice the end of input mid-message too.
      if (halfClose) s.end();
    });
    const timer = setTimeout(() => {
      guard = true;
      s.destroy();
    }, 5_000);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(chunks), closedByServer: !guard });
    });
  });
}

/** Splits a reply into backend messages (type, body); throws on a frame that does not parse. */
function backendMessages(bytes: Buffer): { type: string; body: Buffer }[] {
  const out: { type: string; body: Buffer }[] = [];
  let at = 0;
  // An SSL/GSS refusal is a single byte, never sent here: everything is framed.
  while (at < bytes.length) {
    if (bytes.length - at < 5) throw new Error(`a truncated frame at byte ${at}`);
    const type = String.fromCharCode(bytes[at]!);
    const len = bytes.readInt32BE(at + 1);
    if (len < 4 || at + 1 + len > bytes.length) throw new Error(`a bad frame length ${len} at byte ${at}`);
    out.push({ type, body: bytes.subarray(at + 5, at + 1 + len) });
    at += 1 + len;
  }
  return out;
}

/**
 * What each hostile connection must get: closed by the gateway (not left
 * hanging), whole backend frames only, and, when it answered at all and
 * the client did not simply stop mid-message, an ErrorResponse with a SQLSTATE as the
 * last word.
 */
function expectProtocolEnd(reply: Reply, what: string): { sqlstate?: string } {
  expect(reply.closedByServer, `${what}: the gateway left the connection open`).toBe(true);
  const msgs = backendMessages(reply.bytes);
  const last = msgs.at(-1);
  if (last?.type !== 'E') return {};
  const fields = last.body.toString('latin1').split('\0');
  const sqlstate = fields.find((f) => f.startsWith('C'))?.slice(1);
  expect(sqlstate, `${what}: an ErrorResponse without a SQLSTATE`).toMatch(/^[0-9A-Z]{5}$/);
  expect(fields.find((f) => f.startsWith('M')), `${what}: an ErrorResponse without a message`).toBeTruthy();
  return { sqlstate };
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
      // The client stops (half-close) mid-garbage: the gateway must end the connection, in whole frames.
      expectProtocolEnd(await exchange(h.port, parts), `random case ${i}`);
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
      expectProtocolEnd(await exchange(h.port, parts), `mutated case ${i} (mode ${mode})`);
    }
    await h.settled();
    await stillWorks();
  });

  it('every complete but invalid frame, before or after startup, gets an ErrorResponse with a SQLSTATE and is closed', async () => {
    const frame = (type: string, len: number, body = Buffer.alloc(0)) => {
      const b = Buffer.alloc(5);
      b.write(type, 0, 'latin1');
      b.writeInt32BE(len, 1);
      return Buffer.concat([b, body]);
    };
    const len4 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      return b;
    };
    const version = (major: number, minor: number) => Buffer.concat([len4(8), Buffer.from([0, major, 0, minor])]);
    // Not half-closed: the gateway has the whole bad frame and must answer it, not wait for more.
    const cases: [string, Buffer[]][] = [
      ['startup length 3', [len4(3)]],
      ['startup length 2 GB', [len4(0x7fffffff), Buffer.alloc(16)]],
      ['startup protocol 9.9', [version(9, 9)]],
      ['message length 2', [startup(), frame('Q', 2)]],
      ['message length -1', [startup(), frame('Q', -1)]],
      ['unknown message type', [startup(), frame('!', 8, Buffer.from('abcd'))]],
    ];
    for (const [what, parts] of cases) {
      const { sqlstate } = expectProtocolEnd(await exchange(h.port, parts, false), what);
      expect(sqlstate, `${what}: no ErrorResponse`).toMatch(/^(08P01|0A000)$/);
    }
    await h.settled();
    await stillWorks();
  });

  it('answers an oversized message with 54000 naming the limit, audits it, and keeps the session', async () => {
    // What a client claiming a 200 MB Query would get: an error at once, not a closed socket.
    const header = Buffer.alloc(5);
    header.write('Q', 0, 'latin1');
    header.writeInt32BE(200 * 1024 * 1024, 1);
    // Not half-closed: the gateway itself must end these connections.
    const reply = await exchange(h.port, [startup(), header], false);
    // Over the limit is not a protocol error: the session stays (so only the test's guard closes it).
    const text = reply.bytes.toString('latin1');
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
    expect(expectProtocolEnd(await exchange(h.port, [startup(), tiny], false), 'length 2').sqlstate).toBe('08P01');
    const badStartup = Buffer.from([0, 0, 0, 3]);
    expect(expectProtocolEnd(await exchange(h.port, [badStartup], false), 'startup length 3').sqlstate).toBe('08P01');
    await h.settled();
    await stillWorks();
  });
});
