import { z } from 'zod';

/** Wire types of `/v1/tokens` (service tokens), shared by the CLI and the server. */

/** A service token as listed: never the secret. */
export const serviceTokenInfo = z.object({
  id: z.string(),
  name: z.string(),
  groups: z.array(z.string()),
  creator: z.string(),
  created_at: z.string(),
  expires_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  /** `active`, `expired` or `revoked`. */
  state: z.enum(['active', 'expired', 'revoked']),
});
export type ServiceTokenInfo = z.infer<typeof serviceTokenInfo>;

export const createServiceTokenRequest = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, 'must be 1-63 letters, digits, ".", "-" or "_"'),
  groups: z.array(z.string().min(1)).min(1, 'name at least one group'),
  /** A duration such as 30d, 12h. */
  ttl: z.string().regex(/^\d+(s|m|h|d)$/, 'must be a duration such as 30d or 12h'),
});
export type CreateServiceTokenRequest = z.infer<typeof createServiceTokenRequest>;

export const createServiceTokenResponse = z.object({
  /** The whole token (`gst_<id>_<secret>`): shown once, never stored. */
  token: z.string(),
  service_token: serviceTokenInfo,
});

export const listServiceTokensResponse = z.object({ tokens: z.array(serviceTokenInfo) });
export const revokeServiceTokenResponse = z.object({ service_token: serviceTokenInfo });
