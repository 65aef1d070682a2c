import { rm } from 'node:fs/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GATE_BIN, gateEnv, runGate } from '../helpers/gate-bin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Stack, startStack } from '../helpers/stack.js';

// The MCP SDK's own Client, over stdio, against the built `gate mcp`, as an
// agent host (Claude Code, Cursor, …) runs it: real server, real PostgreSQL.

const AGENT_PASSWORD = 'agent-target-secret-7c2d41';

let pg: TestPostgres;
let stack: Stack;
let aliceToken: string;
let bobToken: string;
let env: NodeJS.ProcessEnv;
const dirs: string[] = [];
const visible: string[] = [];

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };

async function connectAgent(extraArgs: string[] = []): Promise<{ client: Client; stderr: () => string; close(): Promise<void> }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [GATE_BIN, 'mcp', ...extraArgs],
    env: env as Record<string, string>,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const client = new Client({ name: 'e2e-agent', version: '1.2.3' });
  await client.connect(transport);
  return {
    client,
    stderr: () => stderr,
    async close() {
      await client.close();
      visible.push(stderr);
    },
  };
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
  const r = (await client.callTool({ name, arguments: args })) as ToolResult;
  visible.push(JSON.stringify(r));
  return r;
}

const text = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('\n');

async function api<T>(method: string, path: string, token: string, body?: unknown): Promise<T> {
  const res = await request(`${stack.url}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.body.json()) as T;
  if (res.statusCode >= 400) throw new Error(`${method} ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
  return json;
}

beforeAll(async () => {
  pg = await startPostgres();
  await pg.query(`create role agent login password '${AGENT_PASSWORD}'`);
  await pg.query('create table customers (id int primary key, name text, email text, note text)');
  await pg.query(
    `insert into customers values (1, 'Ada', 'ada@example.com', 'card 4111 1111 1111 1111'), (2, 'Bob', 'bob@example.com', 'none'), (3, 'Cy', 'cy@example.com', 'x')`,
  );
  await pg.query('grant select, update on customers to agent');
  process.env.E2E_MCP_AGENT_PASSWORD = AGENT_PASSWORD;
  stack = await startStack({
    configYaml: `
admins: [platform]
targets:
  db:
    type: postgres
    address: 127.0.0.1:${pg.port}
    database: postgres
    description: customer database
    roles:
      read: { username: agent, password: env:E2E_MCP_AGENT_PASSWORD }
      write: { username: agent, password: env:E2E_MCP_AGENT_PASSWORD }
    guardrails:
      - { deny: '^\\s*drop\\s', message: 'DROP is never allowed on db' }
      - { require_approval: '^\\s*update\\b' }
    masking: { columns: [email], detectors: [credit_card] }
policies:
  - { name: eng-read,  groups: [engineering], targets: [db], roles: [read],  max_duration: 1h, approval: auto }
  - { name: eng-write, groups: [engineering], targets: [db], roles: [write], max_duration: 1h, approval: { approvers: [dba-oncall] } }
`,
  });
  aliceToken = await stack.loginAs('alice');
  bobToken = await stack.loginAs('bob');
  env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: aliceToken });
  dirs.push(env.GATE_CONFIG_DIR!);
});

