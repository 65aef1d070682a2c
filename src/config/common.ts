import { z } from 'zod';

/**
 * Pieces every target schema shares, in one place so a new target type (its
 * schema in its own file) gets the same secret references, names and session
 * options as the others.
 */

const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/;

export const secretRef = z
  .string()
  .regex(SECRET_REF, 'must be a secret reference (env:NAME or file:/absolute/path), never a literal secret');

export const name = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'must be letters, digits, - or _');

/** Options of every target: its description, its default role, and how its sessions are recorded. */
export const targetOptions = {
  description: z.string().optional(),
  /** The role used when a request names none and the caller may request several (no prompt possible). */
  default_role: name.optional(),
  /** Record keystrokes too (asciicast "i" events). */
  record_input: z.boolean().default(false),
  /** `required`: a session does not start when the recording cannot be uploaded. */
  recording: z.enum(['required', 'best-effort']).default('best-effort'),
  /**
   * What a session records when the tool's stdout is not a terminal
   * (`gate exec db -- pg_dump > file`): `terminal` keeps what reached the
   * terminal plus the byte count and SHA-256 of the rest (the default); `full` keeps it all.
   */
  record_output: z.enum(['terminal', 'full']).optional(),
};
