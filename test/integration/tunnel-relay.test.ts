/**
 * The CLI's relay between a local client and a framed tunnel (issue 18's
 * back-pressure promise, for whoever next makes this path cheaper): every
 * byte in order, the end frame after the last of them, and a tunnel that
 * stops reading stalls the client while gate holds a bounded amount. Real
 * loopback sockets on both sides.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FramedStream } from '../../src/tunnel/framed-stream.js';
import { FrameDecoder, FrameType } from '../../src/tunnel/frames.js';
import { relay } from '../../src/tunnel/relay.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** Two ends of one loopback TCP connection. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const dialled = netConnect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise((r) => dialled.once('connect', r));
  const pair: [Socket, Socket] = [dialled, await accepted];
  sockets.push(...pair);
  return pair;
}

const until = async (what: string, cond: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** A counting byte pattern: any byte lost, doubled or reordered changes what follows it. */
const pattern = (offset: number, length: number) => {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
  return b;
};

describe('relay from a local client into a framed tunnel', () => {
  it('stalls a client whose tunnel stops reading, holding a bounded amount, then delivers every byte in order and the end after them', async () => {
    const [client, local] = await socketPair();
    const [tunnelSide, peer] = await socketPair();
    const framed = new FramedStream(tunnelSide, { peer: 'gate server' });
    const done = relay(local, framed);

    // The peer (the gate server) does not read at first.
    peer.pause();
    const total = 48 * 1024 * 1024;
    const chunk = 64 * 1024;
    let written = 0;
    let clientBlocked = false;
    const writeMore = () => {
      while (written < total) {
        const ok = client.write(pattern(written, chunk));
        written += chunk;
        if (!ok) {
          clientBlocked = true;
          client.once('drain', writeMore);
          return;
        }
      }
      client.end();
    };
    writeMore();

    await until('the client is held back', () => clientBlocked);
    await new Promise((r) => setTimeout(r, 300));
    // What gate itself holds while the peer reads nothing: the local socket's read buffer and the tunnel socket's send queue.
    const held = local.readableLength + tunnelSide.writableLength + framed.writableLength;
    expect(held).toBeLessThan(4 * 1024 * 1024);
    expect(written).toBeLessThan(total);

    // The peer reads: every byte arrives, in order, as data frames, and then the end frame.
    let received = 0;
    let mismatch = -1;
    let endAfter = -1;
    const decoder = new FrameDecoder({
      data: (slice) => {
        if (mismatch < 0 && !slice.equals(pattern(received, slice.length))) mismatch = received;
        received += slice.length;
      },
      control: (type) => {
        if (type === FrameType.end) endAfter = received;
      },
    });
    peer.on('data', (c: Buffer) => decoder.feed(c));
    peer.resume();
    await until('the end frame arrives', () => endAfter >= 0);
    expect(mismatch).toBe(-1);
    expect(received).toBe(total);
    expect(endAfter).toBe(total);

    peer.end();
    const stats = await done;
    expect(stats.bytesOut).toBe(total);
  }, 60_000);
});
