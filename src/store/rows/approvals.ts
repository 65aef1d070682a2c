import type { StoredApproval } from '../store.js';

/** A `command_approvals` row: lookup columns, the whole record as JSON text in `data`. */
export interface ApprovalRow {
  id: string;
  grant_id: string;
  text_hash: string;
  state: string;
  created_at: string;
  data: string;
}

/** The stored approval a `command_approvals` row describes, whichever database it came from. */
export function approvalFromRow(r: ApprovalRow): StoredApproval {
  return { id: r.id, grantId: r.grant_id, textHash: r.text_hash, state: r.state, createdAt: r.created_at, data: JSON.parse(r.data) };
}
