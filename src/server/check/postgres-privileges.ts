import type pg from 'pg';
import type { PostgresTarget } from '../../config/schema.js';
import { explainQuery } from '../../gateway/sql/explain.js';
import { loadSqlParser } from '../../gateway/sql/index.js';

/** What a role may do in the database, read from the catalog as that role. */
export interface RolePrivileges {
  superuser: boolean;
  createrole: boolean;
  createdb: boolean;
  bypassrls: boolean;
  /** Tables (and views) the role may write, with the write privileges it holds on each. */
  writable: { table: string; privileges: WritePrivilege[] }[];
}

export type WritePrivilege = 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE';
const WRITES: WritePrivilege[] = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'];

export async function readPrivileges(client: pg.Client): Promise<RolePrivileges> {
  const attrs = (
    await client.query<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolbypassrls: boolean }>(
      'SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = current_user',
    )
  ).rows[0];
  const { rows } = await client.query<{ t: string; ins: boolean; upd: boolean; del: boolean; tru: boolean }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS t,
            has_table_privilege(c.oid, 'INSERT') AS ins, has_table_privilege(c.oid, 'UPDATE') AS upd,
            has_table_privilege(c.oid, 'DELETE') AS del, has_table_privilege(c.oid, 'TRUNCATE') AS tru
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'f', 'm')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      ORDER BY 1`,
  );
  const writable = rows
    .map((r) => ({ table: r.t, privileges: WRITES.filter((_, i) => [r.ins, r.upd, r.del, r.tru][i]) }))
    .filter((r) => r.privileges.length > 0);
  return {
    superuser: !!attrs?.rolsuper,
    createrole: !!attrs?.rolcreaterole,
    createdb: !!attrs?.rolcreatedb,
    bypassrls: !!attrs?.rolbypassrls,
    writable,
  };
}

/** A role named for reading (`read`, `readonly`, `ro`, `reader`, `viewer`, `analytics-read`…). */
export function isReadNamed(role: string): boolean {
  return /(^|[-_])(read|readonly|read[-_]only|ro|reader|view|viewer)([-_]|$)/i.test(role);
}

function probeStatement(priv: WritePrivilege, table: string): string {
  switch (priv) {
    case 'INSERT':
      return `INSERT INTO ${table} DEFAULT VALUES`;
    case 'UPDATE':
      return `UPDATE ${table} SET gate_check = gate_check WHERE gate_check = 1`;
    case 'DELETE':
      return `DELETE FROM ${table} WHERE gate_check = 1`;
    case 'TRUNCATE':
      return `TRUNCATE ${table}`;
  }
}

/**
 * The writes the database allows this role that the target's guardrails
 * deny: the gateway stops them, but the credential itself could do them, so
 * the role holds more than gate will ever let it use.
 */
export async function writesDeniedByGuardrails(targetName: string, target: PostgresTarget, privileges: RolePrivileges): Promise<string[]> {
  if (target.guardrails.length === 0) return [];
  await loadSqlParser();
  const out: string[] = [];
  for (const w of privileges.writable) {
    for (const p of w.privileges) {
      const r = explainQuery(targetName, target, probeStatement(p, w.table));
      if (r.ok && r.decision === 'deny') out.push(`${p} on ${w.table}`);
    }
  }
  return out;
}
