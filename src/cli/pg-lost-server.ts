import type { Socket } from 'node:net';
import { pgError } from './pg-goodbye.js';

/** The tail of the server stream kept to see whether the gateway's last word was a FATAL. */
const TAIL_BYTES = 1024;
const FATAL = Buffer.from('SFATAL\0', 'latin1');

/**
 * When the gate server side of a PostgreSQL tunnel goes away mid-session (a
 * replica killed, a link cut) the client would only see "server closed the
 * connection unexpectedly". This tells it, in its own protocol, what
 * happened and that a new connection goes through the server URL again (a
 * load balancer sends it to a live replica). A close the gateway announced
 * (its own FATAL) or the client asked for (it ended first) is left alone.
 * Must be called before the relay starts, so it speaks before the relay ends the client.
 */
export function tellPgOfLostServer(local: Socket, remote: Socket, server: string): void {
  let tail = Buffer.alloc(0);
  let localEnded = false;
  let told = false;
  const onData = (chunk: Buffer) => {
    tail = Buffer.concat([tail, chunk]);
    if (tail.length > TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
  };
  const tell = (why: string) => {
    if (told || localEnded || local.destroyed || !local.writable || tail.includes(FATAL)) return;
    told = true;
    local.write(
      pgError(
        'FATAL',
        '08006',
        `gate: the connection to the gate server was lost (${why}); the session ended`,
        `Connect again: a new connection goes through ${server} (a load balancer sends it to a live replica).`,
      ),
    );
  };
  remote.on('data', onData);
  local.once('end', () => {
    localEnded = true;
  });
  remote.once('end', () => tell('the server closed the tunnel'));
  remote.once('error', (err: NodeJS.ErrnoException) => tell(err.code ?? 'network error'));
}
