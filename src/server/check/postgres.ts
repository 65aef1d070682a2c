import { isIP } from 'node:net';
import pg from 'pg';
import type { PostgresTarget } from '../../config/schema.js';
import { isReadNamed, readPrivileges, type RolePrivileges, writesDeniedByGuardrails } from './postgres-privileges.js';
import { reasonOf, withTimeout } from './secrets.js';
import type { CheckItem, ProbeContext } from './types.js';

/** `host:port` (or `[v6]:port`) of a target address. */
export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(i + 1)) };
}

/**
 * Connects as each role with its credential, as the gateway would, and
 * compares what the role may do with what the target's guardrails imply.
 */
export async function checkPostgresTarget(name: string, target: PostgresTarget, ctx: ProbeContext): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  for (const [role, cred] of Object.entries(target.roles)) items.push(await checkRole(name, target, role, cred, ctx));
  return items;
}

async function checkRole(name: string, target: PostgresTarget, role: string, cred: PostgresTarget['roles'][string], ctx: ProbeContext): Promise<CheckItem> {
  const base = { component: 'target', name, role } as const;
  let password: string;
  let ca: string | undefined;
  try {
    password = await ctx.secret(cred.password);
    if (target.tls.ca) ca = await ctx.secret(target.tls.ca);
  } catch (err) {
    return { ...base, status: 'error', message: reasonOf(err) };
  }
  const { host, port } = splitAddress(target.address);
  const ssl =
    target.tls.mode === 'disable'
      ? false
      : { rejectUnauthorized: target.tls.mode === 'verify-full', ca, servername: isIP(host) ? undefined : host };
  const client = new pg.Client({ host, port, database: target.database, user: cred.username, password, ssl, connectionTimeoutMillis: ctx.timeoutMs, application_name: 'gate-check' });
  client.on('error', () => {});
  const where = `${target.address}/${target.database} as ${cred.username}`;
  try {
    const privileges = await withTimeout(`PostgreSQL at ${target.address}`, ctx.timeoutMs, async () => {
      await client.connect();
      return readPrivileges(client);
    });
    return judge(base, where, role, privileges, await writesDeniedByGuardrails(name, target, privileges));
  } catch (err) {
    return { ...base, status: 'error', message: `cannot connect to ${where}: ${reasonOf(err)}` };
  } finally {
    await client.end().catch(() => {});
  }
}

function judge(
  base: Pick<CheckItem, 'component' | 'name' | 'role'>,
  where: string,
  role: string,
  p: RolePrivileges,
  denied: string[],
): CheckItem {
  const problems: string[] = [];
  if (p.superuser) problems.push('it is a superuser (bypasses every privilege and can read the server’s files)');
  if (p.bypassrls) problems.push('it bypasses row-level security (BYPASSRLS)');
  if (p.createrole) problems.push('it can create and grant roles (CREATEROLE)');
  const readNamed = isReadNamed(role);
  if (readNamed && p.createdb) problems.push('it can create databases (CREATEDB)');
  if (readNamed && p.writable.length > 0) {
    problems.push(`the "${role}" role can write: ${summarize(p.writable.map((w) => `${w.privileges.join('/')} on ${w.table}`))}`);
  } else if (denied.length > 0) {
    problems.push(`it may do what the guardrails deny: ${summarize(denied)}`);
  }
  const details = {
    superuser: p.superuser,
    createrole: p.createrole,
    createdb: p.createdb,
    bypassrls: p.bypassrls,
    writable_tables: p.writable.length,
    writable: p.writable.slice(0, 20),
    denied_by_guardrails: denied.slice(0, 20),
  };
  if (problems.length === 0) return { ...base, status: 'ok', message: `connected to ${where}; privileges within what its guardrails imply`, details };
  return { ...base, status: 'warning', message: `connected to ${where}, but the role holds more than gate lets it use: ${problems.join('; ')}`, details };
}

function summarize(list: string[]): string {
  return list.length <= 3 ? list.join(', ') : `${list.slice(0, 3).join(', ')} and ${list.length - 3} more`;
}
