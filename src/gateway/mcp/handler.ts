import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { request } from 'undici';
import type { McpTarget } from '../../config/mcp-target.js';
import { auditRefusal } from '../fail-closed.js';
import type { GatewayContext, GrantEnded, ProtocolHandler } from '../types.js';
import { detectJson, type Detector } from './detectors.js';
import { isRequest, parseMessages, type RpcMessage, toolErrorResult } from './messages.js';
import { sseRewriter } from './sse.js';
import { judgeTool, listed } from './tool-policy.js';
import { createMcpUpstream, FORWARDED_REQUEST_HEADERS, FORWARDED_RESPONSE_HEADERS, type McpUpstream } from './upstream.js';

const MAX_BODY = 4 * 1024 * 1024;

/**
 * The gateway's MCP protocol handler: serves HTTP on one tunnel socket (the
 * client speaks streamable HTTP to the local listener, without credentials)
 * and forwards each JSON-RPC message to the target's MCP server with the
 * granted role's headers. `tools/call` is checked against the target's
 * tools.allow / deny / require_approval (a refused or held call is answered
 * by the gateway as a tool error), `tools/list` shows only allowed tools,
 * results pass the detectors, and every request is audited as `mcp.request`.
 * When the grant ends the tunnel closes.
 */
export const handleMcp: ProtocolHandler<McpTarget> = (socket, ctx) =>
  new Promise<void>((resolve) => {
    let upstream: Promise<McpUpstream> | undefined;
    const inflight = new Set<AbortController>();
    const state = {
      ctx,
      upstream: () => {
        upstream ??= createMcpUpstream(ctx);
        return upstream;
      },
      inflight,
    };
    const server = createServer();
    server.keepAliveTimeout = 60_000;
    server.on('request', (req, res) => {
      serve(state, req, res).catch((err: unknown) => {
        if (!res.headersSent) sendRpcError(res, 502, null, `gate: the MCP server of ${ctx.targetName} could not be reached: ${(err as Error)?.message ?? err}`);
        else res.destroy();
      });
    });
    server.on('clientError', (_err, sock) => sock.destroy());
    const onAbort = () => {
      for (const c of inflight) c.abort();
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    };
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      ctx.signal.removeEventListener('abort', onAbort);
      upstream?.then((u) => u.dispatcher.close()).catch(() => {});
      resolve();
    });
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    server.emit('connection', socket);
  });

interface State {
  ctx: GatewayContext<McpTarget>;
  upstream(): Promise<McpUpstream>;
  inflight: Set<AbortController>;
}

async function serve(state: State, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { ctx } = state;
  if (ctx.signal.aborted) {
    const reason = ctx.signal.reason as Partial<GrantEnded> | undefined;
    return sendRpcError(res, 403, null, `gate: access to target "${ctx.targetName}" has ended: ${reason?.message ?? 'the grant is no longer active'}`);
  }
  const unaudited = auditRefusal(ctx, 'calls');
  if (unaudited) return sendRpcError(res, 503, null, unaudited);
  if (req.method !== 'POST') return forward(state, req, res, undefined, new Map(), []);
  const body = await readBody(req);
  if (body === undefined) return sendRpcError(res, 413, null, `gate: request body over ${MAX_BODY} bytes`);
  const parsed = parseMessages(body);
  if (!parsed) return sendRpcError(res, 400, null, 'gate: the request body is not JSON-RPC');

  const answered: RpcMessage[] = [];
  const forwarded: RpcMessage[] = [];
  const methods = new Map<string | number, string>();
  for (const m of parsed.messages) {
    const answer = await decide(ctx, m);
    if (answer) answered.push(answer);
    else {
      forwarded.push(m);
      if (isRequest(m)) methods.set(m.id as string | number, m.method!);
    }
  }
  if (forwarded.length === 0) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(parsed.batch ? answered : answered[0]));
    return;
  }
  const out = parsed.batch ? JSON.stringify(forwarded) : JSON.stringify(forwarded[0]);
  return forward(state, req, res, out, methods, answered);
}

