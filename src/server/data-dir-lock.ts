import { unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { GateError } from '../errors.js';

/**
 * One gate server per data dir on this machine. Its audit journal has one
 * writer: a second process on the same directory would, at its start, replay
 * and delete the segment the first is still appending to (and later share its
 * segment numbers), so events the first journaled could be lost with it.
 *
 * The lock is a Unix socket the running server listens on: the kernel closes
 * it with the process however it ends, so a lock left behind by a killed
 * server is told apart by a refused connection (no pid to go stale or be
 * reused, in a container or not). It cannot see a process on another machine
 * sharing the directory over the network; docs/deploy.md says a data dir is
 * per replica.
 */
export interface DataDirLock {
  /** Set when the directory could not be locked (why), and the server runs without the check. */
  unlocked?: string;
  release(): Promise<void>;
}

const LOCK = 'server.lock';
/** sockaddr_un's path is 108 bytes on Linux, 104 on macOS, with its NUL. */
const MAX_SOCKET_PATH = 103;

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = join(dataDir, LOCK);
  const none = (unlocked: string): DataDirLock => ({ unlocked, release: async () => {} });
  if (process.platform === 'win32') return none('data-dir locks are not supported on Windows');
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return none(`the path ${path} is too long for a Unix socket`);
  for (let attempt = 0; ; attempt++) {
    const server = createServer((s) => s.destroy());
    const err = await listen(server, path);
    if (!err) {
      server.unref();
      return {
        release: () =>
          new Promise<void>((resolve) => {
            server.close(() => {
              unlink(path).then(resolve, resolve);
            });
          }),
      };
    }
    if (err.code !== 'EADDRINUSE' || attempt > 0) {
      return none(`${path} could not be created (${err.code ?? err.message})`);
    }
    if (await answers(path)) {
      throw new GateError('GATE_ERR_CONFLICT', `Another gate server is running on the data dir ${dataDir} (it holds ${path}).`, {
        hint: 'Stop it first, or give this one its own --data-dir: the audit journal in a data dir has one writer. Replicas each need their own (docs/deploy.md).',
        details: { data_dir: dataDir, lock: path },
      });
    }
    // Left by a server that is gone: nobody listens on it any more.
    await unlink(path).catch(() => {});
  }
}

function listen(server: Server, path: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    server.once('error', resolve);
    server.listen({ path, exclusive: true }, () => {
      server.off('error', resolve);
      resolve(undefined);
    });
  });
}

/** Whether a process listens on the socket at `path` (a refused or missing one: nobody does). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}
