/**
 * Size limits and audit options of a postgres target (`limits:`, `audit:`).
 * Kept in its own file so the target schema in schema.ts only names it.
 * Both are optional (absent = the defaults here) so code that builds a target
 * in memory need not spell them out.
 */
import { z } from 'zod';

export const MIB = 1024 * 1024;

export const postgresLimits = z
  .strictObject({
    /** Largest protocol message a client may send; larger ones get a 54000 error naming this limit. */
    max_message_bytes: z.number().int().min(1024).max(1024 * MIB).default(64 * MIB),
    /** Largest statement text (a Query or Parse); larger ones are refused with 54000. */
    max_statement_bytes: z.number().int().min(1024).max(1024 * MIB).default(16 * MIB),
  })
  .optional();

export const postgresAudit = z
  .strictObject({
    /** Statement text kept per audit event; the full length and SHA-256 are always kept. */
    max_statement_bytes: z.number().int().min(256).max(64 * MIB).default(64 * 1024),
  })
  .optional();

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * MIB;
export const DEFAULT_MAX_STATEMENT_BYTES = 16 * MIB;
export const DEFAULT_AUDIT_STATEMENT_BYTES = 64 * 1024;
