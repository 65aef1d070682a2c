/**
 * The tunnel protocol itself (issue 19): the gate-tunnel/2 frame codec,
 * the negotiation of /2 with a fallback to /1 both ways (a new CLI and an
 * old server, an old CLI and a new server), and the heartbeat: a peer that
 * goes silent ends the tunnel with the reason, on either side. Real
 * sockets, the real tunnel endpoint and tcp handler, and an echo upstream;
 * the endpoint's policy side (token, grant, audit) is a small table here.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { TargetConfig } from '../../src/config/schema.js';
import type { GatewayAuditEvent } from '../../src/gateway/types.js';
import { createLogger } from '../../src/server/log.js';
import { attachTunnelEndpoint } from '../../src/server/tunnel-endpoint.js';
import { dialTunnel, dialTunnelStream } from '../../src/tunnel/dialer.js';
import { FramedStream } from '../../src/tunnel/framed-stream.js';
import { COPY_MAX_BYTES, encodeData, FrameDecoder, FrameType, frameHeader } from '../../src/tunnel/frames.js';
import { heartbeatFrom, isLinkLost, type HeartbeatSettings } from '../../src/tunnel/heartbeat.js';

let echo: Server;
let echoPort: number;
const upstream = new Set<Socket>();
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  echo = createServer((s) => {
    upstream.add(s);
    s.on('close', () => upstream.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as { port: number }).port;
});

afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

afterAll(async () => {
  for (const s of upstream) s.destroy();
  await new Promise((r) => echo.close(r));
});

async function listen(server: HttpServer): Promise<string> {
  // Upgraded sockets are no longer the server's: close() would wait for them, so they are cut here.
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A new gate server's tunnel endpoint (heartbeat as given) in front of the echo service; audit events collected. */
async function newServer(heartbeat: HeartbeatSettings | undefined) {
  const server = createHttpServer();
  const audit: GatewayAuditEvent[] = [];
  const target = { type: 'tcp', address: `127.0.0.1:${echoPort}` } as TargetConfig;
  const registry = attachTunnelEndpoint(server, {
    log: createLogger({ level: 'silent' }),
    env: {},
    targets: { echo: target },
    authenticate: async (h) => {
      if (h !== 'Bearer t0k') throw new Error('bad token');
      return { sub: 'alice', key: 'alice', groups: [], correlationId: undefined } as never;
    },
    activeGrant: async (id) => ({ id, target: 'echo', role: 'default', user: 'alice', expiresAt: new Date(Date.now() + 600_000) }),
    onGrantEnded: () => () => {},
    audit: (_c, _g, _m, e) => audit.push(e),
    requestApproval: async () => ({ status: 'denied', id: 'x' }),
    session: async () => undefined,
    limits: { perGrant: 10, perTarget: 10, idleMs: 600_000, startupMs: 600_000 },
    heartbeat,
  });
  const url = await listen(server);
  closers.unshift(async () => registry.closeAll());
  return { url, audit };
}

const dialOptions = (server: string) => ({ server, token: 't0k', grantId: 'g1', timeoutMs: 5_000 });

/** Writes `text` and resolves with as many bytes coming back. */
function roundTrip(stream: Duplex, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (c: Buffer) => {
      got += c.toString();
      if (got.length >= text.length) {
        stream.off('data', onData);
        resolve(got);
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
    stream.write(text);
  });
}

/** Sends a raw Upgrade request and resolves with the response head and the socket. */
function rawUpgrade(url: string, upgrade: string): Promise<{ head: string; socket: Socket; rest: Buffer }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = netConnect(Number(port), '127.0.0.1');
    socket.on('error', reject);
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      resolve({ head: buf.subarray(0, end).toString(), socket, rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.write(
      `GET /v1/tunnel HTTP/1.1\r\nHost: gate\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\nAuthorization: Bearer t0k\r\nGate-Grant: g1\r\n\r\n`,
    );
  });
}

