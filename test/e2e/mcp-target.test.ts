import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GATE_BIN, gateEnv, type RunningGate, runGate, startGate } from '../helpers/gate-bin.js';
import { freePort } from '../helpers/postgres.js';
import { type Stack, startStack } from '../helpers/stack.js';

// An `mcp` target in front of @modelcontextprotocol/server-everything
// (streamable HTTP), behind a bearer token that only this test's proxy checks
// and only the gate server knows. The agent reaches it with `gate connect`.

const UPSTREAM_TOKEN = 'tickets-upstream-token-93f1c0a7';
const EVERYTHING = resolve(import.meta.dirname, '../../node_modules/@modelcontextprotocol/server-everything/dist/index.js');

let everything: ChildProcess;
let proxy: Server;
let stack: Stack;
let alice: string;
let carol: string;
let env: NodeJS.ProcessEnv;
let connect: RunningGate;
let client: Client;
const seenUnauthorized: string[] = [];
const visible: string[] = [];

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };
const textOf = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('\n');

async function callTool(name: string, args: Record<string, unknown>): Promise<ToolResult> {
  const r = (await client.callTool({ name, arguments: args })) as ToolResult;
  visible.push(JSON.stringify(r));
  return r;
}

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

/** Starts server-everything in streamable-HTTP mode and waits for it to listen. */
async function startEverything(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { env: { PATH: process.env.PATH, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((ok, fail) => {
    let out = '';
    const onData = (c: Buffer) => {
      out += c.toString();
      if (/listening on port/i.test(out)) ok();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => fail(new Error(`server-everything exited (${code}): ${out}`)));
  });
  return child;
}

/** The bearer check the real MCP server would do: 401 without the token, else forwarded. */
function startTokenProxy(upstreamPort: number): Promise<Server> {
  const srv = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${UPSTREAM_TOKEN}`) {
      seenUnauthorized.push(String(req.headers.authorization ?? '(none)'));
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    const up = httpRequest({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(srv)));
}

beforeAll(async () => {
  const port = await freePort();
  everything = await startEverything(port);
  proxy = await startTokenProxy(port);
  process.env.E2E_TICKETS_TOKEN = UPSTREAM_TOKEN;
  stack = await startStack({
    configYaml: `
admins: [platform]
targets:
  tickets:
    type: mcp
    address: http://127.0.0.1:${(proxy.address() as AddressInfo).port}/mcp
    description: the ticket system's MCP server
    roles:
      use: { headers: { Authorization: 'Bearer \${env:E2E_TICKETS_TOKEN}' } }
    tools:
      allow: [echo, get-*]
      deny: [get-env]
      require_approval: [get-sum]
    masking: { detectors: [email] }
policies:
  - { name: agents, groups: [engineering], targets: [tickets], roles: [use], max_duration: 1h, approval: auto }
  - { name: oncall, groups: [dba-oncall], targets: [tickets], roles: [use], max_duration: 1h, approval: { approvers: [platform] } }
`,
  });
  [alice, carol] = [await stack.loginAs('alice'), await stack.loginAs('carol')];
  env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: alice });
  connect = startGate(['connect', 'tickets', '--json'], { env });
  const ready = JSON.parse(await connect.waitFor(/"event":"ready"/, 'stdout')) as { url: string };
  expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  client = new Client({ name: 'e2e-mcp-target', version: '0.0.1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(ready.url)));
});

afterAll(async () => {
  await client?.close().catch(() => {});
  await connect?.stop();
  await stack?.close();
  proxy?.close();
  everything?.kill();
  if (env) await rm(env.GATE_CONFIG_DIR!, { recursive: true, force: true });
});

describe('an mcp target through gate connect', () => {
  test('tools/list shows only the allowed tools', async () => {
    const { tools } = await client.listTools();
    visible.push(JSON.stringify(tools));
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'get-sum', 'get-tiny-image']));
    expect(names).not.toContain('get-env');
    expect(names.filter((n) => n.startsWith('trigger-'))).toEqual([]);
  });

  test('an allowed tool runs with the injected credential, its result through the detectors', async () => {
    const r = await callTool('echo', { message: 'reply to ada@example.com' });
    expect(r.isError).toBeFalsy();
    expect(textOf(r)).toContain('a***@example.com');
    expect(textOf(r)).not.toContain('ada@example.com');
  });

  test("a denied tool is refused with the rule's message and never reaches the server", async () => {
    const r = await callTool('get-env', {});
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/tool get-env is denied on tickets by rule deny: get-env/);
  });

  test('a held tool returns an approval id; approved by an approver (not the caller), the retry runs', async () => {
    const held = await callTool('get-sum', { a: 2, b: 40 });
    expect(held.isError).toBe(true);
    const id = /\b(a_[0-9a-f]+)\b/.exec(textOf(held))?.[1];
    expect(id, textOf(held)).toBeDefined();
    expect(textOf(held)).toContain(`gate approve ${id}`);
    await api('POST', `/v1/approvals/${id}/approve`, carol, {});
    const again = await callTool('get-sum', { a: 2, b: 40 });
    expect(again.isError, textOf(again)).toBeFalsy();
    expect(textOf(again)).toContain('42');
  });

  test('every JSON-RPC request is audited with method, tool, arguments and outcome', async () => {
    const { events } = await api<{ events: { action: string; result: string; details: { method?: string; tool?: string; arguments?: Record<string, unknown> } }[] }>(
      'GET',
      '/v1/audit?target=tickets&limit=500',
      carol,
    );
    const calls = events.filter((e) => e.action === 'mcp.request');
    expect(calls.some((e) => e.details.method === 'initialize')).toBe(true);
    expect(calls.some((e) => e.details.method === 'tools/list')).toBe(true);
    const echo = calls.find((e) => e.details.tool === 'echo')!;
    expect(echo.result).toBe('ok');
    expect(echo.details.arguments).toEqual({ message: 'reply to a***@example.com' });
    expect(calls.find((e) => e.details.tool === 'get-env')!.result).toBe('denied');
    expect(calls.filter((e) => e.details.tool === 'get-sum').map((e) => e.result).sort()).toEqual(['held', 'ok']);
  });

  test('the upstream token never reaches the client side, and only gate called upstream', async () => {
    visible.push(...connect.lines.stdout, ...connect.lines.stderr);
    expect(visible.join('\n')).not.toContain(UPSTREAM_TOKEN);
    expect(seenUnauthorized).toEqual([]);
  });

  test('gate mcp --target offers the target\'s tools under a prefix, next to its own, as one recorded session', async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [GATE_BIN, 'mcp', '--target', 'tickets'], env: env as Record<string, string>, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const agent = new Client({ name: 'prefix-agent', version: '9.9' });
    await agent.connect(transport);
    let sessionId = '';
    try {
      const names = (await agent.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['gate_targets', 'gate_sql', 'tickets__echo', 'tickets__get-sum']));
      expect(names).not.toContain('tickets__get-env');
      const echo = (await agent.callTool({ name: 'tickets__echo', arguments: { message: 'cc bob@example.com' } })) as ToolResult;
      visible.push(JSON.stringify(echo));
      expect(echo.isError).toBeFalsy();
      expect(textOf(echo)).toContain('b***@example.com');
      sessionId = /session ([0-9a-f-]{36})/.exec(stderr)?.[1] ?? '';
    } finally {
      await agent.close();
      visible.push(stderr);
    }
    expect(sessionId, stderr).not.toBe('');
    const shown = await api<{ session: { kind: string }; events: { action: string; details: { tool?: string; method?: string } }[] }>('GET', `/v1/sessions/${sessionId}`, alice);
    expect(shown.session.kind).toBe('mcp');
    expect(shown.events.some((e) => e.action === 'mcp.tool_call' && e.details.tool === 'tickets__echo')).toBe(true);
    // What the gateway saw carries the same session id.
    expect(shown.events.some((e) => e.action === 'mcp.request' && e.details.tool === 'echo')).toBe(true);
  });

  test('revoking the grant ends the session', async () => {
    const { grants } = await api<{ grants: { id: string; target: string; state: string }[] }>('GET', '/v1/grants?state=active', alice);
    const grant = grants.find((g) => g.target === 'tickets')!;
    await api('POST', `/v1/grants/${grant.id}/revoke`, carol, { comment: 'e2e' });
    expect(await connect.exited).toBe(5);
    expect(connect.lines.stdout.some((l) => l.includes('"event":"closed"') && l.includes('revoked'))).toBe(true);
    await expect(client.callTool({ name: 'echo', arguments: { message: 'still there?' } })).rejects.toThrow();
  });

  test('gate mcp --target: after `gate revoke`, the next call says the grant ended and how to get a new one', async () => {
    const carolEnv = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: carol });
    const transport = new StdioClientTransport({ command: process.execPath, args: [GATE_BIN, 'mcp', '--target', 'tickets'], env: env as Record<string, string>, stderr: 'pipe' });
    const agent = new Client({ name: 'revoked-agent', version: '1.0' });
    await agent.connect(transport);
    const call = async (name: string, args: Record<string, unknown>) => {
      const r = (await agent.callTool({ name, arguments: args })) as ToolResult;
      visible.push(JSON.stringify(r));
      return r;
    };
    try {
      expect((await call('tickets__echo', { message: 'before' })).isError).toBeFalsy();
      const { grants } = await api<{ grants: { id: string; target: string }[] }>('GET', '/v1/grants?state=active', alice);
      const grant = grants.find((g) => g.target === 'tickets')!;
      const revoked = await runGate(['revoke', grant.id], { env: carolEnv });
      expect(revoked.code, revoked.stderr).toBe(0);

      const ended = await call('tickets__echo', { message: 'after' });
      expect(ended.isError).toBe(true);
      expect(textOf(ended)).toContain(`${grant.id} on tickets/use was revoked`);
      expect(textOf(ended)).toContain('its tunnel is closed');
      expect(textOf(ended)).toContain('gate_request_access');
      // gate does not quietly take a new grant: the agent must ask for one.
      const still = await call('tickets__echo', { message: 'after' });
      expect(still.isError).toBe(true);
      expect(textOf(still)).toContain('gate_request_access');

      const again = await call('gate_request_access', { target: 'tickets', role: 'use', reason: 'continue triage' });
      expect(again.isError, textOf(again)).toBeFalsy();
      const ok = await call('tickets__echo', { message: 'back' });
      expect(ok.isError, textOf(ok)).toBeFalsy();
      expect(textOf(ok)).toContain('back');
    } finally {
      await agent.close();
      await rm(carolEnv.GATE_CONFIG_DIR!, { recursive: true, force: true });
    }
  });
});
