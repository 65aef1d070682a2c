import { rm } from 'node:fs/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { GATE_BIN, gateEnv, runGate } from '../helpers/gate-bin.js';
import { type HttpUpstream, startHttpUpstream } from '../helpers/http-upstream.js';
import { type Stack, startStack } from '../helpers/stack.js';

// The MCP SDK's Client over stdio against the built `gate mcp`, calling an
// HTTP target (a real HTTPS API in its own process) with gate_http: the
// gateway's rules, approvals, masking and credential injection apply as for
// `gate connect`, and a revoked grant ends what the agent may do.

const TOKEN = 'billing-ro-token-mcp-e2e-3a9f71c2';

let pki: TestPki;
let up: HttpUpstream;
let stack: Stack;
let env: NodeJS.ProcessEnv;
let carolEnv: NodeJS.ProcessEnv;
let agent: Client;
let agentStderr = '';
const dirs: string[] = [];
/** Everything the agent's side saw, checked for the credential at the end. */
const visible: string[] = [];

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };
type HttpResult = { status: number; headers: Record<string, string>; body: unknown; truncated: boolean; grant_id: string };

async function call(name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
  const r = (await agent.callTool({ name, arguments: args })) as ToolResult;
  visible.push(JSON.stringify(r));
  return r;
}
const text = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('\n');
const errorOf = (r: ToolResult) => (r.structuredContent as { error: Record<string, string> }).error;

beforeAll(async () => {
  pki = await createTestPki();
  up = await startHttpUpstream({ pki, bearer: TOKEN });
  process.env.E2E_MCP_HTTP_CA = pki.ca.cert;
  process.env.E2E_MCP_HTTP_TOKEN = TOKEN;
  stack = await startStack({
    configYaml: `
admins: [platform]
targets:
  billing:
    type: http
    address: ${up.origin}/api
    description: billing API
    tls: { ca: env:E2E_MCP_HTTP_CA }
    roles:
      read: { bearer: env:E2E_MCP_HTTP_TOKEN }
    guardrails:
      - { deny: { methods: [DELETE], paths: ['/v1/customers/**'] }, message: 'customers are not deleted through the API' }
      - { require_approval: { methods: [POST], paths: ['/v1/refunds'] }, message: 'refunds need approval' }
    masking: { json_fields: [card.number, '**.ssn', customers.*.email], detectors: [email, credit_card] }
policies:
  - { name: eng-billing, groups: [engineering], targets: [billing], roles: [read], max_duration: 1h, approval: auto }
`,
  });
  env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: await stack.loginAs('alice') });
  carolEnv = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: await stack.loginAs('carol') });
  dirs.push(env.GATE_CONFIG_DIR!, carolEnv.GATE_CONFIG_DIR!);
  const transport = new StdioClientTransport({ command: process.execPath, args: [GATE_BIN, 'mcp'], env: env as Record<string, string>, stderr: 'pipe' });
  transport.stderr?.on('data', (c: Buffer) => {
    agentStderr += c.toString();
  });
  agent = new Client({ name: 'http-agent', version: '0.1' });
  await agent.connect(transport);
});

