import type { Duplex } from 'node:stream';

export interface RelayStats {
  /** Bytes the local side sent. */
  bytesOut: number;
  /** Bytes the local side received. */
  bytesIn: number;
}

export interface RelayOptions {
  /**
   * Asked when the remote side ends or fails while the local one is still
   * open: bytes to send the local client before its end (why its connection
   * is going), or undefined to end it as the remote did. `cause` is the
   * remote's error when it failed (a LinkLostError from the heartbeat, a reset).
   */
  lastWords?(cause?: Error): string | Buffer | undefined;
}

/** How long one side may linger after the other closed before it is cut. */
const LINGER_MS = 5_000;

/**
 * Pipes two streams into each other and resolves once both have closed.
 * An end on one side is passed on as an end (so a client's Terminate or a
 * server's goodbye still arrives); an error on either destroys both.
 */
export function relay(local: Duplex, remote: Duplex, options: RelayOptions = {}): Promise<RelayStats> {
  const stats: RelayStats = { bytesIn: 0, bytesOut: 0 };
  let localClosed = false;
  /** The remote side went first (ended or failed): let the local client hear why, then end it. */
  const remoteGone = (failed: boolean, cause?: Error) => {
    if (localClosed || local.writableEnded) return false;
    const words = options.lastWords?.(cause);
    if (words === undefined) return false;
    remote.unpipe(local);
    if (failed) remote.destroy();
    local.end(words);
    return true;
  };
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
      // Usually ended already (the pipe passed the end on): end() again would only build an error to drop.
      if (!other.writableEnded && !other.destroyed) other.end();
      // Its pipe target is gone, which paused it: a paused socket holds no
      // libuv reference, so with nothing else pending the process would exit
      // (code 13) before the peer's close ever arrived. Keep reading to EOF.
      other.resume();
      linger = setTimeout(() => other.destroy(), LINGER_MS);
      linger.unref();
    };
    const fail = (side: Duplex) => (err?: Error) => {
      if (side === remote && remoteGone(true, err)) return;
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
    remote.pipe(local, { end: false });
    // Ended by hand (not by pipe) so that last words, when there are any, go out before the end.
    remote.once('end', () => {
      if (!remoteGone(false) && !local.writableEnded && !local.destroyed) local.end();
    });
    local.on('error', fail(local));
    remote.on('error', fail(remote));
    local.once('close', () => {
      localClosed = true;
    });
    local.once('close', onClose(remote));
    remote.once('close', onClose(local));
  });
}
