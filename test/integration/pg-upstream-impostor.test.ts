/**
 * Whoever answers on a target's address may not be the real PostgreSQL
 * (tls: disable or require verify nothing). Fake upstreams speaking the real
 * wire format try to get the role's password or a session without proving
 * they know it; gate must send nothing and tell the client why.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { PostgresTarget } from '../../src/config/schema.js';
import { handlePostgres } from '../../src/gateway/postgres/handler.js';
import { serveHandler } from '../helpers/postgres.js';

const PASSWORD = 'the-real-Role-password-9d3e';

type Script = (socket: Socket, next: () => Promise<Buffer>) => Promise<void>;

interface FakeUpstream {
  port: number;
  /** Everything gate sent, concatenated. */
  received(): Buffer;
  /** Frame types gate sent after the startup message. */
  frameTypes: string[];
  close(): Promise<void>;
}

function auth(code: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b[0] = 0x52; // 'R'
  b.writeInt32BE(8 + payload.length, 1);
  b.writeInt32BE(code, 5);
  payload.copy(b, 9);
  return b;
}
const readyForQuery = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
const backendKeyData = Buffer.from([0x4b, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2]);

/** A TCP server that reads the untyped startup message, then typed frames, and follows `script`. */
async function fakeUpstream(script: Script): Promise<FakeUpstream> {
  const chunks: Buffer[] = [];
  const frameTypes: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let buf = Buffer.alloc(0);
    let startupSeen = false;
    const waiting: ((b: Buffer) => void)[] = [];
    const frames: Buffer[] = [];
    const pump = () => {
      for (;;) {
        if (!startupSeen) {
          if (buf.length < 4) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          buf = buf.subarray(len);
          startupSeen = true;
          continue;
        }
        if (buf.length < 5) return;
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const frame = buf.subarray(0, 1 + len);
        buf = buf.subarray(1 + len);
        frameTypes.push(String.fromCharCode(frame[0]!));
        const w = waiting.shift();
        if (w) w(frame);
        else frames.push(frame);
      }
    };
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      buf = Buffer.concat([buf, d]);
      pump();
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    const next = () => new Promise<Buffer>((resolve) => (frames.length ? resolve(frames.shift()!) : waiting.push(resolve)));
    void script(socket, next).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => Buffer.concat(chunks),
    frameTypes,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function target(port: number, roleAuth?: PostgresTarget['roles'][string]['auth']): PostgresTarget {
  return {
    type: 'postgres',
    address: `127.0.0.1:${port}`,
    database: 'postgres',
    tls: { mode: 'disable' },
    roles: { read: { username: 'reader', password: 'env:PW', ...(roleAuth ? { auth: roleAuth } : {}) } },
    guardrails: [],
    masking: { columns: [], detectors: [] },
    record_input: false,
    recording: 'best-effort',
  };
}

let fake: FakeUpstream | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function connectThroughGate(t: PostgresTarget): Promise<pg.DatabaseError | 'connected'> {
  const h = await serveHandler(handlePostgres, { target: t, secrets: { 'env:PW': PASSWORD } });
  try {
    const c = new pg.Client({ host: '127.0.0.1', port: h.port, user: 'u', database: 'd' });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.end();
      return 'connected';
    } catch (err) {
      await h.settled();
      expect(JSON.stringify(h.audit)).not.toContain(PASSWORD);
      return err as pg.DatabaseError;
    }
  } finally {
    await h.close();
  }
}

/** Answers like a server that then accepts anything and says the session is ready. */
const acceptAnything = (socket: Socket) => socket.write(Buffer.concat([auth(0), backendKeyData, readyForQuery]));

describe('upstream impostors', () => {
  it('a server asking for a cleartext password gets no password, and the client is told why', async () => {
    fake = await fakeUpstream(async (socket, next) => {
      socket.write(auth(3));
      await next();
      acceptAnything(socket);
    });
    const err = await connectThroughGate(target(fake.port));
    expect(err).toBeInstanceOf(pg.DatabaseError);
    const e = err as pg.DatabaseError;
    expect(e.code).toBe('28000');
    expect(e.message).toMatch(/asked for a cleartext password, which role reader does not allow \(auth: \[scram-sha-256\]\); gate sent no password/);
    expect(fake.received().toString('latin1')).not.toContain(PASSWORD);
    expect(fake.frameTypes).not.toContain('p');
  });

  it('a server asking for md5 gets nothing either', async () => {
    fake = await fakeUpstream(async (socket, next) => {
      socket.write(auth(5, Buffer.from([1, 2, 3, 4])));
      await next();
      acceptAnything(socket);
    });
    const e = (await connectThroughGate(target(fake.port))) as pg.DatabaseError;
    expect(e.code).toBe('28000');
    expect(e.message).toMatch(/asked for an md5 password/);
    expect(fake.frameTypes).not.toContain('p');
  });

  it('a server that skips the SCRAM server signature (AuthenticationOk right after the proof) is refused', async () => {
    fake = await fakeUpstream(async (socket, next) => {
      socket.write(auth(10, Buffer.from('SCRAM-SHA-256\0\0', 'latin1')));
      const initial = await next();
      const clientNonce = /r=([^,\0]+)/.exec(initial.toString('latin1'))![1]!;
      const serverFirst = `r=${clientNonce}fakeServerNonce,s=${Buffer.from('saltsalt').toString('base64')},i=4096`;
      socket.write(auth(11, Buffer.from(serverFirst)));
      await next();
      acceptAnything(socket);
    });
    const e = (await connectThroughGate(target(fake.port))) as pg.DatabaseError;
    expect(e.code).toBe('28000');
    expect(e.message).toMatch(/skipped SCRAM-SHA-256 server authentication \(no server signature\)/);
  });

  it('a server that lets gate in without any authentication is refused', async () => {
    fake = await fakeUpstream(async (socket) => {
      acceptAnything(socket);
    });
    const e = (await connectThroughGate(target(fake.port))) as pg.DatabaseError;
    expect(e.code).toBe('28000');
    expect(e.message).toMatch(/let gate in without authentication/);
  });

  it('cleartext is answered only when the role allows it explicitly', async () => {
    fake = await fakeUpstream(async (socket, next) => {
      socket.write(auth(3));
      await next();
      acceptAnything(socket);
    });
    expect(await connectThroughGate(target(fake.port, ['scram-sha-256', 'password']))).toBe('connected');
    expect(fake.received().toString('latin1')).toContain(PASSWORD);
  });
});
