import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One `gate dev` per data dir: a lock file holding the running one's pid and
 * URL, so a second start can say which one runs (and where) instead of
 * failing later on a busy cluster. A lock whose pid is gone is stale.
 */
export interface DevLockInfo {
  pid: number;
  url?: string;
  started_at: string;
}

const LOCK = 'dev.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, just not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running `gate dev` of this data dir, if any. */
export async function runningDev(dataDir: string): Promise<DevLockInfo | undefined> {
  let info: DevLockInfo;
  try {
    info = JSON.parse(await readFile(join(dataDir, LOCK), 'utf8')) as DevLockInfo;
  } catch {
    return undefined;
  }
  return Number.isInteger(info.pid) && info.pid !== process.pid && alive(info.pid) ? info : undefined;
}

/** Takes the lock (the caller checked runningDev first); returns how to update and release it. */
export async function takeDevLock(dataDir: string): Promise<{ setUrl(url: string): Promise<void>; release(): Promise<void> }> {
  const path = join(dataDir, LOCK);
  const info: DevLockInfo = { pid: process.pid, started_at: new Date().toISOString() };
  const save = () => writeFile(path, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  await save();
  return {
    async setUrl(url) {
      info.url = url;
      await save();
    },
    async release() {
      await rm(path, { force: true });
    },
  };
}
