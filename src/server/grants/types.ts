/** Grant states: pending → active → expired | revoked; pending → denied | cancelled. */
export type GrantState = 'pending' | 'active' | 'expired' | 'revoked' | 'denied' | 'cancelled';

export const GRANT_STATES: readonly GrantState[] = ['pending', 'active', 'expired', 'revoked', 'denied', 'cancelled'];

/** One approver's decision on a grant. */
export interface GrantDecision {
  by: string;
  /** The approver's identity key. */
  by_key?: string;
  /** The person the approval counts for (a service token's creator); absent on rows from before keys. */
  for_key?: string;
  at: string;
  comment?: string;
}

/** A just-in-time grant as the server keeps it and the API returns it (no secret in it, ever). */
export interface Grant {
  id: string;
  target: string;
  role: string;
  state: GrantState;
  /** Who requested it, for people to read (a subject, or `service:<name>`). */
  requester: string;
  /** The requester's identity key: what ownership compares (src/server/identity/principal.ts). */
  requester_key: string;
  /** The person the requester acts for (null: a workload, nobody). */
  requester_for?: string | null;
  requester_kind?: string;
  requester_email?: string;
  reason?: string;
  correlation_id?: string;
  /** The policy that allowed it. */
  policy: string;
  /** Groups whose members may approve; empty for auto-approved grants. */
  approvers: string[];
  /** Distinct approvals needed (0 when auto-approved). */
  approvals_required: number;
  approvals: GrantDecision[];
  requested_duration: number;
  /** Seconds the grant lasts once active. */
  duration: number;
  duration_capped: boolean;
  /** For a service token's or workload's grant: the credential's end, which the grant never outlives. */
  credential_expires_at?: string;
  created_at: string;
  updated_at: string;
  activated_at?: string;
  expires_at?: string;
  ended_at?: string;
  /** Who denied, cancelled or revoked it (absent for expiry). */
  ended_by?: string;
  comment?: string;
}

/** A command a `require_approval` guardrail held, waiting for an approver. */
export type CommandApprovalState = 'pending' | 'approved' | 'denied';

export interface CommandApproval {
  id: string;
  grant_id: string;
  target: string;
  role: string;
  requester: string;
  /** The requester's identity key. */
  requester_key: string;
  requester_for?: string | null;
  /** The command as the user sent it. */
  text: string;
  /** Kept for older clients: the same as `text` (the match is byte-exact, see `sha256`). */
  normalized: string;
  /** SHA-256 (hex) of the exact text bytes: an approval passes only this text. */
  sha256?: string;
  /** The parser's summary of each statement, for the approver. */
  summary?: { tag: string; tables: string[]; filtered?: boolean }[];
  /** How many runs one approval allows (absent: any number within the approval window). */
  reuse?: number;
  /** Runs so far under this approval. */
  uses?: number;
  rule: string;
  message?: string;
  state: CommandApprovalState;
  approvers: string[];
  created_at: string;
  decided_at?: string;
  decided_by?: string;
  comment?: string;
  /** Until when an approval lets the same command pass again. */
  valid_until?: string;
}

/** Why a grant ended, as `onEnded` reports it. */
export type GrantEndReason = 'expired' | 'revoked';
