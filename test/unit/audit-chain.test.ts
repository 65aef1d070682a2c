import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, chainHash, encodeRow, eventHash, GENESIS_HASH } from '../../src/server/audit/chain.js';
import { type AuditLog, createAuditLog } from '../../src/server/audit/log.js';
import { AUDIT_COLUMNS, auditValues } from '../../src/store/rows/audit.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import type { AuditRow } from '../../src/store/store.js';

describe('canonical encoding', () => {
  it('sorts keys at every depth, keeps array order, drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('writes what JSON.stringify would for dates, functions and odd numbers', () => {
    const value = { at: new Date('2026-01-02T03:04:05.000Z'), f: () => 1, list: [undefined, () => 1, Number.NaN], n: -0 };
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
    expect(canonicalJson(value)).toBe('{"at":"2026-01-02T03:04:05.000Z","list":[null,null,null],"n":0}');
  });

  it('the fast hash of a new row equals the hash verify computes from the stored row', () => {
    const details = canonicalJson({ statement: 'select "x" from t where a = \'\u00e9\'\n', rows: 1, nested: { z: [1, { b: 2, a: 1 }] } });
    const row = {
      id: 'ev_1', time: '2026-01-01T00:00:00.000Z', actor: 'alice', actor_kind: null, action: 'pg.query', target: 'db',
      role: 'read', grant_id: 'g_1', session_id: 's_"1"', correlation_id: null, ip: '::1', result: 'ok', details, prev_hash: GENESIS_HASH,
    };
    const { prev_hash: _prev, ...unchained } = row;
    expect(chainHash(encodeRow(unchained), row.prev_hash)).toBe(eventHash(row));
    expect(chainHash(encodeRow({ ...unchained, actor: 'mallory' }), row.prev_hash)).not.toBe(eventHash(row));
    // The encoding the journal keeps is the same row, chain fields aside, as one JSON object.
    const { head, tail } = encodeRow(unchained);
    expect(JSON.parse(head + tail)).toEqual({ ...unchained, details: JSON.parse(details) });
    expect(chainHash({ head, tail }, GENESIS_HASH)).toBe(eventHash(row));
    expect(chainHash({ head, tail }, 'f'.repeat(64))).toBe(eventHash({ ...row, prev_hash: 'f'.repeat(64) }));
  });

  it('hashes the same event identically whatever the key order or details formatting', () => {
    const base = {
      id: 'ev_1', time: '2026-01-01T00:00:00.000Z', actor: 'alice', actor_kind: 'user', action: 'grant.requested',
      target: 'db', role: 'read', grant_id: 'g_1', session_id: null, correlation_id: null, ip: null, result: 'ok', prev_hash: GENESIS_HASH,
    };
    const h = eventHash({ ...base, details: '{"a":1,"b":2}' });
    expect(eventHash({ ...base, details: '{ "b": 2, "a": 1 }' })).toBe(h);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(eventHash({ ...base, details: '{"a":1,"b":3}' })).not.toBe(h);
    expect(eventHash({ ...base, prev_hash: 'f'.repeat(64), details: '{"a":1,"b":2}' })).not.toBe(h);
  });
});