afterAll(async () => {
  await stack?.close();
  await pg?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('gate mcp over stdio with the SDK client', () => {
  let sessionId = '';

  test('lists its tools with descriptions and input schemas', async () => {
    const agent = await connectAgent();
    try {
      const { tools } = await agent.client.listTools();
      const names = tools.map((t) => t.name).sort();
      expect(names).toEqual(['gate_grant_status', 'gate_http', 'gate_kubectl', 'gate_request_access', 'gate_schema', 'gate_sql', 'gate_targets']);
      const sql = tools.find((t) => t.name === 'gate_sql')!;
      expect(Object.keys(sql.inputSchema.properties ?? {}).sort()).toEqual(['max_rows', 'params', 'role', 'sql', 'target']);
      expect(sql.inputSchema.required).toEqual(expect.arrayContaining(['target', 'sql']));
      expect(sql.description).toMatch(/gate_grant_status/);
      const req = tools.find((t) => t.name === 'gate_request_access')!;
      expect(req.inputSchema.required).toEqual(expect.arrayContaining(['target', 'role', 'reason']));
      expect(agent.client.getServerVersion()?.name).toBe('gate');
    } finally {
      await agent.close();
    }
  });

  test('gate_targets shows the guardrails and masked columns before the agent tries', async () => {
    const agent = await connectAgent();
    try {
      const r = await call(agent.client, 'gate_targets');
      expect(r.isError).toBeFalsy();
      const targets = (r.structuredContent as { targets: { name: string; masked_columns: string[]; guardrails: { kind: string }[] }[] }).targets;
      const db = targets.find((t) => t.name === 'db')!;
      expect(db.masked_columns).toEqual(['email']);
      expect(db.guardrails.map((g) => g.kind)).toEqual(['deny', 'require_approval']);
      expect(text(r)).toContain('DROP is never allowed on db');
    } finally {
      await agent.close();
    }
  });

  test('gate_request_access with an approval policy returns pending at once, with approvers and how to check', async () => {
    const agent = await connectAgent();
    try {
      const r = await call(agent.client, 'gate_request_access', { target: 'db', role: 'write', reason: 'e2e: fix a typo' });
      expect(r.isError).toBeFalsy();
      const grant = (r.structuredContent as { grant: { id: string; state: string; approvers: string[] } }).grant;
      expect(grant.state).toBe('pending');
      expect(grant.id).toMatch(/^g_/);
      expect(grant.approvers).toEqual(['dba-oncall']);
      expect(text(r)).toContain('gate_grant_status');
      const status = await call(agent.client, 'gate_grant_status', { id: grant.id });
      expect((status.structuredContent as { state: string }).state).toBe('pending');
    } finally {
      await agent.close();
    }
  });

  test('gate_sql returns rows with the masked column masked and card numbers detected, as one mcp session', async () => {
    const agent = await connectAgent(['--target', 'db', '--correlation-id', 'e2e-mcp-run']);
    try {
      const r = await call(agent.client, 'gate_sql', { target: 'db', role: 'read', sql: 'select id, name, email, note from customers order by id', max_rows: 2 });
      expect(r.isError, text(r)).toBeFalsy();
      const [st] = (r.structuredContent as { statements: { command: string; columns: { name: string; type: string; masked?: boolean }[]; rows: Record<string, unknown>[]; truncated: boolean }[] }).statements;
      expect(st!.command).toBe('SELECT 3');
      expect(st!.columns.map((c) => c.name)).toEqual(['id', 'name', 'email', 'note']);
      expect(st!.columns.find((c) => c.name === 'id')!.type).toBe('int4');
      expect(st!.columns.find((c) => c.name === 'email')!.masked).toBe(true);
      expect(st!.rows).toEqual([
        { id: 1, name: 'Ada', email: '****', note: 'card ****-****-****-1111'.replace(/-/g, ' ') },
        { id: 2, name: 'Bob', email: '****', note: 'none' },
      ]);
      expect(st!.truncated).toBe(true);
      expect(JSON.stringify(r)).not.toContain('ada@example.com');
      sessionId = /session ([0-9a-f-]{36})/.exec(agent.stderr())?.[1] ?? '';
    } finally {
      await agent.close();
    }
    expect(sessionId).not.toBe('');
    // Listed as an mcp session with the client's name and version; the tool call and the gateway's statement carry its id.
    const { sessions } = await api<{ sessions: { id: string; kind: string; client: string; closed: boolean }[] }>('GET', '/v1/sessions', aliceToken);
    const s = sessions.find((x) => x.id === sessionId)!;
    expect(s.kind).toBe('mcp');
    expect(s.client).toBe('e2e-agent/1.2.3');
    const shown = await runGate(['sessions', 'show', sessionId, '--json'], { env });
    expect(shown.code, shown.stderr).toBe(0);
    const events = JSON.parse(shown.stdout).events as { action: string; correlation_id: string; details: Record<string, unknown> }[];
    const toolCall = events.find((e) => e.action === 'mcp.tool_call')!;
    expect(toolCall.details.tool).toBe('gate_sql');
    expect(toolCall.details.outcome).toBe('ok');
    expect(toolCall.correlation_id).toBe('e2e-mcp-run');
    expect(events.some((e) => e.action.startsWith('pg.') && e.correlation_id === 'e2e-mcp-run')).toBe(true);
    // The recording is what the agent saw.
    const res = await request(`${stack.url}/v1/sessions/${sessionId}/recording`, { headers: { authorization: `Bearer ${aliceToken}` } });
    const cast = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(cast).toContain('gate_sql');
    expect(cast).toContain('****');
    expect(cast).not.toContain('ada@example.com');
  });

  test('a denied statement is a tool error naming the rule', async () => {
    const agent = await connectAgent();
    try {
      const r = await call(agent.client, 'gate_sql', { target: 'db', role: 'read', sql: 'drop table customers' });
      expect(r.isError).toBe(true);
      expect(text(r)).toContain('DROP is never allowed on db');
      expect((r.structuredContent as { error: { outcome: string } }).error.outcome).toBe('denied');
    } finally {
      await agent.close();
    }
    expect((await pg.query('select count(*)::int as n from customers'))[0]!.n).toBe(3);
  });

  test('a held statement returns an approval id; approved by another user, the retry passes', async () => {
    const agent = await connectAgent();
    try {
      const sql = "update customers set name = 'Adah' where id = 1";
      const held = await call(agent.client, 'gate_sql', { target: 'db', role: 'read', sql });
      expect(held.isError).toBe(true);
      const err = (held.structuredContent as { error: { outcome: string; approval_id: string } }).error;
      expect(err.outcome).toBe('held');
      expect(err.approval_id).toMatch(/^a_/);
      expect(text(held)).toContain('gate_grant_status');
      expect((await pg.query<{ name: string }>('select name from customers where id = 1'))[0]!.name).toBe('Ada');

      await api('POST', `/v1/approvals/${err.approval_id}/approve`, bobToken, {});
      const status = await call(agent.client, 'gate_grant_status', { id: err.approval_id });
      expect((status.structuredContent as { state: string }).state).toBe('approved');

      const again = await call(agent.client, 'gate_sql', { target: 'db', role: 'read', sql });
      expect(again.isError, text(again)).toBeFalsy();
      expect((again.structuredContent as { statements: { command: string }[] }).statements[0]!.command).toBe('UPDATE 1');
      expect((await pg.query<{ name: string }>('select name from customers where id = 1'))[0]!.name).toBe('Adah');
    } finally {
      await agent.close();
    }
  });

  test('gate_schema lists tables and columns with the masked column flagged', async () => {
    const agent = await connectAgent(['--role', 'read']);
    try {
      const r = await call(agent.client, 'gate_schema', { target: 'db', table: 'customers' });
      expect(r.isError, text(r)).toBeFalsy();
      const tables = (r.structuredContent as { tables: { schema: string; name: string; columns: { name: string; type: string; masked: boolean }[] }[] }).tables;
      expect(tables).toHaveLength(1);
      expect(tables[0]!.name).toBe('customers');
      expect(tables[0]!.columns.map((c) => [c.name, c.masked])).toEqual([
        ['id', false],
        ['name', false],
        ['email', true],
        ['note', false],
      ]);
    } finally {
      await agent.close();
    }
  });

  test('--target narrows what is offered, and no secret reached the agent', async () => {
    const agent = await connectAgent(['--target', 'nope']);
    try {
      const r = await call(agent.client, 'gate_sql', { target: 'db', sql: 'select 1' });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/No target "db" is offered/);
    } finally {
      await agent.close();
    }
    expect(visible.join('\n')).not.toContain(AGENT_PASSWORD);
  });
});
