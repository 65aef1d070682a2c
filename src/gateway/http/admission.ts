import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { HttpTarget } from '../../config/http-target.js';
import { canonicalTarget } from '../path/canonical.js';
import type { GatewayContext } from '../types.js';
import { redactQuery } from './audit.js';
import type { HttpRefusal } from './errors.js';
import { checkLocalClient } from './local-client.js';
import { checkHttpRules, type HttpRuleDecision } from './rules.js';

/** The largest request body a held request may carry: it is read whole to be hashed for its approval. */
export const MAX_HELD_BODY = 8 * 1024 * 1024;

/** A request that passed the local checks and the path canonicaliser. */
export interface ParsedRequest {
  method: string;
  /** Canonical, re-encoded path: what rules saw and what goes upstream (under the address's base path). */
  path: string;
  segments: string[];
  /** Raw query (without `?`), forwarded as sent. */
  query: string;
}

export type Parsed = { ok: true; req: ParsedRequest } | { ok: false; refusal: HttpRefusal; method: string; path: string; query: string };

/** Local-listener checks, then the canonical path; the refusal when either fails. */
export function parseRequest(req: IncomingMessage, localPassword: string | undefined): Parsed {
  const method = (req.method ?? 'GET').toUpperCase();
  const raw = req.url ?? '/';
  const local = checkLocalClient(req.headers, localPassword);
  const rawPath = raw.split('?', 1)[0]!;
  if (local) return { ok: false, refusal: local, method, path: rawPath, query: '' };
  const c = canonicalTarget(raw);
  if (!c.ok) {
    return { ok: false, refusal: { status: 400, code: 'bad_path', message: `gate: refused ${method} ${rawPath}: ${c.reason}.` }, method, path: rawPath, query: '' };
  }
  return { ok: true, req: { method, path: c.path, segments: c.segments, query: c.query } };
}

/**
 * What an approver sees and what a later approval must match exactly: the
 * method, the canonical path with its (redacted) query, and the SHA-256 of
 * the body, so an approved refund cannot be replayed with another amount.
 */
export function approvalText(target: HttpTarget, r: ParsedRequest, body: Buffer): string {
  const q = redactQuery(r.query, target.audit.redact_query);
  const digest = createHash('sha256').update(body).digest('hex');
  return `${r.method} ${r.path}${q ? `?${q}` : ''}\nsha256:${digest}`;
}

export type Admission =
  | { allowed: true; decision?: HttpRuleDecision; approvalId?: string }
  | { allowed: false; refusal: HttpRefusal; result: 'denied' | 'held' | 'error'; decision: HttpRuleDecision; approvalId?: string };

/** The rule decision for a request (before any body is read). */
export function ruleFor(target: HttpTarget, r: ParsedRequest): HttpRuleDecision | undefined {
  return checkHttpRules(target.guardrails, r.method, r.segments);
}

/** Applies a `deny` decision, or asks the server about a held one (`body` is the whole request body). */
export async function admit(ctx: GatewayContext<HttpTarget>, r: ParsedRequest, decision: HttpRuleDecision, body: Buffer): Promise<Admission> {
  const what = `${r.method} ${r.path}`;
  if (decision.kind === 'deny') {
    const message = decision.message ?? `gate: ${what} is not allowed on target "${ctx.targetName}" (guardrail: ${decision.rule}).`;
    return { allowed: false, result: 'denied', decision, refusal: { status: 403, code: 'guardrail_denied', message, details: { rule: decision.rule } } };
  }
  let check: Awaited<ReturnType<typeof ctx.requestApproval>>;
  try {
    check = await ctx.requestApproval({ text: approvalText(ctx.target, r, body), rule: decision.rule, message: decision.message, reuse: 1 });
  } catch {
    return {
      allowed: false,
      result: 'error',
      decision,
      refusal: { status: 503, code: 'approval_unavailable', message: `gate: could not check the approval for ${what}; retry in a moment.` },
    };
  }
  if (check.status === 'approved') return { allowed: true, decision, approvalId: check.id };
  const lead = decision.message ?? `${what} on target "${ctx.targetName}" needs approval (guardrail: ${decision.rule})`;
  if (check.status === 'denied') {
    return {
      allowed: false,
      result: 'denied',
      decision,
      approvalId: check.id,
      refusal: {
        status: 403,
        code: 'approval_denied',
        message: check.id ? `${lead}: approval request ${check.id} was denied.` : `${lead}: the grant is no longer active.`,
        details: { rule: decision.rule, ...(check.id ? { approval_id: check.id } : {}) },
      },
    };
  }
  return {
    allowed: false,
    result: 'held',
    decision,
    approvalId: check.id,
    refusal: {
      status: 403,
      code: 'approval_required',
      message: `${lead}: approval request ${check.id} is pending. Run \`gate approve ${check.id}\` (or ask an approver to), then send the same request again.`,
      details: { rule: decision.rule, approval_id: check.id },
    },
  };
}
