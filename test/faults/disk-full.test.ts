/**
 * The store's disk fills under recorded `gate psql` sessions: the recordings'
 * table lives in a tablespace on a real 1 MiB tmpfs, filled to the last byte.
 * Chunks are refused with 507 storage_full, the sessions run on and each says
 * so once, their recordings wait in the CLI's spool, and once space is back
 * they go up whole and verify. Statements are still audited.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mountSmallVolume, type SmallVolume } from '../helpers/tmpfs.js';
import { type PsqlSession, psqlSession } from './harness/clients.js';
import { recordFigures } from './harness/figures.js';
import { expectRecordingsComplete } from './harness/recordings.js';
import { type Fleet, startReadFleet } from './harness/fleet.js';
import { until } from './harness/wait.js';

const SESSIONS = 3;
let fleet: Fleet;
let root: string;
let volume: SmallVolume | undefined;
const sql = (text: string) => fleet.store.query(text, [], 'gate_fleet');

beforeAll(async () => {
  fleet = await startReadFleet({ recordOutput: true });
  root = await mkdtemp(join(tmpdir(), 'gate-faults-full-'));
  // The store runs as `postgres` when we are root: it must reach and own its tablespace.
  await chmod(root, 0o755);
  volume = await mountSmallVolume(join(root, 'volume'), '1m', { ownedByPostgres: true });
  await fleet.store.query(`CREATE TABLESPACE small_volume LOCATION '${volume.dir}'`);
  await sql('ALTER TABLE recording_chunks SET TABLESPACE small_volume');
});

afterAll(async () => {
  await fleet?.close();
  volume?.unmount();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Fills the volume with a table of incompressible rows until PostgreSQL says 53100 disk_full. */
async function fillVolume(): Promise<void> {
  await sql('CREATE TABLE filler (b bytea) TABLESPACE small_volume');
  await sql('ALTER TABLE filler ALTER COLUMN b SET STORAGE EXTERNAL');
  for (let i = 0; i < 200; i++) {
    const full = await sql(`INSERT INTO filler VALUES ('\\x${randomBytes(16 * 1024).toString('hex')}')`).then(
      () => false,
      (err: { code?: string }) => err.code === '53100',
    );
    if (full) return;
  }
  throw new Error('the 1 MiB volume never filled');
}

it(`the store's disk full under ${SESSIONS} recorded gate psql sessions: chunks refused, sessions unharmed, recordings complete once space is back`, async () => {
  await fillVolume();
  const token = await fleet.token('alice', ['engineering']);
  const env = await fleet.cliEnv(token);
  const sessions: PsqlSession[] = Array.from({ length: SESSIONS }, (_, i) => psqlSession(env, `f${i}`, 'db', 'read', 100));
  try {
    await until('every session is told once that the server’s disk is full', () =>
      sessions.every((s) => s.stderr().includes("the gate server's disk is full")), 30_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}: answers ${sessions.map((s) => s.acked.length)}; gate psql said: ${sessions.map((s) => s.stderr()).join(' | ')}`);
  }
  const answeredBefore = sessions.map((s) => s.acked.length);
  await until('the sessions keep answering while full', () => sessions.every((s, i) => s.acked.length >= answeredBefore[i]! + 5));

  const freedAt = performance.now();
  await sql('DROP TABLE filler');
  await Promise.all(sessions.map((s) => s.stop()));
  const codes = await Promise.all(sessions.map((s) => s.exited));
  // The tool's exit code is the user's, full disk or not; the message came once per session.
  expect(codes).toEqual(sessions.map(() => 0));
  for (const s of sessions) expect(s.stderr().split("the gate server's disk is full").length - 1).toBe(1);

  // Whatever did not go up at the end waits in the spool; the next gate command sends it.
  const complete = await expectRecordingsComplete(sessions);
  const uploadedMs = Math.round(performance.now() - freedAt);
  // And every statement answered is audited (the audit table is not on the full volume).
  const rows = await sql(`SELECT details FROM audit_events WHERE action = 'pg.query'`) as { details: string }[];
  const audited = new Set(rows.flatMap((r) => r.details.match(/f\d+-\d+/g) ?? []));
  const answered = sessions.flatMap((s) => s.acked);
  const missing = answered.filter((m) => !audited.has(m));
  expect(missing).toEqual([]);
  await recordFigures('store_disk_full', {
    recorded_sessions: SESSIONS,
    statements_answered: answered.length,
    events_lost: missing.length,
    sessions_exit_code: 0,
    recordings_complete_after_space_back: complete,
    upload_done_ms_after_space_back: uploadedMs,
  });
});
