/**
 * The notification outbox in both stores: rows survive a reopen, an event is
 * queued once per sink however often it is enqueued, and two replicas
 * claiming at once (two PostgreSQL stores on one database; FOR UPDATE SKIP
 * LOCKED) never take the same row, while a claim whose holder died lapses.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore } from '../../src/store/postgres/store.js';
import { createSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store, StoredNotification } from '../../src/store/store.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let pg: TestPostgres;
const opened: Store[] = [];
const dirs: string[] = [];
let dbs = 0;

beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  for (const s of opened) await s.close().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  await pg?.stop();
});

/** Opens stores on one place: each call is another replica (PostgreSQL) or another start (SQLite). */
async function place(kind: 'sqlite' | 'postgres'): Promise<() => Promise<Store>> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'gate-outbox-'));
    dirs.push(dir);
    return async () => {
      const s = createSqliteStore(dir);
      opened.push(s);
      return s;
    };
  }
  const db = `gate_outbox_${++dbs}`;
  await pg.query(`CREATE DATABASE ${db}`);
  return async () => {
    const s = await createPostgresStore({ connectionString: `postgres://${pg.user}@${pg.host}:${pg.port}/${db}`, password: pg.password, max: 4 });
    opened.push(s);
    return s;
  };
}

const T0 = '2026-12-01T10:00:00.000Z';
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();
const row = (id: string, sink = 'hooks'): StoredNotification => ({
  id,
  sink,
  event: 'grant.requested',
  payload: JSON.stringify({ event: 'grant.requested', id }),
  state: 'pending',
  attempts: 0,
  failures: 0,
  createdAt: T0,
  nextAt: T0,
  lastError: null,
  lastStatus: null,
  lastErrorAt: null,
  deliveredAt: null,
});

describe.each(['sqlite', 'postgres'] as const)('notification outbox (%s)', (kind) => {
  it('keeps rows across a reopen, once per event and sink, and reports each sink', async () => {
    const open = await place(kind);
    const a = await open();
    await a.notifyOutbox.enqueue([row('ev_1'), row('ev_1', 'slack-2'), row('ev_2')]);
    await a.notifyOutbox.enqueue([row('ev_1')]);
    await a.close();

    const b = await open();
    const claimed = await b.notifyOutbox.claim(at(1), at(70), 10);
    expect(claimed.map((r) => `${r.id}/${r.sink}`).sort()).toEqual(['ev_1/hooks', 'ev_1/slack-2', 'ev_2/hooks']);
    expect(claimed.every((r) => r.attempts === 1 && r.nextAt === at(70))).toBe(true);
    // Claimed: not due again until the lease ends.
    expect(await b.notifyOutbox.claim(at(2), at(80), 10)).toEqual([]);

    await b.notifyOutbox.delivered('ev_1', 'hooks', at(2));
    await b.notifyOutbox.failedAttempt('ev_2', 'hooks', { at: at(3), error: 'HTTP 500: no', status: 500, nextAt: at(5) });
    await b.notifyOutbox.failedAttempt('ev_1', 'slack-2', { at: at(4), error: 'ECONNREFUSED (127.0.0.1:9)', status: null, nextAt: null });
    const stats = await b.notifyOutbox.stats();
    expect(stats).toEqual([
      { sink: 'hooks', pending: 1, delivered: 1, failed: 0, failedAttempts: 1, lastError: 'HTTP 500: no', lastStatus: 500, lastErrorAt: at(3) },
      { sink: 'slack-2', pending: 0, delivered: 0, failed: 1, failedAttempts: 1, lastError: 'ECONNREFUSED (127.0.0.1:9)', lastStatus: null, lastErrorAt: at(4) },
    ]);

    // The retry is due at its next_at; a given-up row never comes back.
    expect(await b.notifyOutbox.claim(at(4), at(90), 10)).toEqual([]);
    const retry = await b.notifyOutbox.claim(at(5), at(90), 10);
    expect(retry.map((r) => [r.id, r.sink, r.attempts, r.failures])).toEqual([['ev_2', 'hooks', 2, 1]]);

    expect(await b.notifyOutbox.prune(at(3))).toBe(1);
    expect((await b.notifyOutbox.stats()).find((s) => s.sink === 'hooks')!.delivered).toBe(0);
  });

  it('two claimers at once take disjoint rows, and a lapsed claim is taken again', async () => {
    const open = await place(kind);
    const a = await open();
    const b = kind === 'postgres' ? await open() : a;
    await a.notifyOutbox.enqueue(Array.from({ length: 40 }, (_, i) => row(`ev_${String(i).padStart(2, '0')}`)));
    const [x, y] = await Promise.all([a.notifyOutbox.claim(at(1), at(61), 25), b.notifyOutbox.claim(at(1), at(61), 25)]);
    const ids = [...x, ...y].map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(40);
    // The holder died: at the lease's end the rows are due again, counted as another attempt.
    const again = await b.notifyOutbox.claim(at(61), at(121), 100);
    expect(again).toHaveLength(40);
    expect(again.every((r) => r.attempts === 2)).toBe(true);
  });
});
