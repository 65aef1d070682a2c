import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * A lock file per server in the config dir, so only one process at a time
 * spends a refresh token. IdPs rotate refresh tokens and treat a second use
 * of a spent one as theft (oidc-provider revokes the whole grant): two gate
 * processes renewing at once would log the user out for good.
 *
 * The file is created with O_EXCL and holds `pid host time`. A lock is
 * stale, and taken over, when its process is gone (same host) or it is
 * older than STALE_MS (a renewal is a few HTTP calls; a crashed or frozen
 * holder must not block everyone).
 */
const STALE_MS = 30_000;
const POLL_MS = 50;

/** Where the renewal lock for `server` lives in `dir`. */
export function renewLockPath(dir: string, server: string): string {
  return join(dir, `renew-${createHash('sha256').update(server).digest('hex').slice(0, 16)}.lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock's content when it is stale (so the caller removes only that one), `''` when gone, else undefined. */
async function staleContent(path: string, now: number): Promise<string | undefined> {
  let text: string;
  let mtime: number;
  try {
    [text, mtime] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mtimeMs)]);
  } catch {
    // Released meanwhile: try to take it again.
    return '';
  }
  if (now - mtime > STALE_MS) return text;
  const [pid, host] = text.split(' ');
  if (host === hostname() && pid && /^\d+$/.test(pid) && !alive(Number(pid))) return text;
  // Held, or half-written by a holder that is starting: wait for it.
  return undefined;
}

async function removeIfUnchanged(path: string, judged: string): Promise<void> {
  if (judged === '') return;
  try {
    // A racing waiter may have taken over already: never remove a live holder's lock.
    if ((await readFile(path, 'utf8')) === judged) await rm(path, { force: true });
  } catch {}
}

/** Runs `fn` while holding the renewal lock for `server`; waits for another holder to finish first. */
export async function withRenewLock<T>(dir: string, server: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = renewLockPath(dir, server);
  for (;;) {
    signal?.throwIfAborted();
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(`${process.pid} ${hostname()} ${new Date().toISOString()}`);
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const stale = await staleContent(path, Date.now());
    if (stale !== undefined) {
      await removeIfUnchanged(path, stale);
      continue;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
