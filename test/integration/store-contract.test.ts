/**
 * One contract, both stores: every repository of the Store interface behaves
 * the same on SQLite and on PostgreSQL (a real embedded server).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventHash, GENESIS_HASH } from '../../src/server/audit/chain.js';
import { createAuditLog } from '../../src/server/audit/log.js';
import { createHash } from 'node:crypto';
import { createServiceToken } from '../../src/server/service-tokens.js';
import { createPostgresStore, type PostgresStore } from '../../src/store/postgres/store.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store, StoreChange, StoredApproval, StoredGrant, StoredSession } from '../../src/store/store.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

/** A place a store lives (a data dir, a database): several stores may be opened on it, as replicas or after a restart. */
interface Place {
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

let pg: TestPostgres;
let dbCounter = 0;
const opened: Store[] = [];

const kinds: { name: 'sqlite' | 'postgres'; place(): Promise<Place> }[] = [
  {
    name: 'sqlite',
    async place() {
      const dir = await mkdtemp(join(tmpdir(), 'gate-store-'));
      return {
        open: async () => track(createSqliteStore(dir)),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    async place() {
      const db = `gate_contract_${++dbCounter}`;
      await pg.query(`CREATE DATABASE ${db}`);
      const connectionString = `postgres://${pg.user}@${pg.host}:${pg.port}/${db}`;
      return {
        open: async () => track(await createPostgresStore({ connectionString, password: pg.password, max: 4 })),
        cleanup: async () => {},
      };
    },
  },
];

/** The logins table as stored (no Store method reads it back), to check what recordLogin kept. */
async function loginRows(store: Store): Promise<Record<string, unknown>[]> {
  const sql = 'SELECT sub, email, groups_json, kind, last_login_at FROM logins ORDER BY sub';
  if (store.kind === 'sqlite') return (store as SqliteStore).db.prepare(sql).all() as Record<string, unknown>[];
  const rows = (await (store as PostgresStore).pool.query(sql)).rows as Record<string, unknown>[];
  // Normalise a timestamp column, should the schema use one.
  return rows.map((r) => ({ ...r, last_login_at: r.last_login_at instanceof Date ? r.last_login_at.toISOString() : r.last_login_at }));
}

function track(store: Store): Store {
  opened.push(store);
  return store;
}

async function closeAll(): Promise<void> {
  for (const s of opened.splice(0)) await s.close().catch(() => {});
}

beforeAll(async () => {
  pg = await startPostgres();
});

afterAll(async () => {
  await closeAll();
  await pg?.stop();
});

const grant = (id: string, over: Partial<StoredGrant> = {}): StoredGrant => ({
  id,
  requester: 'alice',
  target: 'db-prod',
  state: 'pending',
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: null,
  data: { id, note: 'ünïcode ✓', nested: { n: 1 } },
  ...over,
});

const session = (id: string, over: Partial<StoredSession> = {}): StoredSession => ({
  id,
  target: 'db-prod',
  user: 'alice',
  userKey: 'user:https://idp.example#alice',
  grantId: 'g_1',
  command: 'psql',
  title: null,
  width: 80,
  height: 24,
  recordInput: false,
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: null,
  exitCode: null,
  durationMs: null,
  incomplete: false,
  closed: false,
  chunks: 0,
  bytes: 0,
  correlationId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  kind: 'terminal',
  client: null,
  ...over,
});

describe.each(kinds)('$name store', (kind) => {
  let place: Place;
  let store: Store;

  beforeAll(async () => {
    place = await kind.place();
    store = await place.open();
  });

  afterAll(async () => {
    await closeAll();
    await place?.cleanup();
  });

  it('says which kind it is', () => {
    expect(store.kind).toBe(kind.name);
  });

  it('grants: insert, get, optimistic update, and the approver listing', async () => {
    await store.grants.insert(grant('g_a1', { createdAt: '2026-01-01T00:00:01.000Z' }));
    await store.grants.insert(grant('g_a2', { requester: 'bob', target: 'cluster', createdAt: '2026-01-01T00:00:02.000Z' }));
    await store.grants.insert(grant('g_a3', { requester: 'carol', target: 'db-prod', createdAt: '2026-01-01T00:00:03.000Z' }));
    expect(await store.grants.get('g_a1')).toEqual({ ...grant('g_a1', { createdAt: '2026-01-01T00:00:01.000Z' }), version: 0 });
    expect(await store.grants.get('g_nope')).toBeUndefined();

    const active = grant('g_a1', { state: 'active', expiresAt: '2026-01-01T01:00:00.000Z', createdAt: '2026-01-01T00:00:01.000Z' });
    expect(await store.grants.update(active, 'pending')).toBe(true);
    // The state moved on: a second writer working from `pending` loses.
    expect(await store.grants.update({ ...active, state: 'denied' }, 'pending')).toBe(false);
    expect((await store.grants.get('g_a1'))?.state).toBe('active');
    expect((await store.grants.get('g_a1'))?.expiresAt).toBe('2026-01-01T01:00:00.000Z');
    // Same state, but a writer working from an older version (another replica's approval landed) loses too.
    expect((await store.grants.get('g_a1'))?.version).toBe(1);
    expect(await store.grants.update({ ...active, data: { stale: true }, version: 0 }, 'active')).toBe(false);
    expect(await store.grants.update({ ...active, data: { fresh: true }, version: 1 }, 'active')).toBe(true);
    expect(await store.grants.get('g_a1')).toMatchObject({ data: { fresh: true }, version: 2 });

    const ids = (rows: StoredGrant[]) => rows.map((g) => g.id);
    expect(ids(await store.grants.list({}))).toEqual(['g_a3', 'g_a2', 'g_a1']);
    expect(ids(await store.grants.list({ requesters: ['bob'] }))).toEqual(['g_a2']);
    expect(ids(await store.grants.list({ requesters: ['bob'], targets: ['db-prod'] }))).toEqual(['g_a3', 'g_a2', 'g_a1']);
    expect(ids(await store.grants.list({ requesters: ['nobody'], targets: [] }))).toEqual([]);
    expect(ids(await store.grants.list({ targets: [] }))).toEqual([]);
    expect(ids(await store.grants.list({ state: 'active' }))).toEqual(['g_a1']);
    expect(ids(await store.grants.list({ limit: 1 }))).toEqual(['g_a3']);
  });

  it('command approvals: newest first by text, optimistic update, listing by state', async () => {
    const a = (id: string, createdAt: string, state = 'pending'): StoredApproval => ({
      id,
      grantId: 'g_x',
      textHash: 'h1',
      state,
      createdAt,
      data: { id, text: 'DROP TABLE users' },
    });
    await store.approvals.insert(a('a_1', '2026-01-01T00:00:01.000Z', 'denied'));
    await store.approvals.insert(a('a_2', '2026-01-01T00:00:02.000Z'));
    await store.approvals.insert({ ...a('a_3', '2026-01-01T00:00:03.000Z'), textHash: 'other' });
    expect((await store.approvals.findByText('g_x', 'h1')).map((x) => x.id)).toEqual(['a_2', 'a_1']);
    expect(await store.approvals.findByText('g_y', 'h1')).toEqual([]);
    expect(await store.approvals.update({ ...a('a_2', '2026-01-01T00:00:02.000Z', 'approved') }, 'pending')).toBe(true);
    expect(await store.approvals.update({ ...a('a_2', '2026-01-01T00:00:02.000Z', 'denied') }, 'pending')).toBe(false);
    expect((await store.approvals.get('a_2'))?.state).toBe('approved');
    expect((await store.approvals.list({ state: 'pending' })).map((x) => x.id)).toEqual(['a_3']);
    expect((await store.approvals.list({})).map((x) => x.id)).toEqual(['a_3', 'a_2', 'a_1']);
    expect(await store.approvals.get('a_none')).toBeUndefined();
  });

  it('audit: a verifiable chain, filtered listings oldest first, paged scans', async () => {
    const log = createAuditLog(store.audit, () => new Date('2026-02-01T00:00:00.000Z'));
    await log.append({ action: 'auth.login', actor: 'alice', actorKind: 'user' });
    await log.append({ action: 'grant.requested', actor: 'alice', target: 'db-prod', grantId: 'g_1', details: { reason: 'ticket 42' } });
    await log.append({ action: 'pg.query', target: 'cluster', sessionId: 's_1' });
    await log.append({ action: 'pg.query', target: 'db-prod', sessionId: 's_1', details: { text: 'SELECT 1' } });
    expect(await log.verify()).toEqual({ ok: true, events: 4 });

    const all = await log.list({});
    expect(all.map((r) => r.action)).toEqual(['auth.login', 'grant.requested', 'pg.query', 'pg.query']);
    expect(all[1]!.details).toBe('{"reason":"ticket 42"}');
    expect(all[0]!.target).toBeNull();
    expect(all[1]!.prev_hash).toBe(all[0]!.hash);
    expect((await log.list({ targets: ['db-prod'] })).map((r) => r.action)).toEqual(['grant.requested', 'pg.query']);
    expect(await log.list({ targets: [] })).toEqual([]);
    expect((await log.list({ sessionId: 's_1' })).length).toBe(2);
    expect((await log.list({ limit: 2 })).map((r) => r.target)).toEqual(['cluster', 'db-prod']);
    expect(await log.list({ since: new Date('2026-03-01T00:00:00.000Z') })).toEqual([]);

    const first = await store.audit.scan(0, 3);
    expect(first.map((p) => p.row.id)).toEqual(all.slice(0, 3).map((r) => r.id));
    expect(typeof first[0]!.seq).toBe('number');
    const rest = await store.audit.scan(first[2]!.seq, 3);
    expect(rest.map((p) => p.row.id)).toEqual([all[3]!.id]);
  });

  it('sessions: insert once, case-insensitive get, progress, close once, visibility filters', async () => {
    expect(await store.sessions.insert(session('s_aa', { startedAt: '2026-01-01T00:00:01.000Z', recordInput: true }))).toBe(true);
    expect(await store.sessions.insert(session('s_aa'))).toBe(false);
    await store.sessions.insert(session('s_bb', { user: 'bob', userKey: 'user:https://idp.example#bob', target: 'cluster', startedAt: '2026-01-01T00:00:02.000Z' }));
    await store.sessions.setProgress('S_AA', { chunks: 3, bytes: 5_000_000_000 });
    expect(await store.sessions.close('s_aa', { endedAt: '2026-01-01T00:10:00.000Z', exitCode: 3, durationMs: 600_000, incomplete: true })).toBe(true);
    expect(await store.sessions.close('s_aa', { endedAt: '2026-01-01T00:11:00.000Z', exitCode: 0, durationMs: 1, incomplete: false })).toBe(false);
    const got = await store.sessions.get('S_AA');
    expect(got).toEqual(
      session('s_aa', {
        startedAt: '2026-01-01T00:00:01.000Z',
        recordInput: true,
        chunks: 3,
        bytes: 5_000_000_000,
        closed: true,
        endedAt: '2026-01-01T00:10:00.000Z',
        exitCode: 3,
        durationMs: 600_000,
        incomplete: true,
      }),
    );
    const ids = (rows: StoredSession[]) => rows.map((s) => s.id);
    expect(ids(await store.sessions.list({}))).toEqual(['s_bb', 's_aa']);
    expect(ids(await store.sessions.list({ user: 'bob' }))).toEqual(['s_bb']);
    expect(ids(await store.sessions.list({ target: 'db-prod' }))).toEqual(['s_aa']);
    expect(ids(await store.sessions.list({ since: '2026-01-01T00:00:02.000Z' }))).toEqual(['s_bb']);
    expect(ids(await store.sessions.list({ visibleTo: { userKeys: ['user:https://idp.example#alice'], targets: [] } }))).toEqual(['s_aa']);
    expect(ids(await store.sessions.list({ visibleTo: { userKeys: ['user:https://idp.example#alice'], targets: ['cluster'] } }))).toEqual(['s_bb', 's_aa']);
    expect(ids(await store.sessions.list({ limit: 1 }))).toEqual(['s_bb']);
    // An MCP session keeps its kind and client (gate mcp), and needs no grant yet.
    const mcp = session('s_cc', { kind: 'mcp', client: 'claude-code/2.1.0', grantId: '', startedAt: '2026-01-01T00:00:03.000Z' });
    expect(await store.sessions.insert(mcp)).toBe(true);
    expect(await store.sessions.get('s_cc')).toEqual(mcp);
  });

  it('service tokens: only the hash is kept, revoked once, last use recorded', async () => {
    // Made by the server's own code, which hands the store a hash and the caller the secret.
    const { token } = await createServiceToken({ store, now: () => new Date('2026-01-01T00:00:00.000Z') }, { name: 'ci-deploy', groups: ['ci', 'deployers'], ttl: '30d', creator: 'alice', creatorKey: 'user:https://idp.example#alice' });
    const [, id, secret] = /^gst_([0-9a-f]{16})_(.+)$/.exec(token)!;
    const t = (await store.serviceTokens.get(id!))!;
    expect(t).toMatchObject({ id, name: 'ci-deploy', groups: ['ci', 'deployers'], creator: 'alice', creatorKey: 'user:https://idp.example#alice', createdAt: '2026-01-01T00:00:00.000Z', lastUsedAt: null, revokedAt: null });
    expect(t.secretHash).toBe(createHash('sha256').update(secret!).digest('hex'));
    // Nothing the store gives back holds the secret.
    expect(JSON.stringify([t, await store.serviceTokens.list()])).not.toContain(secret);
    await store.serviceTokens.insert({ ...t, id: 'fedcba9876543210', name: 'newer', createdAt: '2026-01-02T00:00:00.000Z' });
    expect((await store.serviceTokens.list()).map((x) => x.name)).toEqual(['newer', 'ci-deploy']);
    await store.serviceTokens.touch(t.id, '2026-01-03T00:00:00.000Z');
    expect(await store.serviceTokens.revoke(t.id, 'bob', '2026-01-04T00:00:00.000Z')).toBe(true);
    expect(await store.serviceTokens.revoke(t.id, 'carol', '2026-01-05T00:00:00.000Z')).toBe(false);
    expect(await store.serviceTokens.revoke('0000000000000000', 'carol', '2026-01-05T00:00:00.000Z')).toBe(false);
    expect(await store.serviceTokens.get(t.id)).toMatchObject({ lastUsedAt: '2026-01-03T00:00:00.000Z', revokedAt: '2026-01-04T00:00:00.000Z', revokedBy: 'bob' });
  });

  it('records logins: the second login of a subject replaces the first', async () => {
    const who = { sub: 'alice', email: 'alice@example.com', groups: ['engineering'], kind: 'user' as const };
    await store.recordLogin(who, new Date('2026-01-01T00:00:00.000Z'));
    await store.recordLogin({ ...who, email: 'alice@new.example.com', groups: [] }, new Date('2026-01-02T00:00:00.000Z'));
    await store.recordLogin({ sub: 'bob', groups: ['dba'], kind: 'user' }, new Date('2026-01-03T00:00:00.000Z'));
    const rows = await loginRows(store);
    expect(rows).toEqual([
      { sub: 'alice', email: 'alice@new.example.com', groups_json: '[]', kind: 'user', last_login_at: '2026-01-02T00:00:00.000Z' },
      { sub: 'bob', email: null, groups_json: '["dba"]', kind: 'user', last_login_at: '2026-01-03T00:00:00.000Z' },
    ]);
  });

  it('audit: a batch appended at once chains in order, after what was there', async () => {
    const log = createAuditLog(store.audit);
    const before = await log.verify();
    expect(store.audit.appendMany).toBeDefined();
    const rows = await store.audit.appendMany!((prev) => {
      let hash = prev;
      return Array.from({ length: 1200 }, (_, i) => {
        const row = {
          id: `ev_batch_${i}`,
          time: '2026-02-02T00:00:00.000Z',
          actor: null,
          actor_kind: null,
          action: 'test.batch',
          target: null,
          role: null,
          grant_id: null,
          session_id: null,
          correlation_id: null,
          ip: null,
          result: 'ok',
          details: JSON.stringify({ i }),
          prev_hash: hash ?? GENESIS_HASH,
        };
        const full = { ...row, hash: eventHash(row) };
        hash = full.hash;
        return full;
      });
    });
    expect(rows).toHaveLength(1200);
    expect(await log.verify()).toEqual({ ok: true, events: before.events + 1200 });
    expect((await log.list({ limit: 2 })).map((r) => r.id)).toEqual(['ev_batch_1198', 'ev_batch_1199']);
  });

  it('two stores on the same data append to one linear, verifiable audit chain', async () => {
    const other = await place.open();
    const a = createAuditLog(store.audit);
    const b = createAuditLog(other.audit);
    const before = (await a.verify()).events;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append({ action: 'test.concurrent', details: { i } })),
    );
    const result = await b.verify();
    expect(result).toEqual({ ok: true, events: before + 40 });
  });

  it("audit head: counting on from an earlier answer gives the full count, whichever store appended since", async () => {
    const other = await place.open();
    const a = createAuditLog(store.audit);
    const b = createAuditLog(other.audit);
    const earlier = await store.audit.head();
    expect(earlier.count).toBe((await a.verify()).events);
    expect(earlier.seq).toBe((await store.audit.tip())?.seq);
    for (let i = 0; i < 12; i++) await (i % 3 ? a : b).append({ action: 'test.head', details: { i } });
    const counted = await store.audit.head({ seq: earlier.seq!, count: earlier.count });
    const full = await store.audit.head();
    expect(counted).toEqual(full);
    expect(counted.count).toBe(earlier.count + 12);
    expect(counted.hash).toBe((await store.audit.tip())?.hash);
    // Nothing new since: the same answer again.
    expect(await store.audit.head({ seq: counted.seq!, count: counted.count })).toEqual(full);
  });

  it('everything survives a restart', async () => {
    await store.close();
    store = await place.open();
    expect((await store.grants.get('g_a1'))?.state).toBe('active');
    expect((await store.sessions.get('s_aa'))?.bytes).toBe(5_000_000_000);
    expect((await store.serviceTokens.list()).length).toBe(2);
    expect((await createAuditLog(store.audit).verify()).ok).toBe(true);
  });

  // The one place the two stores differ by design: SQLite is one process's
  // whole truth and has no feed; PostgreSQL tells the other replicas.
  it('change feed: PostgreSQL tells other stores on the database of grant and approval changes, not itself; SQLite has none', async () => {
    if (kind.name === 'sqlite') {
      expect(store.watch).toBeUndefined();
      return;
    }
    const other = await place.open();
    const seenHere: StoreChange[] = [];
    const seenThere: StoreChange[] = [];
    store.watch!({ change: (c) => seenHere.push(c), resync() {} });
    const arrived = new Promise<void>((resolve) => {
      other.watch!({
        change: (c) => {
          seenThere.push(c);
          if (c.kind === 'approval') resolve();
        },
        resync() {},
      });
    });
    await store.grants.insert(grant('g_n1'));
    expect(await store.grants.update(grant('g_n1', { state: 'active' }), 'pending')).toBe(true);
    // A refused update changes nothing, so nobody hears of it.
    expect(await store.grants.update(grant('g_n1', { state: 'denied' }), 'pending')).toBe(false);
    await store.approvals.insert({ id: 'a_n1', grantId: 'g_n1', textHash: 'h', state: 'pending', createdAt: '2026-01-01T00:00:00.000Z', data: {} });
    await arrived;
    expect(seenThere).toEqual([
      { kind: 'grant', id: 'g_n1' },
      { kind: 'grant', id: 'g_n1' },
      { kind: 'approval', id: 'a_n1' },
    ]);
    expect(seenHere).toEqual([]);
  });
});
