import { z } from 'zod';
import { name, secretRef, targetOptions } from './common.js';
import { postgresAudit, postgresLimits } from './postgres-limits.js';
import { DURATION } from './duration.js';
import { httpTarget } from './http-target.js';
import { opaqueSql, pgMasking, sqlGuardrail } from './sql-rules.js';
import { mcpTarget } from './mcp-target.js';
import { approvalsConfig, auditConfig, limitsConfig } from './hardening.js';
import { consoleUrl, notificationsConfig } from './notifications.js';

/**
 * The shape of gate.yaml. Secrets appear only as references (`env:NAME`,
 * `file:/path`) and are resolved by `resolveSecret` when used.
 */

export { secretRef } from './common.js';

export const duration = z.string().regex(DURATION, 'must be a duration such as 30m, 8h or 7d');

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):\d{1,5}$/, 'must be host:port');


export const postgresTarget = z.strictObject({
  type: z.literal('postgres'),
  address: hostPort,
  database: z.string().min(1),
  tls: z
    .strictObject({
      mode: z.enum(['disable', 'require', 'verify-full']).default('disable'),
      ca: secretRef.optional(),
    })
    .default({ mode: 'disable' }),
  roles: z.record(
    name,
    z.strictObject({
      username: z.string().min(1),
      password: secretRef,
      // Password methods gate may answer for this role; absent means [scram-sha-256].
      auth: z.array(z.enum(['scram-sha-256', 'md5', 'password'])).min(1).optional(),
    }),
  ),
  guardrails: z.array(sqlGuardrail).default([]),
  masking: pgMasking,
  /** What to do with SQL whose effect gate cannot see (DO, CREATE FUNCTION, …); default deny when guarded. */
  opaque_sql: opaqueSql.optional(),
  limits: postgresLimits,
  audit: postgresAudit,
  ...targetOptions,
});

const k8sMatch = z.strictObject({
  verbs: z.array(z.string()).optional(),
  resources: z.array(z.string()).optional(),
  namespaces: z.array(z.string()).optional(),
});

export const kubernetesTarget = z.strictObject({
  type: z.literal('kubernetes'),
  address: z.url({ protocol: /^https?$/, error: 'must be the API server URL, such as https://10.0.0.1:6443' }),
  tls: z
    .strictObject({ ca: secretRef.optional(), insecure_skip_verify: z.boolean().default(false) })
    .default({ insecure_skip_verify: false }),
  roles: z.record(
    name,
    z.union([
      z.strictObject({ token: secretRef }),
      z.strictObject({ client_cert: secretRef, client_key: secretRef }),
    ]),
  ),
  guardrails: z
    .array(
      z.union([
        z.strictObject({ deny: k8sMatch, message: z.string().optional() }),
        z.strictObject({ require_approval: k8sMatch, message: z.string().optional() }),
      ]),
    )
    .default([]),
  ...targetOptions,
});

export const tcpTarget = z.strictObject({
  type: z.literal('tcp'),
  address: hostPort,
  roles: z.record(name, z.strictObject({})).default({ default: {} }),
  ...targetOptions,
});

export const target = z.discriminatedUnion('type', [postgresTarget, kubernetesTarget, tcpTarget, mcpTarget, httpTarget]);

const approval = z.union([
  z.literal('auto'),
  z.strictObject({ approvers: z.array(z.string()).min(1), min: z.number().int().min(1).default(1) }),
]);

export const policy = z.strictObject({
  name,
  groups: z.array(z.string()).min(1),
  targets: z.array(z.string()).min(1),
  roles: z.array(z.string()).min(1),
  max_duration: duration.default('1h'),
  approval: approval.default('auto'),
  reason: z.enum(['required', 'optional']).default('optional'),
});

const devUser = z.strictObject({
  username: z.string().min(1),
  // Dev users are for `gate dev` only: a literal password is expected here.
  password: z.string().min(1),
  email: z.email(),
  name: z.string().optional(),
  groups: z.array(z.string()).default([]),
});

/**
 * A workload issuer must be https: its JWKS decides who gets in. Plain http is
 * allowed only on loopback (127.0.0.0/8, localhost, [::1]) for tests and dev.
 */
