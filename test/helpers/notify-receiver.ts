/**
 * A real webhook receiver for notification tests: node:http on 127.0.0.1,
 * recording every request (headers and the raw body bytes as text) and
 * answering with the statuses queued in `answers` (then 200).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status this receiver answered with. */
  status: number;
}

export interface Receiver {
  port: number;
  /** http://127.0.0.1:<port> */
  base: string;
  received: Received[];
  /** Statuses for the next requests, in order; 200 once empty. */
  answers: number[];
  /** Resolves with the first request (already received or still to come) that matches. */
  waitFor(pred: (r: Received) => boolean): Promise<Received>;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const received: Received[] = [];
  const answers: number[] = [];
  const waiters: { pred: (r: Received) => boolean; resolve(r: Received): void }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = answers.shift() ?? 200;
      const r: Received = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status };
      received.push(r);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'receiver says no');
      for (const w of waiters.slice()) {
        if (w.pred(r)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(r);
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    base: `http://127.0.0.1:${actual}`,
    received,
    answers,
    waitFor(pred) {
      const found = received.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
