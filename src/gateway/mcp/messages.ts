/** JSON-RPC 2.0 message shapes as the MCP handler reads them (loosely: anything else passes through). */
export interface RpcMessage {
  jsonrpc?: string;
  id?: string | number | null;
  method?: string;
  params?: { name?: unknown; arguments?: unknown } & Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: unknown;
}

export const isRequest = (m: RpcMessage) => typeof m.method === 'string' && m.id !== undefined && m.id !== null;

/** A tool result the gateway answers itself (refused or held): a tool error the agent reads, not a protocol error. */
export function toolErrorResult(id: RpcMessage['id'], text: string, gate: Record<string, unknown>): RpcMessage {
  return { jsonrpc: '2.0', id, result: { isError: true, content: [{ type: 'text', text }], structuredContent: { gate } } };
}

/** Parses a request body: one message or a batch; undefined when it is not JSON-RPC. */
export function parseMessages(body: string): { messages: RpcMessage[]; batch: boolean } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (Array.isArray(parsed)) {
    if (!parsed.every((m) => m && typeof m === 'object')) return undefined;
    return { messages: parsed as RpcMessage[], batch: true };
  }
  if (!parsed || typeof parsed !== 'object') return undefined;
  return { messages: [parsed as RpcMessage], batch: false };
}
