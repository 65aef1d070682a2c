/**
 * Issue 19: the audit spool (the gateway's fallback while the store cannot
 * take events) on a real, small tmpfs that fills up mid-batch.
 */
import { execFileSync, execSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAuditSpool, type UnchainedRow } from '../../src/server/audit/spool.js';

let work: string;
let dataDir: string;
let spoolDir: string;
let filler: string;
let mounted = false;

const row = (id: string): UnchainedRow => ({
  id,
  time: new Date().toISOString(),
  actor: 'alice',
  actor_kind: 'user',
  action: 'pg.query',
  target: 'db',
  role: 'read',
  grant_id: 'gr_1',
  session_id: null,
  correlation_id: null,
  ip: '127.0.0.1',
  result: 'ok',
  details: JSON.stringify({ statement: `SELECT ${'x'.repeat(150)} FROM t WHERE id = '${id}'` }),
});
const rows = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => row(`${prefix}-${i}`));

/** Every row replay hands to the store, in order. */
async function replayed(spool: ReturnType<typeof createAuditSpool>): Promise<string[]> {
  const ids: string[] = [];
  await spool.replay(async (batch) => void ids.push(...batch.map((r) => r.id)), () => false);
  return ids;
}

/** Fills the tmpfs with a filler file until about `leave` bytes are free. */
async function fill(leave: number): Promise<void> {
  await writeFile(filler, Buffer.alloc(0));
  const free = Number(execSync(`df -B1 --output=avail ${spoolDir} | tail -1`).toString().trim());
  await writeFile(filler, Buffer.alloc(Math.max(0, free - leave), 0x61));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'gate-audit-spool-full-'));
  dataDir = join(work, 'data');
  spoolDir = join(dataDir, 'audit-spool');
  filler = join(spoolDir, 'filler');
  await mkdir(spoolDir, { recursive: true, mode: 0o700 });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', spoolDir], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    throw new Error(`this test needs a real full disk: mount -t tmpfs on ${spoolDir} failed (run as root): ${(err as Error).message}`);
  }
});

afterAll(async () => {
  if (mounted) execFileSync('umount', [spoolDir]);
  await rm(work, { recursive: true, force: true });
});

it('a batch the full disk takes only part of is refused whole and leaves no torn line; later batches replay intact', async () => {
  const spool = createAuditSpool(dataDir);
  const events = join(spoolDir, 'events.jsonl');
  await spool.write(rows('a', 10));
  const sizeAfterA = (await stat(events)).size;

  // About one page left: the disk takes a few KiB of this 20 KiB batch, then says ENOSPC.
  await fill(4096);
  const refused = await spool.write(rows('b', 100)).then(
    () => undefined,
    (err: NodeJS.ErrnoException) => err,
  );
  expect(refused?.code).toBe('ENOSPC');
  // Nothing of the refused batch stays: the caller keeps it (in memory, failing closed) and writes it again later.
  expect((await stat(events)).size).toBe(sizeAfterA);
  expect((await readFile(events, 'utf8')).endsWith('\n')).toBe(true);

  await rm(filler);
  await spool.write(rows('b', 100));
  await spool.write(rows('c', 5));
  expect(await replayed(spool)).toEqual([...rows('a', 10), ...rows('b', 100), ...rows('c', 5)].map((r) => r.id));
  expect(await spool.hasBacklog()).toBe(false);
});

it('a line torn by a crash mid-write does not swallow the first event written after the restart', async () => {
  const events = join(spoolDir, 'events.jsonl');
  await createAuditSpool(dataDir).write(rows('d', 3));
  // The crash: half a line, never fsync'd, so never counted as kept.
  await appendFile(events, JSON.stringify(row('torn')).slice(0, 80));
  const restarted = createAuditSpool(dataDir);
  await restarted.write(rows('e', 3));
  expect(await replayed(restarted)).toEqual([...rows('d', 3), ...rows('e', 3)].map((r) => r.id));
});
