import type { z } from 'zod';
import { ApiError } from '../../api/errors.js';

/** Validates a request body with the shared wire schema; a failure names the field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new ApiError('bad_request', `Invalid request body: ${where}${issue.message}.`);
}
