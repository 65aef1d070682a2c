/**
 * A bare PostgreSQL frontend over one socket, for tests that need what the
 * `pg` client hides: several extended-protocol messages on the wire before a
 * Sync (real pipelining), and a client that stops reading on purpose.
 */
import { connect, type Socket } from 'node:net';

export interface BackendMessage {
  type: string;
  body: Buffer;
}

function frame(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');

export function startupMessage(params: Record<string, string>): Buffer {
  const parts = Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]);
  const body = Buffer.concat([Buffer.from([0, 3, 0, 0]), ...parts, Buffer.from([0])]);
  const len = Buffer.alloc(4);
  len.writeInt32BE(body.length + 4);
  return Buffer.concat([len, body]);
}

export const queryMessage = (sql: string) => frame('Q', cstr(sql));

/** Parse (unnamed) + Bind (no parameters, text results) + Execute for one statement, without Sync. */
export function extendedStatement(sql: string): Buffer {
  const parse = frame('P', Buffer.concat([cstr(''), cstr(sql), Buffer.from([0, 0])]));
  const bind = frame('B', Buffer.concat([cstr(''), cstr(''), Buffer.from([0, 0, 0, 0, 0, 0])]));
  const execute = frame('E', Buffer.concat([cstr(''), Buffer.from([0, 0, 0, 0])]));
  return Buffer.concat([parse, bind, execute]);
}

export const syncMessage = () => frame('S', Buffer.alloc(0));
export const terminateMessage = () => frame('X', Buffer.alloc(0));

/**
 * Splits a byte stream into backend messages as they arrive; `onMessage`
 * sees each one once. Keeps at most one partial message buffered.
 */
export function messageSplitter(onMessage: (m: BackendMessage) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (buf.length - at >= 5) {
      const len = buf.readInt32BE(at + 1);
      if (buf.length - at < len + 1) break;
      onMessage({ type: String.fromCharCode(buf[at]!), body: buf.subarray(at + 5, at + 1 + len) });
      at += len + 1;
    }
    buf = buf.subarray(at);
    pending = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
  };
}

export interface WireClient {
  socket: Socket;
  /** Resolves with every message up to and including the next ReadyForQuery. */
  untilReady(): Promise<BackendMessage[]>;
  /** Lets `onMessage` see every later message instead of untilReady (for streams too big to keep). */
  stream(onMessage: (m: BackendMessage) => void): void;
  close(): Promise<void>;
}

/** Connects, sends the startup message and waits for the first ReadyForQuery (no password: a local gate listener). */
export async function wireConnect(port: number, params: Record<string, string>): Promise<WireClient> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let sink: (m: BackendMessage) => void = () => {};
  let collected: BackendMessage[] = [];
  let waiter: ((ms: BackendMessage[]) => void) | undefined;
  const collect = (m: BackendMessage) => {
    collected.push(m);
    if (m.type === 'Z' && waiter) {
      const w = waiter;
      const got = collected;
      waiter = undefined;
      collected = [];
      w(got);
    }
  };
  sink = collect;
  socket.on('data', messageSplitter((m) => sink(m)));
  const client: WireClient = {
    socket,
    untilReady: () =>
      new Promise((resolve, reject) => {
        waiter = resolve;
        socket.once('close', () => reject(new Error(`connection closed; got ${collected.map((m) => m.type).join('')}`)));
      }),
    stream(onMessage) {
      sink = onMessage;
    },
    async close() {
      if (socket.destroyed) return;
      socket.end(terminateMessage());
      await new Promise((r) => socket.once('close', r));
    },
  };
  const ready = client.untilReady();
  socket.write(startupMessage(params));
  const first = await ready;
  const err = first.find((m) => m.type === 'E');
  if (err) throw new Error(`startup refused: ${err.body.toString('utf8')}`);
  return client;
}
