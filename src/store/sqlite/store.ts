import { join } from 'node:path';
import type { Store } from '../store.js';
import { sqliteApprovals } from './approvals.js';
import { sqliteAudit } from './audit.js';
import { openSqlite, type SqliteDb } from './database.js';
import { sqliteGrants } from './grants.js';
import { sqliteNotifyOutbox } from './notify-outbox.js';
import { sqliteServiceTokens } from './service-tokens.js';
import { sqliteSessions } from './sessions.js';

export interface SqliteStore extends Store {
  readonly kind: 'sqlite';
  /** The raw database, for repositories and for tests that must tamper with rows. */
  readonly db: SqliteDb;
}

/** The default store: one SQLite file, `gate.db`, in the server's data dir. */
export function createSqliteStore(dataDir: string): SqliteStore {
  const db = openSqlite(join(dataDir, 'gate.db'));
  const upsertLogin = db.prepare(
    `INSERT INTO logins (sub, email, name, groups_json, kind, last_login_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT(sub) DO UPDATE SET email = excluded.email, name = excluded.name,
       groups_json = excluded.groups_json, kind = excluded.kind, last_login_at = excluded.last_login_at`,
  );
  return {
    kind: 'sqlite',
    db,
    grants: sqliteGrants(db),
    approvals: sqliteApprovals(db),
    audit: sqliteAudit(db),
    sessions: sqliteSessions(db),
    serviceTokens: sqliteServiceTokens(db),
    notifyOutbox: sqliteNotifyOutbox(db),
    async recordLogin(who, at) {
      upsertLogin.run(who.sub, who.email ?? null, who.name ?? null, JSON.stringify(who.groups), who.kind, at.toISOString());
    },
    async close() {
      db.close();
    },
  };
}
