/**
 * Issue 19: the audit spool (the gateway's fallback while the store cannot
 * take events) on a real, small tmpfs that fills up mid-batch.
 */
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAuditSpool, type UnchainedRow } from '../../src/server/audit/spool.js';
import { mountSmallVolume, type SmallVolume } from '../helpers/tmpfs.js';

let work: string;
let dataDir: string;
let spoolDir: string;
let volume: SmallVolume | undefined;

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

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'gate-audit-spool-full-'));
  dataDir = join(work, 'data');
  spoolDir = join(dataDir, 'audit-spool');
  volume = await mountSmallVolume(spoolDir, '256k');
});

afterAll(async () => {
  volume?.unmount();
  await rm(work, { recursive: true, force: true });
});

it('a batch the full disk takes only part of is refused whole and leaves no torn line; later batches replay intact', async () => {
  const spool = createAuditSpool(dataDir);
  const events = join(spoolDir, 'events.jsonl');
  await spool.write(rows('a', 10));
  const sizeAfterA = (await stat(events)).size;

  // About one page left: the disk takes a few KiB of this 20 KiB batch, then says ENOSPC.
  await volume!.fill(4096);
  const refused = await spool.write(rows('b', 100)).then(
    () => undefined,
    (err: NodeJS.ErrnoException) => err,
  );
  expect(refused?.code).toBe('ENOSPC');
  // Nothing of the refused batch stays: the caller keeps it (in memory, failing closed) and writes it again later.
  expect((await stat(events)).size).toBe(sizeAfterA);
  expect((await readFile(events, 'utf8')).endsWith('\n')).toBe(true);

  await volume!.release();
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
