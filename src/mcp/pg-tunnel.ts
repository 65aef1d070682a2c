import pg from 'pg';
import type { GrantWire, TargetSummary } from '../api/wire-grants.js';
import type { McpContext } from './context.js';
import { ToolError } from './tool-error.js';
import { openToolTunnel } from './tunnel.js';

/**
 * Runs `fn` with a `pg` client whose socket is one tunnel to the gateway,
 * opened in-process (no loopback listener): the gateway's guardrails,
 * masking, approvals and audit apply as to any psql, and its statements
 * carry this MCP session's id and correlation id. Notices are collected.
 */
export async function withPgTunnel<T>(
  mcp: McpContext,
  target: TargetSummary,
  grant: GrantWire,
  fn: (client: pg.Client, notices: string[]) => Promise<T>,
): Promise<T> {
  const socket = await openToolTunnel(mcp, target, grant);
  // pg calls connect() on its stream; this one is connected already (the upgrade), so only say so.
  const connected = Object.assign(socket, {
    connect() {
      process.nextTick(() => socket.emit('connect'));
      return socket;
    },
  });
  const user = target.roles.find((r) => r.role === grant.role)?.username ?? grant.role;
  const client = new pg.Client({
    stream: () => connected,
    user,
    database: target.database ?? 'postgres',
    application_name: 'gate mcp',
    types: { getTypeParser: typeParser },
  } as pg.ClientConfig);
  const notices: string[] = [];
  client.on('notice', (n) => notices.push(n.message ?? String(n)));
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    socket.destroy();
    throw new ToolError('error', `Could not open a session on ${target.name}: ${(err as Error).message}`, { target: target.name });
  }
  try {
    return await fn(client, notices);
  } finally {
    await client.end().catch(() => {});
    socket.destroy();
  }
}

const BOOL = 16;
const NUMBERS = new Set([21, 23, 26, 700, 701]);
const JSONS = new Set([114, 3802]);

/**
 * Values as JSON can carry them without loss: booleans and small numbers as
 * such, json as objects, everything else (int8, numeric, dates) as the text
 * PostgreSQL sent, so nothing is rounded or shifted to a time zone.
 */
function typeParser(oid: number): (value: string) => unknown {
  if (oid === BOOL) return (v) => v === 't';
  if (NUMBERS.has(oid)) return (v) => Number(v);
  if (JSONS.has(oid)) {
    return (v) => {
      try {
        return JSON.parse(v);
      } catch {
        return v;
      }
    };
  }
  return (v) => v;
}

/** Type names for the common OIDs (RowDescription carries only the OID). */
export const TYPE_NAMES: Record<number, string> = {
  16: 'bool',
  17: 'bytea',
  18: 'char',
  19: 'name',
  20: 'int8',
  21: 'int2',
  23: 'int4',
  25: 'text',
  26: 'oid',
  114: 'json',
  142: 'xml',
  700: 'float4',
  701: 'float8',
  869: 'inet',
  1042: 'bpchar',
  1043: 'varchar',
  1082: 'date',
  1083: 'time',
  1114: 'timestamp',
  1184: 'timestamptz',
  1186: 'interval',
  1266: 'timetz',
  1700: 'numeric',
  2950: 'uuid',
  3802: 'jsonb',
  1000: 'bool[]',
  1007: 'int4[]',
  1009: 'text[]',
  1016: 'int8[]',
};

export const typeName = (oid: number): string => TYPE_NAMES[oid] ?? `oid ${oid}`;
