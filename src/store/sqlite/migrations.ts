/**
 * Schema migrations, applied in order and never edited once released: a
 * change to the schema is a new entry at the end.
 */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'logins',
    sql: `CREATE TABLE logins (
      sub TEXT PRIMARY KEY,
      email TEXT,
      name TEXT,
      groups_json TEXT NOT NULL,
      kind TEXT NOT NULL,
      last_login_at TEXT NOT NULL
    );`,
  },
  // 20–22: grants, command approvals, audit log (numbered apart from other areas' migrations).
  {
    version: 20,
    name: 'grants',
    sql: `CREATE TABLE grants (
      id TEXT PRIMARY KEY,
      requester TEXT NOT NULL,
      target TEXT NOT NULL,
      state TEXT NOT NULL,
      created_at TEXT NOT NULL,
      expires_at TEXT,
      data TEXT NOT NULL
    );
    CREATE INDEX grants_requester ON grants (requester, created_at);
    CREATE INDEX grants_state ON grants (state);`,
  },
  {
    version: 21,
    name: 'command_approvals',
    sql: `CREATE TABLE command_approvals (
      id TEXT PRIMARY KEY,
      grant_id TEXT NOT NULL,
      text_hash TEXT NOT NULL,
      state TEXT NOT NULL,
      created_at TEXT NOT NULL,
      data TEXT NOT NULL
    );
    CREATE INDEX command_approvals_text ON command_approvals (grant_id, text_hash, created_at);`,
  },
  {
    version: 22,
    name: 'audit_events',
    sql: `CREATE TABLE audit_events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      time TEXT NOT NULL,
      actor TEXT,
      actor_kind TEXT,
      action TEXT NOT NULL,
      target TEXT,
      role TEXT,
      grant_id TEXT,
      session_id TEXT,
      correlation_id TEXT,
      ip TEXT,
      result TEXT NOT NULL,
      details TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    );
    CREATE INDEX audit_events_time ON audit_events (time);
    CREATE INDEX audit_events_target ON audit_events (target, time);`,
  },
  // 50: service tokens (src/store/sqlite/service-tokens.ts). Only the SHA-256 of the secret is kept.
  {
    version: 50,
    name: 'service_tokens',
    sql: `CREATE TABLE service_tokens (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      groups_json TEXT NOT NULL,
      secret_hash TEXT NOT NULL,
      creator TEXT NOT NULL,
      created_at TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      last_used_at TEXT,
      revoked_at TEXT,
      revoked_by TEXT
    );`,
  },
  // 70: recorded sessions' metadata (src/store/sqlite/sessions.ts); recordings are files in <dataDir>/recordings.
  {
    version: 70,
    name: 'sessions',
    sql: `CREATE TABLE sessions (
      id TEXT PRIMARY KEY,
      target TEXT NOT NULL,
      user_sub TEXT NOT NULL,
      grant_id TEXT NOT NULL,
      command TEXT NOT NULL,
      title TEXT,
      width INTEGER NOT NULL,
      height INTEGER NOT NULL,
      record_input INTEGER NOT NULL,
      started_at TEXT NOT NULL,
      ended_at TEXT,
      exit_code INTEGER,
      duration_ms INTEGER,
      incomplete INTEGER NOT NULL DEFAULT 0,
      closed INTEGER NOT NULL DEFAULT 0,
      chunks INTEGER NOT NULL DEFAULT 0,
      bytes INTEGER NOT NULL DEFAULT 0,
      correlation_id TEXT,
      created_at TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_sub, started_at);
    CREATE INDEX sessions_target ON sessions (target, started_at);
    CREATE INDEX audit_events_session ON audit_events (session_id) WHERE session_id IS NOT NULL;`,
  },
  // 71: a session's kind (`terminal` or `mcp`) and, for mcp, the client's name/version.
  {
    version: 71,
    name: 'sessions_kind',
    sql: `ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'terminal';
    ALTER TABLE sessions ADD COLUMN client TEXT;`,
  },
  // 130: identity keys (issue 13). Grant requesters, session owners and token creators become
  // namespaced keys; rows written before are legacy: a person's (the audit log says a user
  // requested it) keeps working for that person, any other belongs to nobody.
  {
    version: 130,
    name: 'identity_keys',
    sql: `UPDATE grants SET requester = CASE WHEN EXISTS (
        SELECT 1 FROM audit_events a WHERE a.grant_id = grants.id AND a.action = 'grant.requested' AND a.actor_kind = 'user'
      ) THEN 'legacy-user:' || requester ELSE 'legacy-unowned:' || requester END;
    ALTER TABLE service_tokens ADD COLUMN creator_key TEXT;
    UPDATE service_tokens SET creator_key = 'legacy-user:' || creator;
    ALTER TABLE sessions ADD COLUMN user_key TEXT;
    UPDATE sessions SET user_key = CASE WHEN EXISTS (
        SELECT 1 FROM audit_events a WHERE a.session_id = sessions.id AND a.action = 'session.started' AND a.actor_kind = 'user'
      ) THEN 'legacy-user:' || user_sub ELSE 'legacy-unowned:' || user_sub END;
    CREATE INDEX sessions_user_key ON sessions (user_key, started_at);`,
  },
  // 131: signed audit checkpoints (src/server/audit/checkpoints.ts).
  {
    version: 131,
    name: 'audit_checkpoints',
    sql: `CREATE TABLE audit_checkpoints (
      count BIGINT PRIMARY KEY,
      head TEXT NOT NULL,
      time TEXT NOT NULL,
      signature TEXT NOT NULL
    );`,
  },
  // 150: a grant's version (issue 19): every update bumps it and names the one it read (optimistic check).
  {
    version: 150,
    name: 'grant_versions',
    sql: 'ALTER TABLE grants ADD COLUMN version INTEGER NOT NULL DEFAULT 0;',
  },
];
