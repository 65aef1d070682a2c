/**
 * A small TCP load balancer for the fault suite, as a real one in front of
 * gate replicas: round robin over the backends that are up, skipping one
 * whose connect fails (its health check, in effect). The test can take a
 * backend out, cut every connection (RST, as a failed link or a balancer
 * restart does), or black-hole traffic (bytes are dropped, sockets stay
 * open, as when packets stop arriving).
 */
import { type AddressInfo, createServer, type Server, type Socket, connect as netConnect } from 'node:net';

export interface Backend {
  host: string;
  port: number;
}

export interface Balancer {
  url: string;
  port: number;
  /** Connections currently relayed, per backend index. */
  open(): number[];
  /** Total connections accepted per backend index since start. */
  accepted: number[];
  setBackend(index: number, backend: Backend): void;
  /** Marks a backend down (no new connections) or up again. */
  setUp(index: number, up: boolean): void;
  /** Resets every relayed connection (to `index` only, when given). */
  cut(index?: number): void;
  /** While on, every byte (and every FIN or RST) in either direction is dropped and no new connection gets through. */
  blackhole(on: boolean): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  backend: number;
}

export async function startBalancer(backends: Backend[]): Promise<Balancer> {
  const list = backends.map((b) => ({ ...b, up: true }));
  const pairs = new Set<Pair>();
  const accepted = list.map(() => 0);
  let next = 0;
  let holed = false;

  // Tries the backends in round-robin order, starting after the last one used; the first that accepts wins.
  const dial = (client: Socket, tried = 0): void => {
    const up = list.map((b, i) => ({ b, i })).filter((x) => x.b.up);
    if (tried >= up.length || up.length === 0) {
      client.destroy();
      return;
    }
    const pick = up[(next + tried) % up.length]!;
    const upstream = netConnect({ host: pick.b.host, port: pick.b.port });
    let connected = false;
    upstream.once('error', () => {
      if (!connected) dial(client, tried + 1);
    });
    upstream.once('connect', () => {
      connected = true;
      next = (next + tried + 1) % Math.max(1, up.length);
      accepted[pick.i]! += 1;
      const pair: Pair = { client, upstream, backend: pick.i };
      pairs.add(pair);
      const drop = () => {
        if (client.destroyed && upstream.destroyed) pairs.delete(pair);
      };
      client.on('close', drop);
      upstream.on('close', drop);
      // In a black hole a FIN or RST from one side does not arrive at the other either: it stays open.
      client.on('error', () => holed || upstream.destroy());
      upstream.on('error', () => holed || client.destroy());
      client.on('close', () => holed || upstream.destroy());
      upstream.on('close', () => holed || client.destroy());
      client.on('data', (c: Buffer) => {
        if (!holed && !upstream.write(c)) client.pause();
      });
      upstream.on('data', (c: Buffer) => {
        if (!holed && !client.write(c)) upstream.pause();
      });
      upstream.on('drain', () => client.resume());
      client.on('drain', () => upstream.resume());
      client.on('end', () => holed || upstream.end());
      upstream.on('end', () => holed || client.end());
      client.resume();
    });
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    client.on('error', () => {});
    if (holed) return; // a SYN that got through, then silence: the socket just sits there
    dial(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const held = new Set<Socket>();
  server.on('connection', (s) => {
    held.add(s);
    s.on('close', () => held.delete(s));
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    accepted,
    open: () => list.map((_, i) => [...pairs].filter((p) => p.backend === i).length),
    setBackend(index, backend) {
      list[index] = { ...backend, up: list[index]?.up ?? true };
    },
    setUp(index, up) {
      list[index]!.up = up;
    },
    cut(index) {
      for (const p of [...pairs]) {
        if (index !== undefined && p.backend !== index) continue;
        p.client.resetAndDestroy();
        p.upstream.resetAndDestroy();
      }
    },
    blackhole(on) {
      holed = on;
    },
    async close() {
      for (const s of held) s.destroy();
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
