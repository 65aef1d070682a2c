import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { McpContext } from './context.js';
import { toolErrorFrom } from './grant.js';
import { ToolError } from './tool-error.js';

type Shape = Record<string, z.ZodType>;
export type ToolArgs<S extends Shape> = { [K in keyof S]: z.infer<S[K]> };

/** What a tool hands back: the structured content, the text an agent reads, and what the audit event names. */
export interface ToolOutput {
  structured: Record<string, unknown>;
  text: string;
  target?: string;
  grantId?: string;
  /** The outcome when it is not plain `ok` (a grant request left pending). */
  outcome?: 'ok' | 'pending';
}

/** One tool: its interface (name, description, input schema) and the function that does the work. */
export interface ToolDefinition<S extends Shape> {
  name: string;
  title: string;
  description: string;
  input: S;
  readOnly?: boolean;
  run(mcp: McpContext, args: ToolArgs<S>): Promise<ToolOutput>;
}

/**
 * Registers a tool so that every call is recorded and audited (`mcp.tool_call`)
 * with the outcome the agent saw, and every failure reaches the agent as a
 * tool error that says why and what to do next, never as a protocol error.
 */
export function registerTool<S extends Shape>(server: McpServer, mcp: McpContext, tool: ToolDefinition<S>): void {
  server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: tool.input,
      annotations: { title: tool.title, readOnlyHint: tool.readOnly ?? false, openWorldHint: false },
    },
    (async (args: ToolArgs<S>): Promise<CallToolResult> => {
      await mcp.sessionReady;
      const t0 = performance.now();
      let result: CallToolResult;
      let record: { outcome: ToolError['outcome']; target?: string; grantId?: string; approvalId?: string };
      try {
        const out = await tool.run(mcp, args);
        result = { content: [{ type: 'text', text: out.text }], structuredContent: out.structured };
        record = { outcome: out.outcome ?? 'ok', target: out.target, grantId: out.grantId };
      } catch (err) {
        const e = err instanceof ToolError ? err : toolErrorFrom(err);
        const structured = { error: { outcome: e.outcome, message: e.message, ...e.data } };
        result = { isError: true, content: [{ type: 'text', text: e.message }], structuredContent: structured };
        record = {
          outcome: e.outcome,
          target: typeof e.data.target === 'string' ? e.data.target : undefined,
          approvalId: typeof e.data.approval_id === 'string' ? e.data.approval_id : undefined,
        };
      }
      const text = result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
      await mcp.session?.toolCall({
        tool: tool.name,
        arguments: args as Record<string, unknown>,
        resultText: text,
        durationMs: performance.now() - t0,
        ...record,
      });
      return result;
    }) as never,
  );
}
