import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * The CLI's own PostgreSQL words for a local client, so that however a
 * tunnel ends (Ctrl-C or SIGTERM of gate, the server gone, a token expired,
 * a refused grant) psql shows `FATAL: gate: …` instead of "server closed the
 * connection unexpectedly", and a statement still running upstream is
 * cancelled (through the gateway, with the client's own cancel key).
 */

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** An ErrorResponse: severity, SQLSTATE and message, as libpq prints them. */
export function pgError(severity: 'FATAL' | 'ERROR', code: string, message: string, hint?: string): Buffer {
  const fields = [`S${severity}`, `V${severity}`, `C${code}`, `M${message}`, ...(hint ? [`H${hint}`] : [])];
  const body = Buffer.concat([...fields.map((f) => Buffer.from(`${f}\0`, 'utf8')), Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write('E', 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export function cancelRequest(pid: number, key: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32BE(16, 0);
  b.writeInt32BE(CANCEL_REQUEST, 4);
  b.writeInt32BE(pid, 8);
  b.writeInt32BE(key, 12);
  return b;
}

export interface PgConnectionWatch {
  /** The cancel key the gateway gave this client (BackendKeyData), once seen. */
  readonly key: { pid: number; key: number } | undefined;
  /**
   * What to tell the client when the gateway's side went away first: a FATAL
   * naming the cause, unless the gateway already ended with an ErrorResponse
   * or the bytes so far stop inside a message (a FATAL there would be garbage).
   */
  lastWords(message: string, hint?: string): Buffer | undefined;
  /** Stops watching the streams (relay goes on). */
  stop(): void;
}

/**
 * Watches a relayed connection: for the BackendKeyData the gateway sends the
 * client after its startup (parsed), then only for message boundaries and
 * the type of the last message (a length skip per message, nothing copied).
 */
export function watchPgConnection(local: Socket, remote: Duplex): PgConnectionWatch {
  let key: { pid: number; key: number } | undefined;
  let startup = Buffer.alloc(0);
  /** Bytes of the server's one-byte answer to an SSL/GSSENC request still to skip. */
  let skip = 0;
  let fromServer = Buffer.alloc(0);
  let inStartup = true;
  /** After startup: bytes of the current message still to pass, a partial header, and the last type seen. */
  let bodyLeft = 0;
  let header: Buffer = Buffer.alloc(0);
  let lastType = '';
  let said = false;
  const onLocal = (chunk: Buffer) => {
    // Only the first packets matter: each SSL/GSSENC request gets a one-byte answer before any message.
    startup = Buffer.concat([startup, chunk]);
    while (startup.length >= 8) {
      const len = startup.readInt32BE(0);
      const code = startup.readInt32BE(4);
      if (len === 8 && (code === SSL_REQUEST || code === GSSENC_REQUEST)) {
        skip += 1;
        startup = startup.subarray(8);
        continue;
      }
      local.off('data', onLocal);
      return;
    }
  };
  const track = (chunk: Buffer) => {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (bodyLeft > 0) {
        const take = Math.min(bodyLeft, n - i);
        i += take;
        bodyLeft -= take;
        continue;
      }
      if (header.length === 0 && n - i >= 5) {
        // The usual case: the whole header is in this chunk; read it in place.
        lastType = String.fromCharCode(chunk[i]!);
        bodyLeft = chunk.readInt32BE(i + 1) - 4;
        i += 5;
        continue;
      }
      // A header split across chunks: keep its first bytes (at most four) until the rest comes.
      const part = chunk.subarray(i, i + 5 - header.length);
      header = Buffer.concat([header, part]);
      i += part.length;
      if (header.length < 5) return;
      lastType = String.fromCharCode(header[0]!);
      bodyLeft = header.readInt32BE(1) - 4;
      header = Buffer.alloc(0);
    }
  };
  const afterStartup = (rest: Buffer) => {
    inStartup = false;
    fromServer = Buffer.alloc(0);
    track(rest);
  };
  const onRemote = (chunk: Buffer) => {
    if (!inStartup) return track(chunk);
    fromServer = Buffer.concat([fromServer, chunk]);
    while (skip > 0 && fromServer.length > 0) {
      skip -= 1;
      fromServer = fromServer.subarray(1);
    }
    while (fromServer.length >= 5) {
      const type = String.fromCharCode(fromServer[0]!);
      const len = fromServer.readInt32BE(1);
      if (fromServer.length < len + 1) return;
      if (type === 'K' && len === 12) {
        key = { pid: fromServer.readInt32BE(5), key: fromServer.readInt32BE(9) };
        lastType = 'K';
        return afterStartup(fromServer.subarray(len + 1));
      }
      // After ReadyForQuery without a key there will be none.
      if (type === 'Z' || type === 'E') return afterStartup(fromServer);
      lastType = type;
      fromServer = fromServer.subarray(len + 1);
    }
  };
  const stop = () => {
    local.off('data', onLocal);
    remote.off('data', onRemote);
    fromServer = Buffer.alloc(0);
  };
  local.on('data', onLocal);
  remote.on('data', onRemote);
  return {
    get key() {
      return key;
    },
    lastWords(message, hint) {
      const atBoundary = bodyLeft === 0 && header.length === 0 && (!inStartup || fromServer.length === 0);
      if (said || !atBoundary || lastType === 'E') return undefined;
      said = true;
      return pgError('FATAL', '08006', message, hint);
    },
    stop,
  };
}

/**
 * Ends a client's connection with a FATAL it can show. A client still in its
 * startup (the tunnel could not be opened) gets its SSL request declined
 * first, then the error after its StartupMessage; a CancelRequest just ends.
 */
export function refuseStartup(local: Socket, code: string, message: string, hint?: string): Promise<void> {
  return new Promise((done) => {
    let buf = Buffer.alloc(0);
    const finish = (answer?: Buffer) => {
      local.off('data', onData);
      clearTimeout(timer);
      if (answer) local.end(answer);
      else local.end();
      const cut = setTimeout(() => local.destroy(), 2_000);
      local.once('close', () => {
        clearTimeout(cut);
        done();
      });
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 8) {
        const len = buf.readInt32BE(0);
        const reqCode = buf.readInt32BE(4);
        if (len === 8 && (reqCode === SSL_REQUEST || reqCode === GSSENC_REQUEST)) {
          local.write('N');
          buf = buf.subarray(8);
          continue;
        }
        if (reqCode === CANCEL_REQUEST) return finish();
        if (buf.length < len) return;
        return finish(pgError('FATAL', code, message, hint));
      }
    };
    // A client that never speaks still hears why, before the socket goes.
    const timer = setTimeout(() => finish(pgError('FATAL', code, message, hint)), 5_000);
    timer.unref();
    local.on('data', onData);
    local.on('error', () => {});
    local.resume();
  });
}

/** Says goodbye to a relayed client mid-session: a FATAL after whatever it already got, then the end. */
export function sayGoodbye(local: Socket, remote: Duplex, code: string, message: string): void {
  remote.unpipe(local);
  // Keep reading (and dropping) the gateway's side, so its end arrives and the relay can settle.
  remote.resume();
  if (!local.destroyed && local.writable) local.end(pgError('FATAL', code, message));
}
