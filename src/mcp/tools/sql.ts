import type pg from 'pg';
import { z } from 'zod';
import type { McpContext } from '../context.js';
import { offeredTarget } from '../context.js';
import { grantForCall } from '../grant.js';
import { typeName, withPgTunnel } from '../pg-tunnel.js';
import { isLinkLost } from '../../tunnel/heartbeat.js';
import { ToolError } from '../tool-error.js';
import type { ToolDefinition } from '../tool.js';

const DEFAULT_MAX_ROWS = 100;
const LIMIT_MAX_ROWS = 10_000;

const input = {
  target: z.string().describe('a Postgres target name from gate_targets'),
  role: z.string().optional().describe('role to use (default: --role, or the only role open to you)'),
  sql: z.string().min(1).describe('one or more SQL statements separated by ";" (one statement when params are given)'),
  params: z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])).optional().describe('values for $1, $2, … (extended protocol)'),
  max_rows: z.number().int().min(1).max(LIMIT_MAX_ROWS).optional().describe(`rows returned per statement (default ${DEFAULT_MAX_ROWS})`),
};

export interface StatementResult {
  command: string;
  row_count: number | null;
  columns: { name: string; type: string; masked?: boolean }[];
  rows: Record<string, unknown>[];
  truncated: boolean;
}

export const sqlTool: ToolDefinition<typeof input> = {
  name: 'gate_sql',
  title: 'Run SQL on a Postgres target through gate',
  description:
    'Runs SQL on a PostgreSQL target through the gate gateway, as you, under your active grant. The gateway applies the ' +
    "target's guardrails, masks the configured columns and detected values (emails, card numbers), and audits every " +
    'statement. Returns, per statement: command tag, row_count, columns (name, type, masked), rows (at most max_rows, ' +
    'with truncated: true when there were more) and the notices. Errors: "denied" names the guardrail that refused the ' +
    'statement (do not retry it); "held" carries an approval id (a_…): a human must approve it, so call gate_grant_status ' +
    'with that id until it is approved, then retry the same call; "no active grant" means call gate_request_access first; ' +
    'other errors carry the PostgreSQL SQLSTATE and message.',
  input,
  async run(mcp: McpContext, args) {
    const target = await offeredTarget(mcp, args.target, ['postgres']);
    const grant = await grantForCall(mcp, target, args.role);
    const maxRows = args.max_rows ?? DEFAULT_MAX_ROWS;
    const masked = new Set((target.masking?.columns ?? []).map((c) => c.toLowerCase()));
    const { statements, notices } = await withPgTunnel(mcp, target, grant, async (client, notices) => {
      const results = await runSql(client, args.sql, args.params, target.name);
      return { statements: results.map((r) => shape(r, maxRows, masked)), notices };
    });
    const structured = { target: target.name, role: grant.role, grant_id: grant.id, statements, notices };
    return { structured, text: summarize(statements, notices), grantId: grant.id, target: target.name };
  },
};

async function runSql(client: pg.Client, sql: string, params: unknown[] | undefined, target: string): Promise<pg.QueryResult[]> {
  try {
    // Without params pg uses the simple protocol: several statements answer with one result each.
    const result = params && params.length > 0 ? await client.query(sql, params) : await client.query(sql);
    return Array.isArray(result) ? (result as pg.QueryResult[]) : [result];
  } catch (err) {
    throw sqlError(err as pg.DatabaseError, target);
  }
}

/** The gateway's refusals (guardrail, approval) and PostgreSQL's errors, as the agent must read them. */
export function sqlError(err: pg.DatabaseError, target: string): ToolError {
  if (isLinkLost(err)) {
    return new ToolError('error', `gate: ${err.message}. Whether the statement ran on ${target} is unknown: check before running it again.`, {
      target,
      reason: 'link_lost',
    });
  }
  const message = String(err?.message ?? err);
  const sqlstate = err?.code;
  const approval = /\b(a_[0-9a-z]+)\b/i.exec(message)?.[1];
  if (approval && /held for approval|waiting for approval|pending/i.test(message)) {
    return new ToolError(
      'held',
      `The statement is held for approval (${approval}): ${message}. A human approver must run \`gate approve ${approval}\`. ` +
        `Call gate_grant_status with {"id": "${approval}"} until its state is approved, then retry this exact gate_sql call.`,
      { target, approval_id: approval, sqlstate, next: 'gate_grant_status' },
    );
  }
  // The gateway's own refusals start "gate:"; a guardrail's is SQLSTATE 42501 (its text is the rule's message).
  if (/^gate:/.test(message) && (sqlstate === '42501' || /denied/i.test(message))) {
    return new ToolError('denied', `The statement was refused by a guardrail on ${target}: ${message}. Do not retry it as is.`, {
      target,
      rule: message.replace(/^gate:\s*/, ''),
      sqlstate,
      ...(approval ? { approval_id: approval } : {}),
    });
  }
  if (/^gate:/.test(message)) return new ToolError('error', message, { target, sqlstate });
  return new ToolError('error', `PostgreSQL error${sqlstate ? ` ${sqlstate}` : ''} on ${target}: ${message}`, { target, sqlstate });
}

function shape(r: pg.QueryResult, maxRows: number, masked: Set<string>): StatementResult {
  const columns = (r.fields ?? []).map((f) => ({
    name: f.name,
    type: masked.has(f.name.toLowerCase()) ? 'text' : typeName(f.dataTypeID),
    ...(masked.has(f.name.toLowerCase()) ? { masked: true } : {}),
  }));
  const rows = r.rows ?? [];
  return {
    command: [r.command, r.command === 'INSERT' ? '0' : undefined, r.rowCount ?? undefined].filter((x) => x !== undefined && x !== null).join(' '),
    row_count: r.rowCount ?? null,
    columns,
    rows: rows.slice(0, maxRows),
    truncated: rows.length > maxRows,
  };
}

function summarize(statements: StatementResult[], notices: string[]): string {
  const parts = statements.map((s) => {
    const head = `${s.command}${s.truncated ? ` (first ${s.rows.length} rows shown)` : ''}`;
    if (s.columns.length === 0) return head;
    return `${head}\n${JSON.stringify({ columns: s.columns, rows: s.rows })}`;
  });
  if (notices.length > 0) parts.push(`notices: ${notices.join(' | ')}`);
  return parts.join('\n\n');
}
