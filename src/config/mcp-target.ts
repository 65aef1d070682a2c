import { z } from 'zod';
import { name, secretRef, targetOptions } from './common.js';

/**
 * `type: mcp`: a remote MCP server (streamable HTTP) fronted by the gateway.
 *
 * ```yaml
 * tickets-mcp:
 *   type: mcp
 *   address: https://mcp.internal.example/mcp
 *   tls: { ca: file:/etc/gate/ca.pem }
 *   roles:
 *     use: { headers: { Authorization: 'Bearer ${env:TICKETS_MCP_TOKEN}' } }
 *   tools: { allow: [search_*, get_*], deny: [delete_*], require_approval: [create_comment] }
 *   masking: { detectors: [email, credit_card] }
 * ```
 *
 * A header value is a template: `${env:NAME}` and `${file:/path}` are secret
 * references resolved by the gateway when it calls upstream; nothing else in
 * it is secret. A value with no reference is sent as written.
 */

const SECRET_IN_TEMPLATE = /\$\{(env:[A-Za-z_][A-Za-z0-9_]*|file:\/[^}]+)\}/g;

const headerTemplate = z.string().superRefine((value, ctx) => {
  const stripped = value.replace(SECRET_IN_TEMPLATE, '');
  if (/\$\{/.test(stripped)) ctx.addIssue({ code: 'custom', message: `has a \${…} that is not a secret reference (\${env:NAME} or \${file:/path})` });
  if (/[\r\n]/.test(stripped)) ctx.addIssue({ code: 'custom', message: 'must be one line' });
});

const glob = z.string().regex(/^[A-Za-z0-9_*?.\-/:]+$/, 'must be a tool name or a glob of one (letters, digits, _ - . / : with * and ?)');

export const mcpTarget = z.strictObject({
  type: z.literal('mcp'),
  address: z.url({ protocol: /^https?$/, error: 'must be the MCP endpoint URL, such as https://mcp.internal.example/mcp' }),
  tls: z
    .strictObject({ ca: secretRef.optional() })
    .default({}),
  roles: z.record(name, z.strictObject({ headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'), headerTemplate).default({}) })),
  tools: z
    .strictObject({
      allow: z.array(glob).default(['*']),
      deny: z.array(glob).default([]),
      require_approval: z.array(glob).default([]),
      /** Shown to the agent when a call is refused. */
      message: z.string().optional(),
    })
    .default({ allow: ['*'], deny: [], require_approval: [] }),
  masking: z.strictObject({ detectors: z.array(z.enum(['email', 'credit_card'])).default([]) }).default({ detectors: [] }),
  ...targetOptions,
});

export type McpTarget = z.infer<typeof mcpTarget>;

/** The secret references inside a header template, e.g. `env:TOKEN`. */
export function templateRefs(template: string): string[] {
  return [...template.matchAll(SECRET_IN_TEMPLATE)].map((m) => m[1]!);
}

/** Fills a header template, resolving each reference with `secret`. */
export async function fillTemplate(template: string, secret: (ref: string) => Promise<string>): Promise<string> {
  let out = '';
  let last = 0;
  for (const m of template.matchAll(SECRET_IN_TEMPLATE)) {
    out += template.slice(last, m.index) + (await secret(m[1]!));
    last = m.index! + m[0].length;
  }
  return out + template.slice(last);
}
