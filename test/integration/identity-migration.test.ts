/**
 * Existing stores migrate to identity keys (issue 13): a grant a person
 * requested before keys existed stays hers; one a workload requested under the
 * same subject belongs to nobody. A SQLite store written with the schema of
 * before, then opened by this server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { startTokenStack, type TokenStack } from '../helpers/token-stack.js';

let dir: string;
let stack: TokenStack;

function legacyGrant(id: string) {
  const now = Date.now();
  return {
    id,
    target: 'echo',
    role: 'default',
    state: 'active',
    requester: 'alice',
    policy: 'eng',
    approvers: [],
    approvals_required: 0,
    approvals: [],
    requested_duration: 3600,
    duration: 3600,
    duration_capped: false,
    created_at: new Date(now - 1000).toISOString(),
    updated_at: new Date(now - 1000).toISOString(),
    activated_at: new Date(now - 1000).toISOString(),
    expires_at: new Date(now + 3_600_000).toISOString(),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gate-identity-migration-'));
  // The store as the previous release left it: every migration before 130, and rows keyed by bare subjects.
  const db = new Database(join(dir, 'gate.db'));
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  for (const m of MIGRATIONS.filter((m) => m.version < 130)) {
    db.exec(m.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
  }
  const insertGrant = db.prepare('INSERT INTO grants (id, requester, target, state, created_at, expires_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insertAudit = db.prepare(
    `INSERT INTO audit_events (id, time, actor, actor_kind, action, target, role, grant_id, session_id, correlation_id, ip, result, details, prev_hash, hash)
     VALUES (?, ?, 'alice', ?, 'grant.requested', 'echo', 'default', ?, NULL, NULL, NULL, 'ok', '{}', ?, ?)`,
  );
  for (const [id, kind] of [
    ['g_legacyperson', 'user'],
    ['g_legacyworkload', 'workload'],
  ] as const) {
    const g = legacyGrant(id);
    insertGrant.run(g.id, 'alice', g.target, g.state, g.created_at, g.expires_at, JSON.stringify(g));
    insertAudit.run(`ev_${id}`, g.created_at, kind, id, '0'.repeat(64), '1'.repeat(64));
  }
  db.close();
  stack = await startTokenStack(
    `targets:
  echo: { type: tcp, address: '127.0.0.1:9' }
policies:
  - { name: eng, groups: [engineering], targets: [echo], roles: [default], max_duration: 1h, approval: auto }
`,
    { dataDir: dir },
  );
});

afterAll(async () => {
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a store from before identity keys', () => {
  it("keeps a person's old grant hers, and gives a workload's old grant to nobody", async () => {
    const alice = await stack.human('alice', ['engineering']);
    const mine = await stack.api<{ grants: { id: string }[] }>(alice, 'GET', '/v1/grants');
    expect(mine.body.grants.map((g) => g.id)).toEqual(['g_legacyperson']);
    expect((await stack.api(alice, 'GET', '/v1/grants/g_legacyworkload')).status).toBe(404);

    const job = await stack.workload('alice');
    expect((await stack.api<{ grants: unknown[] }>(job, 'GET', '/v1/grants')).body.grants).toEqual([]);
    expect((await stack.api(job, 'GET', '/v1/grants/g_legacyperson')).status).toBe(404);
    // Her new grants carry the full key and sit alongside the old one.
    await stack.api(alice, 'POST', '/v1/grants', { target: 'echo' });
    expect((await stack.api<{ grants: unknown[] }>(alice, 'GET', '/v1/grants')).body.grants).toHaveLength(2);
  });
});
