import { Agent, type Dispatcher } from 'undici';
import { fillTemplate, type McpTarget } from '../../config/mcp-target.js';
import type { GatewayContext } from '../types.js';

/** Request headers of the client's that the upstream MCP server needs; nothing else crosses (no client credential). */
export const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];
/** Response headers the client needs back. */
export const FORWARDED_RESPONSE_HEADERS = ['content-type', 'mcp-session-id', 'cache-control'];

export interface McpUpstream {
  url: string;
  dispatcher: Dispatcher;
  /** The role's headers with their secrets filled in; only ever sent upstream. */
  headers: Record<string, string>;
}

/** The upstream for one tunnel: TLS settings and the granted role's injected headers. */
export async function createMcpUpstream(ctx: GatewayContext<McpTarget>): Promise<McpUpstream> {
  const role = ctx.target.roles[ctx.grant.role];
  const headers: Record<string, string> = {};
  for (const [name, template] of Object.entries(role?.headers ?? {})) {
    headers[name.toLowerCase()] = await fillTemplate(template, (ref) => ctx.secret(ref));
  }
  const ca = ctx.target.tls.ca ? await ctx.secret(ctx.target.tls.ca) : undefined;
  const dispatcher = new Agent({ connect: ca ? { ca } : {}, keepAliveTimeout: 30_000 });
  return { url: ctx.target.address, dispatcher, headers };
}