/** Audits one message and, for a refused or held tools/call, returns the answer the gateway gives itself. */
async function decide(ctx: GatewayContext<McpTarget>, m: RpcMessage): Promise<RpcMessage | undefined> {
  const detectors = ctx.target.masking.detectors as Detector[];
  if (m.method !== 'tools/call') {
    if (m.method) ctx.audit({ action: 'mcp.request', result: 'ok', details: { method: m.method, ...(isRequest(m) ? { id: m.id } : {}) } });
    return undefined;
  }
  const tool = typeof m.params?.name === 'string' ? m.params.name : '';
  const args = detectJson(m.params?.arguments ?? {}, detectors.length ? detectors : undefined);
  const base = { method: m.method, tool, arguments: args, id: m.id };
  const verdict = judgeTool(ctx.target.tools, ctx.targetName, tool);
  if (verdict.kind === 'deny') {
    ctx.audit({ action: 'mcp.request', result: 'denied', details: { ...base, rule: verdict.rule } });
    return toolErrorResult(m.id, verdict.message, { outcome: 'denied', rule: verdict.rule });
  }
  if (verdict.kind === 'require_approval') {
    const text = `${tool} ${JSON.stringify(m.params?.arguments ?? {})}`;
    const check = await ctx.requestApproval({ text, rule: verdict.rule });
    if (check.status !== 'approved') {
      ctx.audit({ action: 'mcp.request', result: check.status === 'denied' ? 'denied' : 'held', details: { ...base, rule: verdict.rule, approval_id: check.id } });
      const message =
        check.status === 'denied'
          ? `gate: the call to ${tool} was denied by an approver${check.id ? ` (${check.id})` : ''}.`
          : `gate: the call to ${tool} is held for approval (request ${check.id}). An approver runs \`gate approve ${check.id}\`; then retry the same call.`;
      return toolErrorResult(m.id, message, { outcome: check.status === 'denied' ? 'denied' : 'held', approval_id: check.id, rule: verdict.rule });
    }
    ctx.audit({ action: 'mcp.request', result: 'ok', details: { ...base, rule: verdict.rule, approval_id: check.id } });
    return undefined;
  }
  ctx.audit({ action: 'mcp.request', result: 'ok', details: base });
  return undefined;
}

/** Sends the request upstream with the role's headers and rewrites what comes back (tools/list filter, detectors). */
async function forward(
  state: State,
  req: IncomingMessage,
  res: ServerResponse,
  body: string | undefined,
  methods: Map<string | number, string>,
  answered: RpcMessage[],
): Promise<void> {
  const { ctx } = state;
  const up = await state.upstream();
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const v = req.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  Object.assign(headers, up.headers);
  const abort = new AbortController();
  state.inflight.add(abort);
  res.on('close', () => {
    abort.abort();
    state.inflight.delete(abort);
  });
  const upRes = await request(up.url, {
    method: (req.method ?? 'GET') as 'GET',
    headers,
    body: body ?? (req.method === 'GET' || req.method === 'DELETE' ? undefined : req),
    dispatcher: up.dispatcher,
    signal: abort.signal,
    headersTimeout: 60_000,
    bodyTimeout: 0,
  });
  const out: Record<string, string> = {};
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const v = upRes.headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  const edit = (m: unknown) => rewriteResult(ctx, m as RpcMessage, methods);
  const type = out['content-type'] ?? '';
  if (type.startsWith('text/event-stream')) {
    res.writeHead(upRes.statusCode, out);
    for (const a of answered) res.write(`event: message\ndata: ${JSON.stringify(a)}\n\n`);
    upRes.body.pipe(sseRewriter(edit)).pipe(res);
    return;
  }
  const text = await upRes.body.text();
  if (type.startsWith('application/json') && text) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (json !== undefined) {
      const rewritten = Array.isArray(json) ? [...answered, ...json.map(edit)] : answered.length ? [...answered, edit(json)] : edit(json);
      const payload = JSON.stringify(rewritten);
      res.writeHead(upRes.statusCode, { ...out, 'content-length': String(Buffer.byteLength(payload)) });
      res.end(payload);
      return;
    }
  }
  res.writeHead(upRes.statusCode, out);
  Readable.from([text]).pipe(res);
}

function rewriteResult(ctx: GatewayContext<McpTarget>, m: RpcMessage, methods: Map<string | number, string>): RpcMessage {
  if (!m || typeof m !== 'object' || !m.result || m.id === undefined || m.id === null) return m;
  const method = methods.get(m.id);
  let result = m.result;
  if (method === 'tools/list' && Array.isArray(result.tools)) {
    result = { ...result, tools: (result.tools as { name?: unknown }[]).filter((t) => typeof t.name === 'string' && listed(ctx.target.tools, t.name)) };
  }
  const detectors = ctx.target.masking.detectors as Detector[];
  if (detectors.length > 0 && method !== 'tools/list' && method !== 'initialize') result = detectJson(result, detectors);
  return { ...m, result };
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendRpcError(res: ServerResponse, status: number, id: RpcMessage['id'], message: string): void {
  const payload = JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32000, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
  res.end(payload);
}
