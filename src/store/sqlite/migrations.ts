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
];
