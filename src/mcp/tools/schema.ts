import { z } from 'zod';
import { offeredTarget } from '../context.js';
import { grantForCall } from '../grant.js';
import { withPgTunnel } from '../pg-tunnel.js';
import type { ToolDefinition } from '../tool.js';
import { sqlError } from './sql.js';

const input = {
  target: z.string().describe('a Postgres target name from gate_targets'),
  schema: z.string().optional().describe('only this schema (default: every schema except pg_catalog and information_schema)'),
  table: z.string().optional().describe('only this table'),
};

const COLUMNS_SQL = `select c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type, c.is_nullable
  from information_schema.columns c
  join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
 where c.table_schema not in ('pg_catalog', 'information_schema')
   and ($1::text is null or c.table_schema = $1)
   and ($2::text is null or c.table_name = $2)
 order by c.table_schema, c.table_name, c.ordinal_position
 limit 5000`;

interface ColumnRow {
  table_schema: string;
  table_name: string;
  table_type: string;
  column_name: string;
  data_type: string;
  is_nullable: string;
}

export const schemaTool: ToolDefinition<typeof input> = {
  name: 'gate_schema',
  title: 'Tables and columns of a Postgres target',
  description:
    'Lists the tables and views you can see on a Postgres target, with each column\'s name, type and nullability, read ' +
    'through the gateway under your active grant. Columns the gateway masks are flagged masked: true (their values ' +
    'come back as ****), so you can write correct SQL. Errors as for gate_sql (no active grant: call gate_request_access).',
  input,
  readOnly: true,
  async run(mcp, args) {
    const target = await offeredTarget(mcp, args.target, ['postgres']);
    const grant = await grantForCall(mcp, target);
    const masked = new Set((target.masking?.columns ?? []).map((c) => c.toLowerCase()));
    const rows = await withPgTunnel(mcp, target, grant, async (client) => {
      try {
        return (await client.query<ColumnRow>(COLUMNS_SQL, [args.schema ?? null, args.table ?? null])).rows;
      } catch (err) {
        throw sqlError(err as never, target.name);
      }
    });
    const tables: { schema: string; name: string; type: string; columns: { name: string; type: string; nullable: boolean; masked: boolean }[] }[] = [];
    for (const r of rows) {
      let t = tables.at(-1);
      if (!t || t.schema !== r.table_schema || t.name !== r.table_name) {
        t = { schema: r.table_schema, name: r.table_name, type: r.table_type === 'VIEW' ? 'view' : 'table', columns: [] };
        tables.push(t);
      }
      t.columns.push({ name: r.column_name, type: r.data_type, nullable: r.is_nullable === 'YES', masked: masked.has(r.column_name.toLowerCase()) });
    }
    const text =
      tables.length === 0
        ? `No tables visible on ${target.name}${args.schema ? ` in schema ${args.schema}` : ''}${args.table ? ` named ${args.table}` : ''}.`
        : tables
            .map((t) => `${t.schema}.${t.name} (${t.type}): ${t.columns.map((c) => `${c.name} ${c.type}${c.masked ? ' [masked]' : ''}`).join(', ')}`)
            .join('\n');
    return { structured: { target: target.name, tables }, text, target: target.name, grantId: grant.id };
  },
};
