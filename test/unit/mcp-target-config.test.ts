import { describe, expect, test } from 'vitest';
import { fillTemplate } from '../../src/config/mcp-target.js';
import { parseConfig } from '../../src/config/load.js';
import { sseRewriter } from '../../src/gateway/mcp/sse.js';
import { judgeTool, listed } from '../../src/gateway/mcp/tool-policy.js';

/** `${NAME}` written without a template-literal look-alike in a plain string. */
const braces = (inner: string) => ['$', '{', inner, '}'].join('');
const TOKEN_REF = braces('env:TICKETS_MCP_TOKEN');

// The issue's `type: mcp` example, exactly as written there.
const EXAMPLE = `
targets:
  tickets-mcp:
    type: mcp
    address: https://mcp.internal.example/mcp
    tls: { ca: file:/etc/gate/ca.pem }
    roles:
      use: { headers: { Authorization: 'Bearer \${env:TICKETS_MCP_TOKEN}' } }
    tools:
      allow: [search_*, get_*, create_comment]
      deny: [delete_*]
      require_approval: [create_comment]
    masking: { detectors: [email, credit_card] }
`;

describe('type: mcp targets in gate.yaml', () => {
  test("the issue's example loads", () => {
    const t = parseConfig(EXAMPLE).targets['tickets-mcp']!;
    expect(t.type).toBe('mcp');
    if (t.type !== 'mcp') return;
    expect(t.roles.use!.headers.Authorization).toBe(`Bearer ${TOKEN_REF}`);
    expect(t.tools.require_approval).toEqual(['create_comment']);
  });

  test('a placeholder that is not a secret reference is refused, naming the key', () => {
    expect(() => parseConfig(EXAMPLE.replace(TOKEN_REF, braces('TICKETS_MCP_TOKEN')))).toThrow(/Authorization.*not a secret reference/s);
  });

  test('the gateway fills the references in, and only them', async () => {
    const filled = await fillTemplate(`Bearer ${braces('env:T')} (${braces('file:/x')})`, async (ref) => `<${ref}>`);
    expect(filled).toBe('Bearer <env:T> (<file:/x>)');
  });
});

describe('tool rules', () => {
  const tools = { allow: ['search_*', 'get_*', 'create_comment'], deny: ['delete_*', 'get_secret'], require_approval: ['create_comment'] };
  test('deny wins over allow; outside allow is refused; require_approval holds', () => {
    expect(judgeTool(tools, 't', 'get_secret')).toMatchObject({ kind: 'deny', rule: 'deny get_secret' });
    expect(judgeTool(tools, 't', 'delete_issue')).toMatchObject({ kind: 'deny' });
    expect(judgeTool(tools, 't', 'update_issue')).toMatchObject({ kind: 'deny', rule: 'allow' });
    expect(judgeTool(tools, 't', 'create_comment')).toMatchObject({ kind: 'require_approval' });
    expect(judgeTool(tools, 't', 'search_issues')).toEqual({ kind: 'allow' });
  });
  test('a glob matches the whole name, and dots are literal', () => {
    expect(listed({ allow: ['a.b'], deny: [], require_approval: [] }, 'aXb')).toBe(false);
    expect(listed({ allow: ['get_*'], deny: [], require_approval: [] }, 'xget_a')).toBe(false);
  });
});

test('the SSE rewriter edits each JSON-RPC message and keeps the other fields', async () => {
  const rw = sseRewriter((m) => ({ ...(m as object), seen: true }));
  const out: string[] = [];
  rw.on('data', (c: Buffer) => out.push(c.toString()));
  rw.write('id: 1\nevent: message\ndata: {"jsonrpc":"2.0","id":1,');
  rw.write('"result":{}}\n\nid: 2\ndata: not json\n\n');
  rw.end();
  await new Promise((r) => rw.on('end', r));
  expect(out.join('')).toBe('id: 1\nevent: message\ndata: {"jsonrpc":"2.0","id":1,"result":{},"seen":true}\n\nid: 2\ndata: not json\n\n');
});
