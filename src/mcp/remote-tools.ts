import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { TargetSummary } from '../api/wire-grants.js';
import { openTunnel, type OpenTunnel } from '../cli/tunnel-session.js';
import { VERSION } from '../version.js';
import type { McpContext } from './context.js';
import { grantForCall } from './grant.js';

/** A remote MCP server (an `mcp` target) whose tools `gate mcp` offers under the prefix `<target>__`. */
export interface RemoteTools {
  target: string;
  close(): Promise<void>;
}

/** `tickets-mcp` + `search_issues` → `tickets-mcp__search_issues`, within the characters agent hosts accept. */
export function prefixedName(target: string, tool: string): string {
  return `${target}__${tool}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

/**
 * Connects to an `mcp` target through a local tunnel (the gateway injects its
 * credential and applies its tool rules) and registers each of its tools on
 * `server`, prefixed. A call goes through unchanged: what the gateway refused
 * or held comes back as the tool error it wrote.
 */
export async function offerRemoteTools(server: McpServer, mcp: McpContext, target: TargetSummary): Promise<RemoteTools> {
  const grant = await grantForCall(mcp, target);
  const tunnel: OpenTunnel = await openTunnel(mcp.cli, {
    server: mcp.server,
    grant: { id: grant.id, target: grant.target, role: grant.role, expires_at: grant.expires_at! },
    port: 0,
    sessionId: mcp.sessionId,
  });
  const client = new Client({ name: 'gate-mcp', version: VERSION });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://${tunnel.listener.host}:${tunnel.listener.port}/mcp`)));
    const { tools } = await client.listTools();
    for (const tool of tools) {
      const name = prefixedName(target.name, tool.name);
      server.registerTool(
        name,
        {
          title: `${target.name}: ${tool.title ?? tool.name}`,
          description: `[${target.name}, through gate: audited; calls gate's rules deny are refused, held ones need \`gate approve a_…\` and a retry] ${tool.description ?? ''}`,
          inputSchema: z.fromJSONSchema(tool.inputSchema as Parameters<typeof z.fromJSONSchema>[0]) as z.ZodObject,
          ...(tool.annotations ? { annotations: tool.annotations } : {}),
        },
        (async (args: Record<string, unknown>): Promise<CallToolResult> => {
          await mcp.sessionReady;
          const t0 = performance.now();
          let result: CallToolResult;
          try {
            result = (await client.callTool({ name: tool.name, arguments: args })) as CallToolResult;
          } catch (err) {
            result = { isError: true, content: [{ type: 'text', text: `gate: ${target.name} did not answer: ${(err as Error).message}` }] };
          }
          const gate = (result.structuredContent as { gate?: { outcome?: string; approval_id?: string } } | undefined)?.gate;
          const outcome = result.isError ? (gate?.outcome === 'denied' || gate?.outcome === 'held' ? gate.outcome : 'error') : 'ok';
          await mcp.session?.toolCall({
            tool: name,
            arguments: args,
            outcome,
            resultText: result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n'),
            target: target.name,
            grantId: grant.id,
            approvalId: gate?.approval_id,
            durationMs: performance.now() - t0,
          });
          return result;
        }) as never,
      );
    }
  } catch (err) {
    await client.close().catch(() => {});
    await tunnel.close();
    throw err;
  }
  return {
    target: target.name,
    async close() {
      await client.close().catch(() => {});
      await tunnel.close();
    },
  };
}
