import { z } from 'zod';
import { name as roleName, secretRef, targetOptions } from './common.js';

/**
 * `type: http` targets: an HTTP API behind the gateway, which holds the
 * credential (bearer token, API-key headers or basic auth) and injects it.
 * Kept in its own file so schema.ts only adds it to the target union.
 */

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name');
const methodName = z
  .string()
  .regex(/^([A-Za-z]+|\*)$/, 'must be an HTTP method such as GET, POST or *')
  .transform((m) => m.toUpperCase());

/**
 * A path pattern: starts with `/`; `*` is one segment, `**` any number of
 * segments (including none). Matched against the decoded, normalised path.
 */
const pathPattern = z
  .string()
  .regex(/^\/[^?#]*$/, 'must be a path starting with / (no query or fragment), e.g. /v1/customers/**');

const httpMatch = z.strictObject({
  methods: z.array(methodName).min(1).optional(),
  paths: z.array(pathPattern).min(1).optional(),
});
export type HttpMatch = z.infer<typeof httpMatch>;

const httpRole = z.union([
  z.strictObject({ bearer: secretRef }),
  z.strictObject({ headers: z.record(headerName, secretRef).refine((h) => Object.keys(h).length > 0, 'must name at least one header') }),
  z.strictObject({ basic: z.strictObject({ username: z.string().min(1), password: secretRef }) }),
]);
export type HttpRole = z.infer<typeof httpRole>;

const DEFAULT_STRIP = ['authorization', 'cookie'];

export const httpTarget = z.strictObject({
  type: z.literal('http'),
  /** `https://host[:port][/base/path]`; a base path prefixes every request path upstream. */
  address: z.url({ protocol: /^https?$/, error: 'must be the API base URL, such as https://billing.internal.example or https://api.example/v2' }).refine(
    (u) => {
      const url = new URL(u);
      return url.username === '' && url.password === '' && url.search === '' && url.hash === '';
    },
    'must not carry credentials, a query or a fragment: put the credential in a role',
  ),
  tls: z
    .strictObject({ ca: secretRef.optional(), insecure_skip_verify: z.boolean().default(false) })
    .default({ insecure_skip_verify: false }),
  roles: z.record(roleName, httpRole),
  /**
   * Client request headers removed before forwarding (case-insensitive). The
   * role's own credential header is always replaced, whatever this says.
   */
  strip_headers: z
    .array(headerName)
    .default(DEFAULT_STRIP)
    .transform((h) => h.map((n) => n.toLowerCase())),
  guardrails: z
    .array(
      z.union([
        z.strictObject({ deny: httpMatch, message: z.string().optional() }),
        z.strictObject({ require_approval: httpMatch, message: z.string().optional() }),
      ]),
    )
    .default([]),
  masking: z
    .strictObject({
      /** Dotted JSON paths: `card.number`, `customers.*.email` (`*` = any key or array item), `**.ssn` (any depth). */
      json_fields: z.array(z.string().min(1)).default([]),
      detectors: z.array(z.enum(['email', 'credit_card'])).default([]),
      /** Largest response body read for masking; a larger one is refused (502), never passed unmasked. */
      max_body_bytes: z.number().int().min(1024).default(16 * 1024 * 1024),
    })
    .default({ json_fields: [], detectors: [], max_body_bytes: 16 * 1024 * 1024 }),
  audit: z
    .strictObject({
      /** Query parameters removed from audited queries (case-insensitive). */
      redact_query: z.array(z.string().min(1)).default([]),
      /** Store request and response bodies in `http.request` events (masked, capped). */
      bodies: z.boolean().default(false),
      body_limit_bytes: z.number().int().min(0).default(4096),
    })
    .default({ redact_query: [], bodies: false, body_limit_bytes: 4096 }),
  ...targetOptions,
});

export type HttpTarget = z.infer<typeof httpTarget>;

/** Warnings the server logs at start for HTTP targets (TLS verification turned off). */
export function httpTargetWarnings(targets: Record<string, { type: string }>): { message: string; target: string }[] {
  const out: { message: string; target: string }[] = [];
  for (const [name, t] of Object.entries(targets)) {
    if (t.type === 'http' && (t as HttpTarget).tls.insecure_skip_verify) {
      out.push({ target: name, message: 'tls.insecure_skip_verify is on: the API certificate is not verified, so anyone on the path can read the injected credential (dev only)' });
    }
  }
  return out;
}