export function isTrustedIssuerUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const workloadRule = z.strictObject({
  name,
  issuer: z.url().refine(isTrustedIssuerUrl, 'must be an https:// URL (plain http is allowed only on loopback: 127.0.0.1, localhost, [::1])'),
  audience: z.string().min(1),
  match: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({}),
  groups: z.array(z.string()).default([]),
  subject_claim: z.string().default('sub'),
});

/**
 * A PostgreSQL URL for the store, refused when it carries a password (in the
 * user-info part or as `?password=`): the password is a reference instead.
 */
const storeString = z.string().superRefine((value, ctx) => {
  if (value === 'sqlite') return;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be `sqlite` or a postgres://user@host:5432/database URL' });
    return;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    ctx.addIssue({ code: 'custom', message: 'must be `sqlite` or a postgres:// (or postgresql://) URL' });
  } else if (url.password !== '' || url.searchParams.has('password')) {
    ctx.addIssue({
      code: 'custom',
      message: 'must not hold a password: write store: { url: postgres://user@host/db, password: env:NAME } (or url: env:NAME)',
    });
  }
});

const storeObject = z.strictObject({
  url: z.string().superRefine((value, ctx) => {
    // A reference (resolved when the server starts) or a password-less URL.
    if (/^(env|file):/.test(value)) {
      const r = secretRef.safeParse(value);
      if (!r.success) ctx.addIssue({ code: 'custom', message: r.error.issues[0]!.message });
      return;
    }
    if (value === 'sqlite') ctx.addIssue({ code: 'custom', message: 'must be a postgres:// URL or a secret reference (env:NAME, file:/path)' });
    else for (const issue of storeString.safeParse(value).error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message });
  }),
  password: secretRef.optional(),
});

/** `store:`: `sqlite` (default), a password-less PostgreSQL URL, or `{ url, password }` with secret references. */
export type StoreSetting = z.infer<typeof storeString> | z.infer<typeof storeObject>;

// A string and a map are told apart before validating, so each gets its own errors (a union reports the wrong branch's).
const storeSetting = z.custom<StoreSetting>().superRefine((value, ctx) => {
  const r = typeof value === 'string' ? storeString.safeParse(value) : storeObject.safeParse(value);
  for (const issue of r.error?.issues ?? []) ctx.addIssue({ ...issue } as Parameters<typeof ctx.addIssue>[0]);
});

export const gateConfig = z.strictObject({
  server: z
    .strictObject({
      /** Public URL clients use; defaults to the listening address. */
      url: z.url().optional(),
      listen: z.string().optional(),
      data_dir: z.string().optional(),
      token_ttl: duration.default('1h'),
    })
    .default({ token_ttl: '1h' }),
  store: storeSetting.optional(),
  identity: z
    .strictObject({
      oidc: z
        .strictObject({
          issuer: z.url(),
          client_id: z.string().min(1),
          scopes: z.array(z.string()).default(['openid', 'email', 'profile', 'offline_access']),
          groups_claim: z.string().default('groups'),
          algorithms: z.array(z.string()).default(['RS256', 'ES256', 'EdDSA', 'PS256']),
        })
        .optional(),
      workloads: z.array(workloadRule).default([]),
    })
    .default({ workloads: [] }),
  dev: z
    .strictObject({
      users: z.array(devUser).default([]),
    })
    .optional(),
  targets: z.record(name, target).default({}),
  admins: z.array(z.string()).default([]),
  policies: z.array(policy).default([]),
  approvals: approvalsConfig,
  limits: limitsConfig,
  audit: auditConfig,
  notifications: notificationsConfig,
  console_url: consoleUrl.optional(),
});

export type GateConfig = z.infer<typeof gateConfig>;
export type TargetConfig = z.infer<typeof target>;
export type PostgresTarget = z.infer<typeof postgresTarget>;
export type KubernetesTarget = z.infer<typeof kubernetesTarget>;
export type TcpTarget = z.infer<typeof tcpTarget>;
export type { HttpTarget } from './http-target.js';
export type { McpTarget } from './mcp-target.js';
export type PolicyConfig = z.infer<typeof policy>;
export type DevUser = z.infer<typeof devUser>;
export type WorkloadRule = z.infer<typeof workloadRule>;

export { parseDuration } from './duration.js';
