import { unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';

/**
 * One audit journal writer per data dir on this machine. A second server on
 * the same directory used to replay and delete, at its start, the segment
 * the first was still appending to (and later share its segment numbers), so
 * events the first journaled afterwards were in no file and a kill -9 would
 * have lost them.
 *
 * The lock is a Unix socket the journal's writer listens on: the kernel
 * closes it with the process however it ends, so a lock left behind by a
 * killed server is told apart by a refused connection (no pid to go stale or
 * be reused, in a container or not). A server that finds it held runs
 * without a journal (`busy`) and says so, rather than refusing to start: its
 * events still go to the store in batches of 10 ms, which a kill -9 of it can
 * lose. It cannot see a process on another machine sharing the directory over
 * the network; docs/deploy.md says a data dir is per replica.
 */
export interface DataDirLock {
  /** Another live server holds the data dir's journal: this one must not use it. */
  busy?: { path: string };
  /** Set when the directory could not be locked (why), and the journal is used without the check. */
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
    if (err.code !== 'EADDRINUSE') return none(`${path} could not be created (${err.code ?? err.message})`);
    // Also after taking over a stale one: a server that started at the same moment may have been quicker.
    if (await answers(path)) return { busy: { path }, release: async () => {} };
    if (attempt > 0) return none(`${path} is in use but nobody answers on it`);
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