const until = async (what: string, cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('frame codec', () => {
  test('data and control frames survive any split or merge of the byte stream, data uncopied when whole', () => {
    const payloads = [Buffer.from('hello'), Buffer.alloc(70_000, 7), Buffer.from('x'), Buffer.from('end of it')];
    const wire = Buffer.concat([
      encodeData(payloads[0]!),
      frameHeader(FrameType.ping),
      encodeData(payloads[1]!),
      frameHeader(FrameType.pong),
      // An unknown frame type with a payload is skipped whole.
      Buffer.concat([frameHeader(9 as FrameType, 3), Buffer.from('???')]),
      encodeData(payloads[2]!),
      encodeData(payloads[3]!),
      frameHeader(FrameType.end),
    ]);
    const expected = Buffer.concat(payloads);
    for (const size of [1, 2, 3, 4, 5, 6, 7, 1000, 65_536, wire.length]) {
      const data: Buffer[] = [];
      const controls: number[] = [];
      const decoder = new FrameDecoder({ data: (b) => data.push(b), control: (t) => controls.push(t) });
      for (let i = 0; i < wire.length; i += size) decoder.feed(wire.subarray(i, i + size));
      expect(Buffer.concat(data).equals(expected), `chunks of ${size}`).toBe(true);
      expect(controls, `chunks of ${size}`).toEqual([FrameType.ping, FrameType.pong, FrameType.end]);
    }
    // One whole frame's payload in one chunk is handed on as a slice of that chunk, not a copy.
    const chunk = encodeData(Buffer.from('zero-copy'));
    let slice: Buffer | undefined;
    new FrameDecoder({ data: (b) => (slice = b), control: () => {} }).feed(chunk);
    expect(slice?.buffer).toBe(chunk.buffer);
  });

  test('a framed stream carries every write byte for byte at every size around the copy limit, a small write or corked batch as one socket write', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    const raw = netConnect((server.address() as { port: number }).port, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    const sender = new FramedStream(raw, { peer: 'test' });
    const receiver = new FramedStream(await accepted, { peer: 'test' });
    const got: Buffer[] = [];
    receiver.on('data', (b: Buffer) => got.push(b));
    const writes: number[] = [];
    const rawWrite = raw.write.bind(raw) as (chunk: Buffer) => boolean;
    (raw as { write: unknown }).write = (chunk: Buffer) => {
      writes.push(chunk.length);
      return rawWrite(chunk);
    };
    const sent: Buffer[] = [];
    // Each piece its own fill byte, so a piece out of order or cut short shows.
    const piece = (n: number) => Buffer.alloc(n, (sent.length * 37) % 251);
    for (const n of [1, 5, COPY_MAX_BYTES - 1, COPY_MAX_BYTES, COPY_MAX_BYTES + 1, 70_000]) {
      writes.length = 0;
      const p = piece(n);
      sent.push(p);
      await new Promise<void>((r) => sender.write(p, () => r()));
      // Small: header and bytes in one buffer, one write; large: header, then the chunk itself.
      expect(writes, `a write of ${n}`).toEqual(n <= COPY_MAX_BYTES ? [n + 5] : [5, n]);
    }
    for (const sizes of [[3, 4, 5], [COPY_MAX_BYTES - 10, 10], [COPY_MAX_BYTES, 1]]) {
      writes.length = 0;
      sender.cork();
      const done = sizes.map((n) => {
        const p = piece(n);
        sent.push(p);
        return new Promise<void>((r) => sender.write(p, () => r()));
      });
      sender.uncork();
      await Promise.all(done);
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(writes, `a corked batch of ${sizes.join('+')}`).toEqual(total <= COPY_MAX_BYTES ? [total + 5] : sizes.flatMap((n) => [5, n]));
    }
    const expected = Buffer.concat(sent);
    await until('every byte arrived', () => got.reduce((a, b) => a + b.length, 0) >= expected.length);
    expect(Buffer.concat(got).equals(expected)).toBe(true);
    sender.destroy();
    receiver.destroy();
    await new Promise((r) => server.close(r));
  });

  test('heartbeat settings: defaults, 0 turns it off, a bad value names the variable', () => {
    expect(heartbeatFrom(undefined, undefined)).toEqual({ intervalMs: 5_000, timeoutMs: 15_000 });
    expect(heartbeatFrom('500ms', '2s')).toEqual({ intervalMs: 500, timeoutMs: 2_000 });
    expect(heartbeatFrom('0', undefined)).toBeUndefined();
    expect(() => heartbeatFrom('soon', undefined)).toThrow(/GATE_TUNNEL_PING_INTERVAL/);
    expect(() => heartbeatFrom('5s', '5s')).toThrow(/GATE_TUNNEL_PING_TIMEOUT .* must be longer/);
  });
});

describe('negotiation', () => {
  test('a new CLI and a new server speak gate-tunnel/2: bytes framed both ways', async () => {
    const { url, audit } = await newServer({ intervalMs: 200, timeoutMs: 1_000 });
    const stream = await dialTunnelStream({ ...dialOptions(url), heartbeat: { intervalMs: 200, timeoutMs: 1_000 } });
    expect(stream).toBeInstanceOf(FramedStream);
    expect(await roundTrip(stream, 'ping-pong-through')).toBe('ping-pong-through');
    // Pings flow for a while without cutting anything or leaking into the data.
    await new Promise((r) => setTimeout(r, 700));
    expect(await roundTrip(stream, 'still here')).toBe('still here');
    stream.end();
    await until('tunnel.close', () => audit.some((e) => e.action === 'tunnel.close'));
    expect(audit.find((e) => e.action === 'tunnel.close')?.details.reason).toBe('closed');
  });

  test('an old CLI (gate-tunnel/1 only) against a new server keeps the unframed protocol', async () => {
    const { url } = await newServer({ intervalMs: 200, timeoutMs: 1_000 });
    const { head, socket } = await rawUpgrade(url, 'gate-tunnel/1');
    expect(head).toMatch(/^HTTP\/1\.1 101/);
    expect(head).toMatch(/\r\nUpgrade: gate-tunnel\/1\r\n/i);
    socket.resume();
    // Raw bytes echo back as they are: no frame header in either direction, and no ping arrives.
    expect(await roundTrip(socket, 'plain bytes')).toBe('plain bytes');
    await new Promise((r) => setTimeout(r, 500));
    const extra: Buffer[] = [];
    socket.on('data', (c) => extra.push(c));
    await new Promise((r) => setTimeout(r, 300));
    expect(Buffer.concat(extra).length).toBe(0);
    socket.destroy();
    // The dialer of this release, asked for /1 only, gets a plain socket too.
    const plain = await dialTunnel(dialOptions(url));
    expect(plain).not.toBeInstanceOf(FramedStream);
    expect(await roundTrip(plain, 'v1 dialer')).toBe('v1 dialer');
    plain.destroy();
  });

  test('a server with the heartbeat off answers an offer of /2 with /1', async () => {
    const { url } = await newServer(undefined);
    const { head, socket } = await rawUpgrade(url, 'gate-tunnel/2, gate-tunnel/1');
    expect(head).toMatch(/\r\nUpgrade: gate-tunnel\/1\r\n/i);
    socket.destroy();
    const stream = await dialTunnelStream({ ...dialOptions(url), heartbeat: { intervalMs: 200, timeoutMs: 1_000 } });
    expect(stream).not.toBeInstanceOf(FramedStream);
    expect(await roundTrip(stream, 'unframed')).toBe('unframed');
    stream.destroy();
  });

  test('a new CLI against an old server (which refuses an offer of /2) falls back to /1', async () => {
    // The refusal of gate releases before gate-tunnel/2: an exact match on /1, anything else a 404.
    const offers: string[] = [];
    const server = createHttpServer();
    server.on('upgrade', (req, socket: Socket, head: Buffer) => {
      offers.push(String(req.headers.upgrade));
      if ((req.headers.upgrade ?? '').toLowerCase() !== 'gate-tunnel/1') {
        const body = JSON.stringify({ error: { code: 'not_found', message: `No upgrade endpoint /v1/tunnel for protocol ${req.headers.upgrade}.` } });
        socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: gate-tunnel/1\r\nConnection: Upgrade\r\n\r\n');
      if (head.length) socket.unshift(head);
      socket.pipe(socket);
    });
    const url = await listen(server);
    const stream = await dialTunnelStream({ ...dialOptions(url), heartbeat: { intervalMs: 200, timeoutMs: 1_000 } });
    expect(stream).not.toBeInstanceOf(FramedStream);
    expect(await roundTrip(stream, 'old server')).toBe('old server');
    stream.destroy();
    expect(offers).toEqual(['gate-tunnel/2, gate-tunnel/1', 'gate-tunnel/1']);
    // The next tunnel to that server asks for /1 at once.
    const again = await dialTunnelStream({ ...dialOptions(url), heartbeat: { intervalMs: 200, timeoutMs: 1_000 } });
    again.destroy();
    expect(offers.slice(2)).toEqual(['gate-tunnel/1']);
  });
});

describe('heartbeat', () => {
  test('a server that goes silent: the CLI side ends with "lost the gate server: no answer for …"', async () => {
    // Answers /2, then neither reads nor writes: a black hole after the handshake.
    const held: Socket[] = [];
    const server = createHttpServer();
    server.on('upgrade', (_req, socket: Socket) => {
      held.push(socket);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: gate-tunnel/2\r\nConnection: Upgrade\r\n\r\n');
      socket.pause();
    });
    const url = await listen(server);
    const started = Date.now();
    const stream = await dialTunnelStream({ ...dialOptions(url), heartbeat: { intervalMs: 200, timeoutMs: 800 } });
    expect(stream).toBeInstanceOf(FramedStream);
    const err = await new Promise<Error>((resolve) => {
      stream.on('error', resolve);
      stream.resume();
    });
    const tookMs = Date.now() - started;
    expect(isLinkLost(err)).toBe(true);
    expect(err.message).toBe('lost the gate server: no answer for 0.8 s');
    expect((err as { hint?: string }).hint).toMatch(/connect again/);
    expect(tookMs).toBeGreaterThanOrEqual(800);
    expect(tookMs).toBeLessThan(800 + 200 + 1_500);
    expect(stream.destroyed).toBe(true);
  });

  test('a client that goes silent: the server ends the upstream connection and audits tunnel.close with link_lost', async () => {
    const { url, audit } = await newServer({ intervalMs: 200, timeoutMs: 800 });
    const { head, socket, rest } = await rawUpgrade(url, 'gate-tunnel/2, gate-tunnel/1');
    expect(head).toMatch(/\r\nUpgrade: gate-tunnel\/2\r\n/i);
    // One data frame, so the upstream connection is open, then silence: pings unanswered.
    const pings: number[] = [];
    const decoder = new FrameDecoder({ data: () => {}, control: (t) => pings.push(t) });
    decoder.feed(rest);
    socket.on('data', (c: Buffer) => decoder.feed(c));
    socket.resume();
    socket.write(encodeData(Buffer.from('hello')));
    await until('the upstream connection', () => upstream.size > 0);
    const started = Date.now();
    await until('tunnel.close', () => audit.some((e) => e.action === 'tunnel.close'), 5_000);
    const close = audit.find((e) => e.action === 'tunnel.close')!;
    expect(close.details.reason).toBe('link_lost');
    expect(Date.now() - started).toBeLessThan(800 + 200 + 1_500);
    expect(pings.filter((t) => t === FrameType.ping).length).toBeGreaterThanOrEqual(2);
    await until('the upstream connection is ended', () => upstream.size === 0, 3_000);
    socket.destroy();
  });

  test('answered pings keep an idle tunnel open well past the timeout', async () => {
    const { url, audit } = await newServer({ intervalMs: 100, timeoutMs: 400 });
    const stream = await dialTunnelStream({ ...dialOptions(url), heartbeat: { intervalMs: 100, timeoutMs: 400 } });
    const errors: Error[] = [];
    stream.on('error', (e) => errors.push(e));
    stream.resume();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(errors).toEqual([]);
    expect(audit.some((e) => e.action === 'tunnel.close')).toBe(false);
    expect(await roundTrip(stream, 'after idling')).toBe('after idling');
    stream.destroy();
  });
});
