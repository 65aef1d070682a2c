import { z } from 'zod';
import { commandApprovalSchema, grantSchema } from './wire-grants.js';

/**
 * `GET /v1/pending[?wait=<s>&cursor=<c>]`: the grants and held statements the
 * caller may decide now. With `cursor` and `wait`, the server holds the
 * request until the items differ from that cursor (or `wait` seconds pass).
 */
export const pendingResponse = z.object({
  /** Pending grants the caller may approve or deny, oldest first. */
  grants: z.array(grantSchema),
  /** Statements held for approval the caller may decide, oldest first. */
  approvals: z.array(commandApprovalSchema),
  /** Per requester of an item: their latest other grants the caller may see, newest first. */
  recent: z.record(z.string(), z.array(grantSchema)),
  /** Changes whenever an item comes, goes or changes; send it back to wait for the next change. */
  cursor: z.string(),
});
export type PendingWire = z.infer<typeof pendingResponse>;
