import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { meResponse } from '../api/wire.js';
import type { CliContext } from '../cli/context.js';
import { VERSION } from '../version.js';
import { type McpContext, offeredTargets } from './context.js';
import { offerRemoteTools, type RemoteTools } from './remote-tools.js';
import { startMcpSession } from './session.js';
import { registerTool } from './tool.js';
import { kubectlTool } from './tools/kubectl.js';
import { grantStatusTool } from './tools/grant-status.js';
import { httpTool } from './tools/http.js';
import { requestAccessTool } from './tools/request-access.js';
import { schemaTool } from './tools/schema.js';
import { sqlTool } from './tools/sql.js';
import { targetsTool } from './tools/targets.js';

export interface McpServeOptions {
  server: string;
  targets: string[];
  role?: string;
  reason?: string;
  autoRequest: boolean;
  /** The command line, for the session's listing. */
  command: string;
}

const INSTRUCTIONS =
  'gate gives you just-in-time, audited access to production targets. Start with gate_targets to see what you may use ' +
  'and the rules in force. Data tools (gate_sql, gate_schema, gate_kubectl, gate_http) need an active grant: get one with ' +
  'gate_request_access. A pending grant or a held statement needs a human: check with gate_grant_status, never loop ' +
  'quickly. Everything you do is recorded and audited under your user.';

/**
 * `gate mcp`: an MCP server on stdin/stdout, as the logged-in identity. One
 * run is one gate session (kind `mcp`), created when the client initializes
 * and closed when stdin ends or gate is stopped.
 */
export async function serveMcp(cli: CliContext, opts: McpServeOptions): Promise<void> {
  const client = cli.client(opts.server);
  // Fail before the client connects when nobody is logged in: the agent's host shows stderr.
  const me = await client.call('GET', '/v1/me', meResponse, { signal: cli.signal });
  const mcp: McpContext = {
    cli,
    server: opts.server,
    client,
    targets: opts.targets,
    role: opts.role,
    reason: opts.reason,
    autoRequest: opts.autoRequest,
    sessionId: randomUUID(),
  };
  const server = new McpServer({ name: 'gate', title: 'gate', version: VERSION }, { instructions: INSTRUCTIONS, capabilities: { tools: {} } });
  for (const tool of [targetsTool, requestAccessTool, grantStatusTool, sqlTool, schemaTool, kubectlTool, httpTool]) {
    registerTool(server, mcp, tool as never);
  }
  // An `mcp` target named with --target: its tools are offered next to gate's own, prefixed.
  const remotes: RemoteTools[] = [];
  if (opts.targets.length > 0) {
    for (const t of (await offeredTargets(mcp)).filter((x) => x.type === 'mcp')) {
      try {
        remotes.push(await offerRemoteTools(server, mcp, t));
      } catch (err) {
        cli.io.stderr.write(`gate mcp: the tools of ${t.name} are not offered: ${(err as Error).message}\n`);
      }
    }
  }
  server.server.oninitialized = () => {
    const info = server.server.getClientVersion();
    mcp.sessionReady = startMcpSession({
      id: mcp.sessionId,
      client,
      configDir: cli.env.configDir,
      user: me.sub,
      targets: opts.targets,
      command: opts.command,
      clientInfo: info ? `${info.name}/${info.version}` : undefined,
      correlationId: cli.env.correlationId,
    }).then((s) => {
      mcp.session = s;
      cli.io.stderr.write(`gate mcp: session ${s.id} started as ${me.email ?? me.sub}\n`);
    }, (err: unknown) => {
      cli.io.stderr.write(`gate mcp: the session is not recorded: ${(err as Error).message}\n`);
    });
  };

  const { stdin, stdout } = cli.io;
  const transport = new StdioServerTransport(stdin, stdout);
  const closed = new Promise<void>((resolve) => {
    const done = () => resolve();
    stdin.once('end', done);
    stdin.once('close', done);
    transport.onclose = done;
    cli.signal.addEventListener('abort', done, { once: true });
  });
  await server.connect(transport);
  await closed;
  await server.close().catch(() => {});
  await mcp.sessionReady;
  for (const r of remotes) await r.close();
  await mcp.session?.close();
}