describe('audit log on SQLite', () => {
  let dir: string;
  let store: SqliteStore;
  let log: AuditLog;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gate-audit-'));
    store = createSqliteStore(dir);
    log = createAuditLog(store.audit);
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('batches gateway events without breaking the chain or their order', async () => {
    const grant = { id: 'g_1', target: 'db', role: 'read', user: 'alice', expiresAt: new Date(Date.now() + 60_000) };
    let revoked: Promise<unknown> | undefined;
    for (let i = 0; i < 1500; i++) {
      log.fromGateway({ action: 'pg.query', result: 'ok', details: { statement: `select ${i}` } }, { grant, sessionId: 's1' });
      if (i === 700) revoked = log.append({ action: 'grant.revoked', actor: 'bob', grantId: 'g_1' });
    }
    await revoked;
    await log.flush();
    const result = await log.verify();
    expect(result).toMatchObject({ ok: true, events: 1501 });
    const rows = await log.list({ limit: 2000 });
    const statements = rows.filter((r) => r.action === 'pg.query').map((r) => JSON.parse(r.details).statement);
    expect(statements).toEqual(Array.from({ length: 1500 }, (_, i) => `select ${i}`));
  });

  it('stores every column of a row in its own place, one at a time and in a batch', async () => {
    // Each value names its column: a value bound to the wrong position reads back under another name.
    const row = (n: number): AuditRow => {
      const r = Object.fromEntries(AUDIT_COLUMNS.map((c) => [c, `${c}-${n}`])) as unknown as AuditRow;
      return { ...r, details: `{"n":${n}}` };
    };
    expect(auditValues(row(0))).toEqual(AUDIT_COLUMNS.map((c) => row(0)[c]));
    await store.audit.appendAtomically(() => row(1));
    await store.audit.appendMany!(() => [row(2), row(3)]);
    const stored = await store.audit.list({ fromStart: true, limit: 10 });
    expect(stored).toEqual([row(1), row(2), row(3)]);
  });

  it('a listing right after a statement already shows it', async () => {
    const grant = { id: 'g_2', target: 'db', role: 'read', user: 'alice', expiresAt: new Date(Date.now() + 60_000) };
    log.fromGateway({ action: 'pg.query', result: 'ok', details: { statement: 'select now()' } }, { grant, actorKind: 'workload' });
    const rows = await log.list({});
    expect(rows.at(-1)).toMatchObject({ action: 'pg.query', actor: 'alice', actor_kind: 'workload' });
  });

  it('chains concurrent appends in order and verifies', async () => {
    const rows = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append({ action: 'test.event', actor: `u${i}`, details: { i } })));
    expect(rows[0]!.prev_hash).toBe(GENESIS_HASH);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
    expect(await log.verify()).toEqual({ ok: true, events: 50 });
  });

  it('names the first edited event and why', async () => {
    const rows = [];
    for (let i = 0; i < 5; i++) rows.push(await log.append({ action: 'grant.requested', target: 'db', details: { i } }));
    store.db.prepare("UPDATE audit_events SET actor = 'mallory' WHERE id = ?").run(rows[2]!.id);
    const v = await log.verify();
    expect(v).toMatchObject({ ok: false, broken: { id: rows[2]!.id, seq: 3 } });
    expect(v.broken!.reason).toContain('does not match its hash');
  });

  it('detects a deleted event at the one after it', async () => {
    const rows = [];
    for (let i = 0; i < 4; i++) rows.push(await log.append({ action: 'x', details: {} }));
    store.db.prepare('DELETE FROM audit_events WHERE id = ?').run(rows[1]!.id);
    const v = await log.verify();
    expect(v.broken).toMatchObject({ id: rows[2]!.id });
    expect(v.broken!.reason).toContain('prev_hash');
  });

  it('reports a gateway batch it could not write, and keeps working', async () => {
    const lost: { events: number; action: string }[] = [];
    const failing = createAuditLog(
      { ...store.audit, appendMany: async () => Promise.reject(new Error('disk full')) },
      undefined,
      (_err, info) => lost.push(info),
    );
    const grant = { id: 'g_3', target: 'db', role: 'read', user: 'alice', expiresAt: new Date(Date.now() + 60_000) };
    failing.fromGateway({ action: 'pg.query', result: 'ok', details: { statement: 'select 1' } }, { grant });
    failing.fromGateway({ action: 'pg.query', result: 'ok', details: { statement: 'select 2' } }, { grant });
    await failing.flush();
    expect(lost).toEqual([{ events: 2, action: 'pg.query' }]);
    await expect(failing.append({ action: 'x' })).rejects.toThrow('disk full');
  });

  it('reports details that are no longer JSON', async () => {
    const row = await log.append({ action: 'x', details: { a: 1 } });
    store.db.prepare("UPDATE audit_events SET details = 'oops' WHERE id = ?").run(row.id);
    expect((await log.verify()).broken).toMatchObject({ id: row.id, reason: expect.stringContaining('not valid JSON') });
  });
});
