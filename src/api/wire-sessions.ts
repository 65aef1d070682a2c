import { z } from 'zod';
import { auditEventSchema } from './wire-grants.js';

/**
 * Wire types for recorded sessions, shared by the server (request
 * validation) and the CLI (response parsing). A session's recording itself
 * travels as raw asciicast bytes, not JSON.
 */

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const sessionId = z.string().regex(UUID_RE, 'a session id must be a UUID');

/**
 * `POST /v1/sessions`: the CLI's SessionMeta (src/record/types.ts). `user` is
 * informational only: the server stores the caller's subject.
 */
export const createSessionRequest = z.object({
  id: sessionId,
  target: z.string().min(1).max(200),
  user: z.string().max(500),
  /** Required for a terminal session; an `mcp` session may start before any grant exists (its tools request them). */
  grant: z.string().min(1).max(200).optional(),
  command: z.string().max(8192),
  width: z.number().int().min(1).max(10_000),
  height: z.number().int().min(1).max(10_000),
  startedAt: z.string().max(64).refine((s) => !Number.isNaN(Date.parse(s)), 'startedAt must be an ISO time'),
  recordInput: z.boolean(),
  title: z.string().max(500).optional(),
  correlation_id: z.string().max(200).optional(),
  /** `mcp`: a `gate mcp` session, recorded as its tool calls and results. Default `terminal`. */
  kind: z.enum(['terminal', 'mcp']).optional(),
  /** mcp: the client's name and version from `initialize`, e.g. `claude-code/2.1.0`. */
  client: z.string().max(300).optional(),
});
export type CreateSessionRequest = z.infer<typeof createSessionRequest>;

/** `POST /v1/sessions/:id/close`: SessionEnd. */
export const closeSessionRequest = z.object({
  exitCode: z.number().int().min(-1).max(65_535).nullable(),
  durationMs: z.number().int().min(0),
  incomplete: z.boolean(),
});
export type CloseSessionRequest = z.infer<typeof closeSessionRequest>;

/** Request headers of `PUT /v1/sessions/:id/chunks/:seq` (the body is the chunk's raw bytes). */
export const CHUNK_PREV_HASH_HEADER = 'gate-prev-hash';
export const CHUNK_HASH_HEADER = 'gate-hash';

export const putChunkResponse = z.object({ status: z.enum(['stored', 'duplicate']) });

/** A session as the API returns it. */
export const sessionSchema = z.object({
  id: z.string(),
  target: z.string(),
  /** The subject of the user who ran it. */
  user: z.string(),
  grant_id: z.string(),
  command: z.string(),
  title: z.string().nullable(),
  width: z.number(),
  height: z.number(),
  record_input: z.boolean(),
  started_at: z.string(),
  ended_at: z.string().nullable(),
  exit_code: z.number().nullable(),
  duration_ms: z.number().nullable(),
  /** The recording stops early: gate died before the tool finished. */
  incomplete: z.boolean(),
  closed: z.boolean(),
  chunks: z.number(),
  bytes: z.number(),
  correlation_id: z.string().nullable(),
  created_at: z.string(),
  /** `terminal` or `mcp` (older servers send nothing: terminal). */
  kind: z.enum(['terminal', 'mcp']).default('terminal'),
  /** mcp: the client's name/version from `initialize`. */
  client: z.string().nullable().default(null),
});
export type SessionWire = z.infer<typeof sessionSchema>;

export const sessionResponse = z.object({ session: sessionSchema });
export const sessionListResponse = z.object({ sessions: z.array(sessionSchema) });
/**
 * `GET /v1/sessions/:id/verify`: the stored recording's hash chain
 * recomputed chunk by chunk. `broken_at_seq` is the first chunk whose bytes,
 * place or link do not match what was hashed on upload; `missing` counts
 * chunks the session recorded as uploaded that the store no longer holds.
 */
export const sessionVerifyResponse = z.object({
  session_id: z.string(),
  ok: z.boolean(),
  chunks: z.number(),
  broken_at_seq: z.number().nullable(),
  missing: z.number(),
  closed: z.boolean(),
  incomplete: z.boolean(),
});
export type SessionVerifyResponse = z.infer<typeof sessionVerifyResponse>;
/** `GET /v1/sessions/:id`: the session plus what the gateway saw during it (statements, API requests). */
export const sessionShowResponse = z.object({ session: sessionSchema, events: z.array(auditEventSchema) });
export type SessionShowResponse = z.infer<typeof sessionShowResponse>;

/**
 * `POST /v1/sessions/:id/tool-calls`: one MCP tool call of an `mcp` session,
 * audited as `mcp.tool_call`. Arguments arrive with detectors applied already;
 * the server applies them again.
 */
export const toolCallRequest = z.object({
  tool: z.string().min(1).max(200),
  arguments: z.record(z.string(), z.unknown()),
  outcome: z.enum(['ok', 'error', 'denied', 'held', 'pending']),
  target: z.string().max(200).optional(),
  grant_id: z.string().max(200).optional(),
  /** A short human summary of the result or error (detectors applied). */
  message: z.string().max(4000).optional(),
  approval_id: z.string().max(200).optional(),
  duration_ms: z.number().int().min(0).optional(),
});
export type ToolCallRequest = z.infer<typeof toolCallRequest>;
