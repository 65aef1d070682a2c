import { z } from 'zod';
import { DURATION } from './duration.js';

/**
 * Server hardening settings (issue 13): who may approve, the resource limits
 * of the data path and the audit checkpoints. Kept apart from schema.ts so
 * the schema's own shape stays easy to read.
 */

const duration = z.string().regex(DURATION, 'must be a duration such as 30s, 30m or 8h');

/** `approvals:` — whether service tokens and workloads may approve at all (off by default). */
export const approvalsConfig = z
  .strictObject({
    /**
     * Off: only people approve grants and held commands. On: a service token
     * approves as the person who created it (never for that person's own
     * request, never as a second approval by them); a workload never approves.
     */
    tokens_may_approve: z.boolean().default(false),
  })
  .default({ tokens_may_approve: false });

/** `limits:` — bounds on what one caller can hold open. */
export const limitsConfig = z
  .strictObject({
    /** Open tunnels one grant may hold at once. */
    connections_per_grant: z.number().int().min(1).default(10),
    /** Open tunnels to one target, whoever holds them. */
    connections_per_target: z.number().int().min(1).default(50),
    /** A tunnel with no byte either way for this long is closed. */
    tunnel_idle_timeout: duration.default('30m'),
    /** A tunnel whose client sends nothing for this long after it opened is closed. */
    tunnel_startup_timeout: duration.default('30s'),
    /** Time a client has to send a request's (or an upgrade's) headers. */
    header_timeout: duration.default('10s'),
    /** Largest API request body, in bytes (recording chunks have their own cap). */
    max_request_bytes: z.number().int().min(1024).default(4 * 1024 * 1024),
  })
  .default({
    connections_per_grant: 10,
    connections_per_target: 50,
    tunnel_idle_timeout: '30m',
    tunnel_startup_timeout: '30s',
    header_timeout: '10s',
    max_request_bytes: 4 * 1024 * 1024,
  });

/** `audit:` — signed checkpoints of the hash chain. */
export const auditConfig = z
  .strictObject({
    /** Sign a checkpoint after this many new events… */
    checkpoint_every: z.number().int().min(1).default(1000),
    /** …or this long after the last one, when there are new events. */
    checkpoint_interval: duration.default('5m'),
    /** Also append every checkpoint as a JSON line to this file (keep it off the server's disk). */
    checkpoint_file: z.string().min(1).optional(),
  })
  .default({ checkpoint_every: 1000, checkpoint_interval: '5m' });

export type ApprovalsConfig = z.infer<typeof approvalsConfig>;
export type LimitsConfig = z.infer<typeof limitsConfig>;
export type AuditConfig = z.infer<typeof auditConfig>;
