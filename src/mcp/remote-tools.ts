import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { GrantWire, TargetSummary } from '../api/wire-grants.js';
import { openTunnel } from '../cli/tunnel-session.js';
import { VERSION } from '../version.js';
import type { McpContext } from './context.js';
import { grantForCall } from './grant.js';
import { ToolError } from './tool-error.js';

/** A remote MCP server (an `mcp` target) whose tools `gate mcp` offers under the prefix `<target>__`. */
export interface RemoteTools {
  target: string;
  close(): Promise<void>;
}

/** `tickets-mcp` + `search_issues` → `tickets-mcp__search_issues`, within the characters agent hosts accept. */
export function prefixedName(target: string, tool: string): string {
  return `${target}__${tool}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

/** One MCP client session with the target over one local tunnel, under one grant. */
interface Link {
  grant: GrantWire;
  client: Client;
  /** Set once the grant ended (revoked, expired) or the tunnel failed: the link is closed and is not used again. */
  ended: boolean;
  close(): Promise<void>;
}

/** Connects to an `mcp` target through a local tunnel: the gateway injects its credential and applies its tool rules. */
async function openLink(mcp: McpContext, grant: GrantWire): Promise<Link> {
  const tunnel = await openTunnel(mcp.cli, {
    server: mcp.server,
    grant: { id: grant.id, target: grant.target, role: grant.role, expires_at: grant.expires_at! },
    port: 0,
    sessionId: mcp.sessionId,
  });
  const client = new Client({ name: 'gate-mcp', version: VERSION });
  let closing: Promise<void> | undefined;
  const link: Link = {
    grant,
    client,
    ended: false,
    close() {
      link.ended = true;
      closing ??= (async () => {
        await client.close().catch(() => {});
        await tunnel.close();
      })();
      return closing;
    },
  };
  // The grant ended: close the tunnel now, so nothing more reaches the target under it.
  void tunnel.ended.then(() => link.close());
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://${tunnel.listener.host}:${tunnel.listener.port}/mcp`)));
  } catch (err) {
    await link.close();
    throw err;
  }
  return link;
}

function toolErrorResult(e: ToolError): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: e.message }], structuredContent: { error: { outcome: e.outcome, message: e.message, ...e.data } } };
}

/**
 * Registers each of an `mcp` target's tools on `server`, prefixed. A call goes
 * through unchanged: what the gateway refused or held comes back as the tool
 * error it wrote. When the grant ends, the tunnel is closed and the next call
 * is a tool error saying so and how to get a new grant; once the agent holds
 * one, calls go through a new tunnel under it.
 */
export async function offerRemoteTools(server: McpServer, mcp: McpContext, target: TargetSummary): Promise<RemoteTools> {
  let link: Link | undefined = await openLink(mcp, await grantForCall(mcp, target));
  let tools: Awaited<ReturnType<Client['listTools']>>['tools'];
  try {
    ({ tools } = await link.client.listTools());
  } catch (err) {
    await link.close();
    throw err;
  }
  /** The live link, or a new one under the agent's new grant; a ToolError when the grant ended and no new one is active. */
  const current = async (): Promise<Link> => {
    if (link && !link.ended) return link;
    link = undefined;
    link = await openLink(mcp, await grantForCall(mcp, target));
    return link;
  };
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
        let grantId: string | undefined;
        try {
          const l = await current();
          grantId = l.grant.id;
          try {
            result = (await l.client.callTool({ name: tool.name, arguments: args })) as CallToolResult;
          } catch (err) {
            // The tunnel failed: when it is because the grant ended, say that (grantForCall does), else that the target did not answer.
            await l.close();
            await grantForCall(mcp, target);
            result = { isError: true, content: [{ type: 'text', text: `gate: ${target.name} did not answer: ${(err as Error).message}` }] };
          }
        } catch (err) {
          result = toolErrorResult(err instanceof ToolError ? err : new ToolError('error', `gate: ${target.name} did not answer: ${(err as Error).message}`, { target: target.name }));
        }
        const gate = (result.structuredContent as { gate?: { outcome?: string; approval_id?: string } } | undefined)?.gate;
        const outcome = result.isError ? (gate?.outcome === 'denied' || gate?.outcome === 'held' ? gate.outcome : 'error') : 'ok';
        await mcp.session?.toolCall({
          tool: name,
          arguments: args,
          outcome,
          resultText: result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n'),
          target: target.name,
          grantId,
          approvalId: gate?.approval_id,
          durationMs: performance.now() - t0,
        });
        return result;
      }) as never,
    );
  }
  return {
    target: target.name,
    async close() {
      await link?.close();
    },
  };
}
