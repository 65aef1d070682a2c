import type { Duplex } from 'node:stream';

export interface RelayStats {
  /** Bytes the local side sent. */
  bytesOut: number;
  /** Bytes the local side received. */
  bytesIn: number;
}

/** How long one side may linger after the other closed before it is cut. */
const LINGER_MS = 5_000;

/**
 * Pipes two streams into each other and resolves once both have closed.
 * An end on one side is passed on as an end (so a client's Terminate or a
 * server's goodbye still arrives); an error on either destroys both.
 */
export function relay(local: Duplex, remote: Duplex): Promise<RelayStats> {
  const stats: RelayStats = { bytesIn: 0, bytesOut: 0 };
  return new Promise((resolve) => {
    let closed = 0;
    let linger: NodeJS.Timeout | undefined;
    const onClose = (other: Duplex) => () => {
      closed += 1;
      if (closed === 2) {
        clearTimeout(linger);
        resolve(stats);
        return;
      }
      other.end();
      // Its pipe target is gone, which paused it: a paused socket holds no
      // libuv reference, so with nothing else pending the process would exit
      // (code 13) before the peer's close ever arrived. Keep reading to EOF.
      other.resume();
      linger = setTimeout(() => other.destroy(), LINGER_MS);
      linger.unref();
    };
    const fail = () => {
      local.destroy();
      remote.destroy();
    };
    local.on('data', (c: Buffer) => {
      stats.bytesOut += c.length;
    });
    remote.on('data', (c: Buffer) => {
      stats.bytesIn += c.length;
    });
    local.pipe(remote);
    remote.pipe(local);
    local.on('error', fail);
    remote.on('error', fail);
    local.once('close', onClose(remote));
    remote.once('close', onClose(local));
  });
}
