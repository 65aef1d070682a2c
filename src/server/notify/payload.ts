/**
 * The body of a notification: `{ event, id, at, grant | approval, links }`.
 * Built once when the event is decided and kept in the outbox, so every
 * attempt and every sink sends the same event with the same id.
 */
import type { CommandApproval, Grant } from '../grants/types.js';

export interface GrantSummary {
  id: string;
  state: string;
  target: string;
  role: string;
  requester: string;
  requester_email?: string;
  reason: string | null;
  /** Seconds the grant lasts once active. */
  duration: number;
  policy: string;
  approvers: string[];
  approvals_required: number;
  approvals: number;
  created_at: string;
  expires_at: string | null;
  ended_at: string | null;
  /** Who approved, denied or revoked (absent for requests and expiry). */
  by: string | null;
  comment: string | null;
}

export interface ApprovalSummary {
  id: string;
  state: string;
  grant_id: string;
  target: string;
  role: string;
  requester: string;
  /** The held statement, redacted (src/server/notify/redact.ts). */
  statement: string;
  statement_redacted: boolean;
  /** The parser's summary of each statement. */
  summary: { tag: string; tables: string[]; filtered?: boolean }[];
  rule: string;
  message: string | null;
  approvers: string[];
  created_at: string;
  decided_by: string | null;
  comment: string | null;
  /** The grant the statement runs under: its reason and duration, for the approver. */
  reason: string | null;
  duration: number | null;
}

export interface NotificationPayload {
  event: string;
  /** The audit event's id: stable across retries and sinks, for dedupe. */
  id: string;
  at: string;
  grant?: GrantSummary;
  approval?: ApprovalSummary;
  /** Where to act on it: `console` (the console page of this grant or approval), `grant` for approvals. */
  links: Record<string, string>;
}

export function grantSummary(g: Grant, by: string | null): GrantSummary {
  return {
    id: g.id,
    state: g.state,
    target: g.target,
    role: g.role,
    requester: g.requester,
    ...(g.requester_email ? { requester_email: g.requester_email } : {}),
    reason: g.reason ?? null,
    duration: g.duration,
    policy: g.policy,
    approvers: g.approvers,
    approvals_required: g.approvals_required,
    approvals: g.approvals.length,
    created_at: g.created_at,
    expires_at: g.expires_at ?? null,
    ended_at: g.ended_at ?? null,
    by,
    comment: g.comment ?? g.approvals.at(-1)?.comment ?? null,
  };
}

export function approvalSummary(a: CommandApproval, statement: { text: string; redacted: boolean }, grant: Grant | undefined): ApprovalSummary {
  return {
    id: a.id,
    state: a.state,
    grant_id: a.grant_id,
    target: a.target,
    role: a.role,
    requester: a.requester,
    statement: statement.text,
    statement_redacted: statement.redacted,
    summary: a.summary ?? [],
    rule: a.rule,
    message: a.message ?? null,
    approvers: a.approvers,
    created_at: a.created_at,
    decided_by: a.decided_by ?? null,
    comment: a.comment ?? null,
    reason: grant?.reason ?? null,
    duration: grant?.duration ?? null,
  };
}

/** Console links: `<console_url>/approvals/<id>` for held statements, `<console_url>/grants/<id>` for grants. */
export function linksFor(consoleUrl: string | undefined, subject: { grantId: string; approvalId?: string }): Record<string, string> {
  if (!consoleUrl) return {};
  const grant = `${consoleUrl}/grants/${encodeURIComponent(subject.grantId)}`;
  if (subject.approvalId) return { console: `${consoleUrl}/approvals/${encodeURIComponent(subject.approvalId)}`, grant };
  return { console: grant };
}