afterAll(async () => {
  await agent?.close();
  await stack?.close();
  await up?.close();
  await pki?.cleanup?.();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('gate_http through gate mcp', () => {
  test('is offered with its input schema, and gate_targets shows the HTTP rules before the agent tries', async () => {
    const { tools } = await agent.listTools();
    const http = tools.find((t) => t.name === 'gate_http')!;
    expect(Object.keys(http.inputSchema.properties ?? {})).toEqual(expect.arrayContaining(['target', 'method', 'path', 'headers', 'body']));
    expect(http.inputSchema.required).toEqual(expect.arrayContaining(['target', 'method', 'path']));
    const r = await call('gate_targets');
    const billing = (r.structuredContent as { targets: { name: string; type: string; rules: { kind: string }[]; masked_fields: string[] }[] }).targets.find((t) => t.name === 'billing')!;
    expect(billing.type).toBe('http');
    expect(billing.rules.map((x) => x.kind)).toEqual(['deny', 'require_approval']);
    expect(billing.masked_fields).toEqual(['card.number', '**.ssn', 'customers.*.email']);
    expect(text(r)).toContain('customers are not deleted through the API');
  });

  test('an allowed GET reaches the API with the injected credential and returns status, headers and JSON', async () => {
    const before = up.seen.length;
    const r = await call('gate_http', { target: 'billing', method: 'GET', path: '/v1/invoices?limit=5', headers: { Authorization: 'Bearer agents-own' } });
    expect(r.isError, text(r)).toBeFalsy();
    const s = r.structuredContent as unknown as HttpResult;
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('application/json');
    expect(s.body).toEqual({ invoices: [{ id: 'in_1', amount: 4200 }] });
    expect(s.truncated).toBe(false);
    expect(up.seen.slice(before)).toEqual([expect.objectContaining({ method: 'GET', url: '/api/v1/invoices?limit=5', authorization: `Bearer ${TOKEN}` })]);
  });

  test('a denied DELETE is a tool error naming the rule, and never reaches the API', async () => {
    const before = up.seen.length;
    const r = await call('gate_http', { target: 'billing', method: 'DELETE', path: '/v1/customers/1' });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('customers are not deleted through the API');
    expect(errorOf(r)).toMatchObject({ outcome: 'denied', code: 'guardrail_denied' });
    expect(errorOf(r).rule).toBeTruthy();
    expect(up.seen.slice(before)).toEqual([]);
  });

  test('a held POST carries an approval id; approved by another user, the same call passes once', async () => {
    const args = { target: 'billing', method: 'POST', path: '/v1/refunds', headers: { 'content-type': 'application/json' }, body: '{"invoice":"in_1"}' };
    const before = up.seen.length;
    const held = await call('gate_http', args);
    expect(held.isError).toBe(true);
    const id = errorOf(held).approval_id!;
    expect(id).toMatch(/^a_/);
    expect(errorOf(held).outcome).toBe('held');
    expect(text(held)).toContain('gate_grant_status');
    expect(text(held)).toContain('refunds need approval');
    expect(up.seen.slice(before)).toEqual([]);

    const approved = await runGate(['approve', id], { env: carolEnv });
    expect(approved.code, approved.stderr).toBe(0);
    const status = await call('gate_grant_status', { id });
    expect((status.structuredContent as { state: string }).state).toBe('approved');

    const ok = await call('gate_http', args);
    expect(ok.isError, text(ok)).toBeFalsy();
    expect(ok.structuredContent).toMatchObject({ status: 201, body: { refund: 'rf_1', body: '{"invoice":"in_1"}' } });
    const again = await call('gate_http', args);
    expect(again.isError).toBe(true);
    expect(errorOf(again).outcome).toBe('held');
  });

  test('masked JSON fields and detected values are masked in what the agent gets', async () => {
    const r = await call('gate_http', { target: 'billing', method: 'GET', path: '/v1/customers' });
    expect(r.isError, text(r)).toBeFalsy();
    const doc = (r.structuredContent as unknown as HttpResult).body as {
      card: { number: string; brand: string };
      ssn: string;
      customers: { email: string; profile: { ssn: string; note: string } }[];
    };
    expect(doc.card).toEqual({ number: '****', brand: 'mastercard' });
    expect(doc.ssn).toBe('****');
    expect(doc.customers.map((c) => c.email)).toEqual(['****', '****']);
    expect(doc.customers[1]!.profile.note).toBe('card **** **** **** 1111 on file');
    expect(text(r)).not.toContain('5555555555554444');
    expect(text(r)).not.toContain('ann@example.com');
  });

  test('a body larger than max_bytes comes back cut, with truncated: true', async () => {
    const r = await call('gate_http', { target: 'billing', method: 'GET', path: '/v1/note', max_bytes: 10 });
    expect(r.isError, text(r)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ status: 200, truncated: true, body: 'Reach me a' });
  });

  test('a revoked grant ends it: the next call says the grant was revoked and how to get a new one', async () => {
    const first = await call('gate_http', { target: 'billing', method: 'GET', path: '/v1/invoices' });
    const grantId = (first.structuredContent as unknown as HttpResult).grant_id;
    expect(grantId).toMatch(/^g_/);
    const revoked = await runGate(['revoke', grantId], { env: carolEnv });
    expect(revoked.code, revoked.stderr).toBe(0);

    const before = up.seen.length;
    const r = await call('gate_http', { target: 'billing', method: 'GET', path: '/v1/invoices' });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain(`${grantId} on billing/read was revoked`);
    expect(text(r)).toContain('gate_request_access');
    expect(errorOf(r)).toMatchObject({ grant_id: grantId, grant_state: 'revoked', next: 'gate_request_access' });
    // Not quietly replaced by a new grant: the agent must ask.
    const still = await call('gate_http', { target: 'billing', method: 'GET', path: '/v1/invoices' });
    expect(still.isError).toBe(true);
    expect(text(still)).toContain('gate_request_access');
    expect(up.seen.slice(before)).toEqual([]);

    const again = await call('gate_request_access', { target: 'billing', role: 'read', reason: 'continue the billing check' });
    expect(again.isError, text(again)).toBeFalsy();
    const ok = await call('gate_http', { target: 'billing', method: 'GET', path: '/v1/invoices' });
    expect(ok.isError, text(ok)).toBeFalsy();
    expect((ok.structuredContent as unknown as HttpResult).grant_id).not.toBe(grantId);
  });

  test('the API credential never reaches the agent', () => {
    visible.push(agentStderr);
    expect(visible.join('\n')).not.toContain(TOKEN);
  });
});
