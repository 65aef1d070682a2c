import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEvent } from '../../src/cli/describe-event.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import type { StoredSession } from '../../src/store/store.js';

let dir: string;
let store: SqliteStore;

const session = (id: string, user: string, target: string, startedAt: string): StoredSession => ({
  id,
  target,
  user,
  userKey: `user:https://idp.example#${user}`,
  grantId: 'g_1',
  command: 'psql',
  title: null,
  width: 80,
  height: 24,
  recordInput: false,
  startedAt,
  endedAt: null,
  exitCode: null,
  durationMs: null,
  incomplete: false,
  closed: false,
  chunks: 0,
  bytes: 0,
  correlationId: null,
  createdAt: startedAt,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gate-sessions-store-'));
  store = createSqliteStore(dir);
  await store.sessions.insert(session('00000000-0000-4000-8000-000000000001', 'alice', 'db-prod', '2026-01-01T10:00:00.000Z'));
  await store.sessions.insert(session('00000000-0000-4000-8000-000000000002', 'erin', 'db-prod', '2026-01-01T11:00:00.000Z'));
  await store.sessions.insert(session('00000000-0000-4000-8000-000000000003', 'erin', 'cluster', '2026-01-01T12:00:00.000Z'));
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('sessions repository', () => {
  it('does not overwrite an existing session on a second insert', async () => {
    const again = session('00000000-0000-4000-8000-000000000001', 'mallory', 'cluster', '2026-01-02T00:00:00.000Z');
    expect(await store.sessions.insert(again)).toBe(false);
    expect((await store.sessions.get('00000000-0000-4000-8000-000000000001'))?.user).toBe('alice');
  });

  it('lists only the user’s own sessions and those on targets they approve, newest first', async () => {
    const own = await store.sessions.list({ visibleTo: { userKeys: ['user:https://idp.example#alice'], targets: [] } });
    expect(own.map((s) => s.user)).toEqual(['alice']);
    const approver = await store.sessions.list({ visibleTo: { userKeys: ['user:https://idp.example#bob'], targets: ['db-prod'] } });
    expect(approver.map((s) => s.id.slice(-1))).toEqual(['2', '1']);
    const since = await store.sessions.list({ since: '2026-01-01T10:30:00.000Z' });
    expect(since.map((s) => s.id.slice(-1))).toEqual(['3', '2']);
  });

  it('closes once', async () => {
    const end = { endedAt: '2026-01-01T10:01:00.000Z', exitCode: 3, durationMs: 60_000, incomplete: false };
    expect(await store.sessions.close('00000000-0000-4000-8000-000000000001', end)).toBe(true);
    expect(await store.sessions.close('00000000-0000-4000-8000-000000000001', { ...end, exitCode: 0 })).toBe(false);
    expect(await store.sessions.get('00000000-0000-4000-8000-000000000001')).toMatchObject({ closed: true, exitCode: 3 });
  });
});

describe('describeEvent', () => {
  it('shows the statement, or the Kubernetes request', () => {
    expect(describeEvent({ statement: 'select\n  1', protocol: 'simple' })).toBe('select 1');
    expect(describeEvent({ verb: 'get', path: '/api/v1/namespaces/default/pods', status: 200 })).toBe('get /api/v1/namespaces/default/pods 200');
  });
});
