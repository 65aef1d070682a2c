#!/usr/bin/env node
/**
 * The smallest possible Node relay, a baseline for bench/pg.js: listens on
 * 127.0.0.1:<listen> and pipes each connection to 127.0.0.1:<target>, bytes
 * only. Two of them chained have the shape of gate's data path (the
 * `gate connect` relay, then the gateway), without any of its work.
 *
 *   node bench/node-pipe.js LISTEN_PORT TARGET_PORT
 */
import { connect, createServer } from 'node:net';

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
if (!listenPort || !targetPort) {
  console.error('usage: node bench/node-pipe.js LISTEN_PORT TARGET_PORT');
  process.exit(2);
}
createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: '127.0.0.1', port: targetPort, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
}).listen(listenPort, '127.0.0.1', () => console.log(`node-pipe listening on ${listenPort}`));
