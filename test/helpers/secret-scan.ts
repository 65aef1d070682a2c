import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * Every regular file under `dir`, subdirectories included. Throws when the
 * directory is missing, so a scan over it can never pass for want of files.
 */
export async function filesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesIn(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/**
 * The files under `dir` (relative paths) whose bytes contain any of `needles`.
 * Also returns how many files were read, so a caller can insist the scan saw
 * something.
 */
export async function findSecrets(dir: string, needles: string[]): Promise<{ hits: string[]; scanned: string[] }> {
  const scanned = await filesIn(dir);
  const hits: string[] = [];
  for (const file of scanned) {
    const bytes = await readFile(file).catch(() => Buffer.alloc(0));
    for (const needle of needles.filter(Boolean)) {
      if (bytes.includes(needle)) hits.push(`${relative(dir, file)} holds ${needle.slice(0, 6)}…`);
    }
  }
  return { hits, scanned: scanned.map((f) => relative(dir, f)) };
}
