/**
 * PostgreSQL schema migrations: the same logical schema as SQLite's
 * (src/store/sqlite/migrations.ts), same version numbers, applied in order and
 * never edited once released. Times stay ISO-8601 text, as in SQLite, so both
 * stores compare and sort them the same way; `COLLATE "C"` keeps that byte
 * order whatever the database's locale.
 */
export const PG_MIGRATIONS: { version: number; name: string; sql: string }[] = [
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
  {
    version: 20,
    name: 'grants',
    sql: `CREATE TABLE grants (
      id TEXT COLLATE "C" PRIMARY KEY,
      requester TEXT NOT NULL,
      target TEXT NOT NULL,
      state TEXT NOT NULL,
      created_at TEXT COLLATE "C" NOT NULL,
      expires_at TEXT COLLATE "C",
      data TEXT NOT NULL
    );
    CREATE INDEX grants_requester ON grants (requester, created_at);
    CREATE INDEX grants_state ON grants (state);`,
  },
  {
    version: 21,
    name: 'command_approvals',
    // seq stands in for SQLite's rowid: the tie-break between approvals created in the same millisecond.
    sql: `CREATE TABLE command_approvals (
      seq BIGSERIAL NOT NULL UNIQUE,
      id TEXT COLLATE "C" PRIMARY KEY,
      grant_id TEXT NOT NULL,
      text_hash TEXT NOT NULL,
      state TEXT NOT NULL,
      created_at TEXT COLLATE "C" NOT NULL,
      data TEXT NOT NULL
    );
    CREATE INDEX command_approvals_text ON command_approvals (grant_id, text_hash, created_at);`,
  },
  {
    version: 22,
    name: 'audit_events',
    sql: `CREATE TABLE audit_events (
      seq BIGSERIAL PRIMARY KEY,
      id TEXT NOT NULL UNIQUE,
      time TEXT COLLATE "C" NOT NULL,
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
  {
    version: 50,
    name: 'service_tokens',
    sql: `CREATE TABLE service_tokens (
      id TEXT COLLATE "C" PRIMARY KEY,
      name TEXT NOT NULL,
      groups_json TEXT NOT NULL,
      secret_hash TEXT NOT NULL,
      creator TEXT NOT NULL,
      created_at TEXT COLLATE "C" NOT NULL,
      expires_at TEXT NOT NULL,
      last_used_at TEXT,
      revoked_at TEXT,
      revoked_by TEXT
    );`,
  },
  {
    version: 70,
    name: 'sessions',
    sql: `CREATE TABLE sessions (
      id TEXT COLLATE "C" PRIMARY KEY,
      target TEXT NOT NULL,
      user_sub TEXT NOT NULL,
      grant_id TEXT NOT NULL,
      command TEXT NOT NULL,
      title TEXT,
      width INTEGER NOT NULL,
      height INTEGER NOT NULL,
      record_input BOOLEAN NOT NULL,
      started_at TEXT COLLATE "C" NOT NULL,
      ended_at TEXT,
      exit_code INTEGER,
      duration_ms BIGINT,
      incomplete BOOLEAN NOT NULL DEFAULT FALSE,
      closed BOOLEAN NOT NULL DEFAULT FALSE,
      chunks INTEGER NOT NULL DEFAULT 0,
      bytes BIGINT NOT NULL DEFAULT 0,
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
  // 150: a grant's version (issue 19): every update bumps it and names the one it read, so two
  // replicas approving at the same instant cannot both write over the same grant (one retries).
  {
    version: 150,
    name: 'grant_versions',
    sql: 'ALTER TABLE grants ADD COLUMN version BIGINT NOT NULL DEFAULT 0;',
  },
  // 151: recordings in the store (issue 19), so every replica replays and extends the same ones:
  // one row per uploaded chunk (at most 1 MiB), its place in the .cast and its chain hashes.
  {
    version: 151,
    name: 'recording_chunks',
    sql: `CREATE TABLE recording_chunks (
      session_id TEXT COLLATE "C" NOT NULL,
      seq INTEGER NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL,
      byte_offset BIGINT NOT NULL,
      data BYTEA NOT NULL,
      PRIMARY KEY (session_id, seq)
    );`,
  },
];
