/**
 * A real full disk for tests: a small tmpfs mounted over a directory (root
 * only, as in CI), optionally owned by the `postgres` user so an embedded
 * PostgreSQL can keep a tablespace on it.
 */
import { execFileSync, execSync } from 'node:child_process';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';

export interface SmallVolume {
  dir: string;
  /** Writes a filler file until about `leave` bytes are free (tmpfs counts in pages). */
  fill(leave: number): Promise<void>;
  /** Removes the filler: the space is back. */
  release(): Promise<void>;
  unmount(): void;
}

export async function mountSmallVolume(dir: string, size: string, options: { ownedByPostgres?: boolean } = {}): Promise<SmallVolume> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`this test needs a real full disk: mount -t tmpfs on ${dir} failed (run as root): ${(err as Error).message}`);
  }
  // As root, embedded PostgreSQL runs as `postgres`, which must own its tablespace's directory.
  if (options.ownedByPostgres && userInfo().uid === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
    await chown(dir, id('-u'), id('-g'));
  }
  const filler = join(dir, 'filler');
  let mounted = true;
  return {
    dir,
    async fill(leave) {
      await writeFile(filler, Buffer.alloc(0));
      const free = Number(execSync(`df -B1 --output=avail ${dir} | tail -1`).toString().trim());
      await writeFile(filler, Buffer.alloc(Math.max(0, free - leave), 0x61));
    },
    release: () => rm(filler, { force: true }),
    unmount() {
      if (!mounted) return;
      mounted = false;
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    },
  };
}
