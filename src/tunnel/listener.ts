import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { createSecureContext, TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { GateError } from '../errors.js';
import { type PeerOwner, peerOwner } from './peer-uid.js';

export interface LocalListener {
  /** 127.0.0.1 for TCP, the socket directory for a Unix socket. */
  host: string;
  port: number;
  /** Full path of the Unix socket, when listening on one. */
  socketPath?: string;
  close(): Promise<void>;
}

export interface ListenOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. Ignored with socketDir. */
  port?: number;
  /**
   * Listen on a Unix socket instead, in a fresh 0700 directory (created under
   * this directory, or the OS temp dir when `true`).
   */
  socketDir?: string | true;
  /** File name of the socket; Postgres clients expect `.s.PGSQL.<port>`. */
  socketName?: string;
  /**
   * Drop TCP connections from another user of this machine (Linux, via
   * /proc/net/tcp), for clients gate cannot ask for a credential: also those
   * whose owner the table does not tell (see peer-uid.ts).
   */
  ownerOnly?: boolean;
  /** The socket tables `ownerOnly` reads (tests; the kernel's by default). */
  ownerTables?: readonly string[];
  /** Terminate TLS with this key and certificate; `onConnection` then gets the decrypted socket. */
  tls?: { key: string; cert: string };
  onConnection(socket: Socket): void;
  /** Told (with a sentence) when `ownerOnly` dropped a connection. */
  onRefused?(message: string): void;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * The CLI's local end of a tunnel. TCP listens on loopback only and drops any
 * connection that is not from loopback; a Unix socket sits in a directory only
 * the user can enter.
 */
export async function startLocalListener(options: ListenOptions): Promise<LocalListener> {
  const server = createServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
    if (!options.socketDir && !LOOPBACK.has(socket.remoteAddress ?? '')) {
      socket.destroy();
      return;
    }
    if (options.ownerOnly && !options.socketDir) {
      socket.pause();
      void peerOwner(socket, options.ownerTables).then((owner) => {
        const refused = ownerRefusal(owner, process.getuid?.());
        if (refused === undefined) return accept(socket);
        // A client that has already gone is not listed: nothing to tell anyone.
        if (!socket.destroyed) options.onRefused?.(refused);
        socket.destroy();
      });
      return;
    }
    accept(socket);
  });
  const accept = (socket: Socket) => {
    if (!options.tls) {
      options.onConnection(socket);
      return;
    }
    const secure = new TLSSocket(socket, { isServer: true, secureContext });
    secure.once('secure', () => options.onConnection(secure));
    // A failed handshake (a client that does not trust the pinned certificate) just ends here.
    secure.on('error', () => secure.destroy());
  };
  const secureContext = options.tls ? createSecureContext({ key: options.tls.key, cert: options.tls.cert }) : undefined;
  if (options.socketDir) {
    const base = options.socketDir === true ? tmpdir() : options.socketDir;
    const dir = await mkdtemp(join(base, 'gate-'));
    const name = options.socketName ?? 'gate.sock';
    const socketPath = join(dir, name);
    await listen(server, { path: socketPath });
    const port = Number(/\.s\.PGSQL\.(\d+)$/.exec(name)?.[1] ?? 0);
    return {
      host: dir,
      port,
      socketPath,
      close: async () => {
        await closeServer(server);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await listen(server, { host: '127.0.0.1', port: options.port ?? 0 });
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('listener has no TCP address');
  return { host: '127.0.0.1', port: addr.port, close: () => closeServer(server) };
}

/**
 * Why a TCP connection is refused by its owner, or undefined to accept it.
 * Where there is no socket table (not Linux) nobody can be told apart: the
 * connection is accepted, and `--socket` is the strict way (docs/security.md).
 */
export function ownerRefusal(owner: PeerOwner, uid: number | undefined): string | undefined {
  if ('noTables' in owner || uid === undefined) return undefined;
  if ('unlisted' in owner) {
    return "a connection whose owner is not in the kernel's socket table (/proc/net/tcp) was refused: gate could not tell it is yours (--socket gives a listener only you can reach)";
  }
  if (owner.uid !== uid) return `a connection from another local user (uid ${owner.uid}) was refused`;
  return undefined;
}

function listen(server: Server, at: { host?: string; port?: number; path?: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(new GateError('GATE_ERR_USAGE', `Port ${at.port} on 127.0.0.1 is already in use.`, { hint: 'Pick another --port, or omit it for a free one.' }));
      } else reject(err);
    });
    server.listen({ ...at, exclusive: true }, () => resolve());
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
