import { z } from 'zod';

/** One notification sink's health (`GET /v1/notifications/status`, admins only). */
export const sinkStatus = z.object({
  name: z.string(),
  type: z.enum(['webhook', 'slack']).nullable(),
  /** Host only: the URL's path can be a secret. */
  host: z.string().nullable(),
  events: z.array(z.string()),
  pending: z.number(),
  delivered: z.number(),
  failed: z.number(),
  failed_attempts: z.number(),
  last_error: z.string().nullable(),
  last_status: z.number().nullable(),
  last_error_at: z.string().nullable(),
});

export const notificationStatusResponse = z.object({ sinks: z.array(sinkStatus) });

export type SinkStatusWire = z.infer<typeof sinkStatus>;
