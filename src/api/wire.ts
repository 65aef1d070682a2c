import { z } from 'zod';

/**
 * Wire types shared by the CLI and the server: the server validates request
 * bodies with these schemas, the client parses responses with them.
 */

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

export const serverConfigResponse = z.object({
  /** The IdP people log in with; absent on a server that trusts only workloads and service tokens. */
  issuer: z.string().optional(),
  client_id: z.string().optional(),
  scopes: z.array(z.string()),
  /** Audience a workload's OIDC token should carry (the first workload rule's), if any. */
  workload_audience: z.string().optional(),
  version: z.string(),
});
export type ServerConfigResponse = z.infer<typeof serverConfigResponse>;

export const tokenExchangeRequest = z.object({
  grant_type: z.literal(TOKEN_EXCHANGE_GRANT),
  subject_token: z.string().min(1).max(16_384),
  subject_token_type: z.literal(ID_TOKEN_TYPE).or(z.literal(JWT_TOKEN_TYPE)).default(ID_TOKEN_TYPE),
});

export const identity = z.object({
  sub: z.string(),
  email: z.string().optional(),
  name: z.string().optional(),
  groups: z.array(z.string()),
  /** `user`, `workload` or `service`. */
  kind: z.enum(['user', 'workload', 'service']),
  /** For `workload` identities: the name of the trust rule that admitted the job. */
  workload: z.string().optional(),
  /** The stable identity key gate compares and stores (kind and origin included; see docs/security.md). */
  key: z.string().optional(),
});
export type Identity = z.infer<typeof identity>;

export const tokenExchangeResponse = z.object({
  access_token: z.string(),
  issued_token_type: z.literal(JWT_TOKEN_TYPE),
  token_type: z.literal('Bearer'),
  expires_in: z.number(),
  user: identity,
});
export type TokenExchangeResponse = z.infer<typeof tokenExchangeResponse>;

export const meResponse = identity.extend({
  expires_at: z.string().nullable(),
  admin: z.boolean(),
});
export type MeResponse = z.infer<typeof meResponse>;

export const healthResponse = z.object({ status: z.literal('ok'), version: z.string() });
