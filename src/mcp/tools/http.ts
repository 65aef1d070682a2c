import { z } from 'zod';
import type { TargetSummary } from '../../api/wire-grants.js';
import { offeredTarget } from '../context.js';
import { grantEndedError, grantForCall } from '../grant.js';
import { type HttpAnswer, httpOverTunnel } from '../http-tunnel.js';
import { ToolError } from '../tool-error.js';
import type { ToolDefinition } from '../tool.js';

const DEFAULT_MAX_BYTES = 256 * 1024;
const LIMIT_MAX_BYTES = 4 * 1024 * 1024;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const input = {
  target: z.string().describe('an HTTP target name from gate_targets'),
  method: z.enum(METHODS).describe('the HTTP method'),
  path: z.string().startsWith('/').describe('path and query under the target\'s base URL, e.g. "/v1/invoices?limit=5"'),
  headers: z.record(z.string(), z.string()).optional().describe('request headers (Authorization and Cookie are replaced by the gateway: never send a credential)'),
  body: z.string().optional().describe('request body as text (send JSON with a content-type: application/json header)'),
  role: z.string().optional().describe('role to use (default: --role, or the only role open to you)'),
  max_bytes: z.number().int().min(1).max(LIMIT_MAX_BYTES).optional().describe(`response body bytes returned (default ${DEFAULT_MAX_BYTES})`),
};

/** Headers the tunnel itself sets; an agent's value would only confuse the framing. */
const FRAMING = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'keep-alive', 'te', 'trailer']);
/** Response headers worth an agent's attention; the rest is noise. */
const SHOWN = ['content-type', 'content-length', 'location', 'retry-after', 'etag', 'last-modified', 'link', 'www-authenticate', 'x-request-id', 'ratelimit-remaining', 'x-ratelimit-remaining'];
/** `error.code`s only the gateway writes. */
const GATEWAY_ERROR_CODES = new Set([
  'guardrail_denied', 'approval_required', 'approval_denied', 'approval_unavailable', 'held_body_too_large', 'bad_path', 'upstream_setup',
  'upstream_unreachable', 'masking_unreadable', 'masked_body_too_large', 'grant_expired', 'grant_revoked', 'server_shutdown', 'host_not_allowed',
]);

export const httpTool: ToolDefinition<typeof input> = {
  name: 'gate_http',
  title: 'Call an HTTP API target through gate',
  description:
    'Sends one HTTP request to an HTTP API target through the gate gateway, as you, under your active grant. The ' +
    "gateway injects the API's credential (you never hold it), applies the target's method and path rules, masks the " +
    'configured JSON fields and detected values in the response, and audits the request. Returns status, the headers ' +
    'that matter, and the body (parsed JSON when it is JSON, text otherwise; at most max_bytes, with truncated: true ' +
    'when there was more). An HTTP error status from the API itself is a normal result. Errors: "denied" names the ' +
    'rule that refused the request (it never reached the API; do not retry it); "held" carries an approval id (a_…): ' +
    'a human must approve it, so call gate_grant_status with that id until it is approved, then retry the exact same ' +
    'call (same method, path and body) once; "no active grant" or "grant ended" means call gate_request_access first.',
  input,
  async run(mcp, args) {
    const target = await offeredTarget(mcp, args.target, ['http']);
    const grant = await grantForCall(mcp, target, args.role);
    const headers = Object.fromEntries(Object.entries(args.headers ?? {}).filter(([k]) => !FRAMING.has(k.toLowerCase())));
    const maxBytes = args.max_bytes ?? DEFAULT_MAX_BYTES;
    const answer = await httpOverTunnel(mcp, target, grant, { method: args.method, path: args.path, headers, body: args.body }, maxBytes);
    const refusal = gatewayRefusal(answer);
    if (refusal) throw refusalError(target, grant.id, args, refusal);
    const shown = shape(answer);
    const structured = { target: target.name, role: grant.role, grant_id: grant.id, ...shown };
    const bodyText = typeof shown.body === 'string' ? shown.body : JSON.stringify(shown.body);
    const text = `HTTP ${answer.status}${shown.truncated ? ` (body truncated to ${maxBytes} bytes)` : ''}\n${bodyText ?? ''}`;
    return { structured, text, target: target.name, grantId: grant.id };
  },
};

interface Refusal {
  status: number;
  code: string;
  message: string;
  rule?: string;
  approval_id?: string;
}

/** A JSON error the gateway wrote (not the API's own error body). */
function gatewayRefusal(a: HttpAnswer): Refusal | undefined {
  if (a.status < 400 || a.truncated || !String(a.headers['content-type'] ?? '').includes('json')) return undefined;
  try {
    const e = (JSON.parse(a.body.toString('utf8')) as { error?: Record<string, unknown> }).error;
    if (!e || typeof e.code !== 'string' || !GATEWAY_ERROR_CODES.has(e.code)) return undefined;
    return {
      status: a.status,
      code: e.code,
      message: String(e.message ?? e.code),
      ...(typeof e.rule === 'string' ? { rule: e.rule } : {}),
      ...(typeof e.approval_id === 'string' ? { approval_id: e.approval_id } : {}),
    };
  } catch {
    return undefined;
  }
}

function refusalError(target: TargetSummary, grantId: string, args: { method: string; path: string }, r: Refusal): ToolError {
  const what = `${args.method} ${args.path}`;
  const base = { target: target.name, status: r.status, code: r.code, ...(r.rule ? { rule: r.rule } : {}) };
  if (r.code === 'approval_required' && r.approval_id) {
    return new ToolError(
      'held',
      `${what} is held for approval (${r.approval_id}): ${r.message} Call gate_grant_status with {"id": "${r.approval_id}"} until its state is approved, then retry this exact gate_http call (same method, path and body); the approval lets it pass once.`,
      { ...base, approval_id: r.approval_id, next: 'gate_grant_status' },
    );
  }
  if (r.code === 'guardrail_denied' || r.code === 'approval_denied') {
    return new ToolError('denied', `${what} was refused by a rule on ${target.name} (${r.rule ?? r.code}): ${r.message} It did not reach the API. Do not retry it as is.`, {
      ...base,
      ...(r.approval_id ? { approval_id: r.approval_id } : {}),
    });
  }
  if (r.code === 'grant_expired' || r.code === 'grant_revoked') return grantEndedError(target.name, grantId, r.code === 'grant_revoked' ? 'revoked' : 'expired');
  return new ToolError('error', r.message, base);
}

function shape(a: HttpAnswer): { status: number; headers: Record<string, string>; body: unknown; body_bytes: number; truncated: boolean } {
  const headers: Record<string, string> = {};
  for (const name of SHOWN) {
    const v = a.headers[name];
    if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  const type = String(a.headers['content-type'] ?? '');
  let body: unknown;
  if (a.body.length === 0) body = '';
  else if (/json/i.test(type) && !a.truncated) {
    try {
      body = JSON.parse(a.body.toString('utf8'));
    } catch {
      body = a.body.toString('utf8');
    }
  } else if (type === '' || /^text\/|json|xml|x-www-form-urlencoded|javascript|event-stream/i.test(type)) body = a.body.toString('utf8');
  else body = `[${a.body.length} bytes of ${type}, not shown]`;
  return { status: a.status, headers, body, body_bytes: a.body.length, truncated: a.truncated };
}
