import { z } from 'zod';

/**
 * Wire types for grants, targets, command approvals and the audit log, shared
 * by the server (request validation) and the CLI (response parsing).
 */

export const GRANT_STATES = ['pending', 'active', 'expired', 'revoked', 'denied', 'cancelled'] as const;
export const grantState = z.enum(GRANT_STATES);
export type GrantStateWire = z.infer<typeof grantState>;

export const createGrantRequest = z.object({
  target: z.string().min(1).max(200),
  /** May be omitted when the caller can request exactly one role on the target. */
  role: z.string().min(1).max(200).optional(),
  /** `"30m"`, `"8h"`, or seconds. Omitted: one hour, capped at the policy's max_duration. */
  duration: z.union([z.string().max(50), z.number()]).optional(),
  reason: z.string().max(2000).optional(),
  correlation_id: z.string().max(200).optional(),
});
export type CreateGrantRequest = z.infer<typeof createGrantRequest>;

export const decisionRequest = z.object({ comment: z.string().max(2000).optional() });

export const grantDecision = z.object({ by: z.string(), at: z.string(), comment: z.string().optional() });

/** A grant as the API returns it. It never carries a credential or a reference to one. */
export const grantSchema = z.object({
  id: z.string(),
  target: z.string(),
  role: z.string(),
  state: grantState,
  requester: z.string(),
  requester_email: z.string().optional(),
  reason: z.string().optional(),
  correlation_id: z.string().optional(),
  policy: z.string(),
  approvers: z.array(z.string()),
  approvals_required: z.number(),
  approvals: z.array(grantDecision),
  requested_duration: z.number(),
  duration: z.number(),
  duration_capped: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  activated_at: z.string().optional(),
  expires_at: z.string().optional(),
  ended_at: z.string().optional(),
  ended_by: z.string().optional(),
  comment: z.string().optional(),
});
export type GrantWire = z.infer<typeof grantSchema>;

export const grantListResponse = z.object({ grants: z.array(grantSchema) });

export const requestableRole = z.object({
  role: z.string(),
  policy: z.string(),
  approval_required: z.boolean(),
  approvers: z.array(z.string()),
  min_approvals: z.number(),
  max_duration: z.string(),
  reason_required: z.boolean(),
  /** postgres: the upstream role's user name (a name, never its password). */
  username: z.string().optional(),
});
/** One guardrail of an HTTP target, as `gate targets` shows it (methods and path patterns; no credential). */
export const httpRuleSummary = z.object({
  kind: z.enum(['deny', 'require_approval']),
  methods: z.array(z.string()).optional(),
  paths: z.array(z.string()).optional(),
  message: z.string().optional(),
});
export type HttpRuleSummary = z.infer<typeof httpRuleSummary>;

export const targetSummary = z.object({
  name: z.string(),
  type: z.string(),
  description: z.string().optional(),
  /** postgres: the database name clients connect to. */
  database: z.string().optional(),
  /** Whether sessions record keystrokes too, and whether a recording is required. */
  record_input: z.boolean().optional(),
  recording: z.enum(['required', 'best-effort']).optional(),
  /** `terminal`: a redirected stdout is recorded as its size and SHA-256 only; `full`: all of it. */
  record_output: z.enum(['terminal', 'full']).optional(),
  /** The role a request without --role gets when several are open (the picker's preselection). */
  default_role: z.string().optional(),
  roles: z.array(requestableRole),
  /** http: the guardrails on method and path. */
  rules: z.array(httpRuleSummary).optional(),
  /** postgres: the guardrails in force, each in a readable form (`deny {statements: [DROP]}`, `deny /regex/`). */
  guardrails: z
    .array(z.object({ kind: z.enum(['deny', 'require_approval']), pattern: z.string(), message: z.string().optional() }))
    .optional(),
  /** postgres: what happens to SQL gate cannot see into (DO blocks, function bodies, fastpath calls). */
  opaque_sql: z.enum(['deny', 'require_approval', 'allow']).optional(),
  /** postgres: masked columns and value detectors; http: masked JSON fields and value detectors. */
  masking: z
    .object({ columns: z.array(z.string()).optional(), json_fields: z.array(z.string()).optional(), detectors: z.array(z.string()) })
    .optional(),
});
export type TargetSummary = z.infer<typeof targetSummary>;
export const targetsResponse = z.object({ targets: z.array(targetSummary) });

export const commandApprovalSchema = z.object({
  id: z.string(),
  grant_id: z.string(),
  target: z.string(),
  role: z.string(),
  requester: z.string(),
  text: z.string(),
  normalized: z.string(),
  sha256: z.string().optional(),
  summary: z.array(z.object({ tag: z.string(), tables: z.array(z.string()), filtered: z.boolean().optional() })).optional(),
  reuse: z.number().optional(),
  uses: z.number().optional(),
  rule: z.string(),
  message: z.string().optional(),
  state: z.enum(['pending', 'approved', 'denied']),
  approvers: z.array(z.string()),
  created_at: z.string(),
  decided_at: z.string().optional(),
  decided_by: z.string().optional(),
  comment: z.string().optional(),
  valid_until: z.string().optional(),
});
export type CommandApprovalWire = z.infer<typeof commandApprovalSchema>;
export const approvalListResponse = z.object({ approvals: z.array(commandApprovalSchema) });

export const auditEventSchema = z.object({
  id: z.string(),
  time: z.string(),
  actor: z.string().nullable(),
  actor_kind: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  role: z.string().nullable(),
  grant_id: z.string().nullable(),
  session_id: z.string().nullable(),
  correlation_id: z.string().nullable(),
  ip: z.string().nullable(),
  result: z.string(),
  /** Parsed JSON; the raw text when a row no longer parses. */
  details: z.unknown(),
  prev_hash: z.string(),
  hash: z.string(),
});
export type AuditEventWire = z.infer<typeof auditEventSchema>;
/** `next`: pass as `after` for the following page; null when this page is the last. */
export const auditListResponse = z.object({ events: z.array(auditEventSchema), next: z.string().nullable().optional() });

/** A signed audit checkpoint, as the server keeps it and the checkpoint file holds it (one JSON line each). */
export const auditCheckpointSchema = z.object({
  count: z.number().int().min(1),
  head: z.string().regex(/^[0-9a-f]{64}$/),
  time: z.string().max(64),
  signature: z.string().max(4096),
});
export type AuditCheckpointWire = z.infer<typeof auditCheckpointSchema>;
export const auditCheckpointsResponse = z.object({ checkpoints: z.array(auditCheckpointSchema) });
export const auditCheckpointResponse = z.object({ checkpoint: auditCheckpointSchema.nullable() });
/** `POST /v1/audit/verify`: checkpoints someone kept, held against the log as well as the stored ones. */
export const auditVerifyRequest = z.strictObject({ checkpoints: z.array(auditCheckpointSchema).max(100_000).default([]) });

export const auditVerifyResponse = z.object({
  ok: z.boolean(),
  events: z.number(),
  broken: z.object({ id: z.string(), seq: z.number(), reason: z.string() }).optional(),
  checkpoints: z
    .object({
      checked: z.number(),
      latest: z.object({ count: z.number(), time: z.string() }).optional(),
      failure: z.object({ count: z.number(), time: z.string(), reason: z.string() }).optional(),
    })
    .optional(),
});
export type AuditVerifyResponse = z.infer<typeof auditVerifyResponse>;
