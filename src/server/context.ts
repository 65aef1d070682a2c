import type { GateConfig } from '../config/schema.js';
import type { Identity } from '../api/wire.js';
import type { AuditCheckpoint, Store } from '../store/store.js';
import type { AuditLog } from './audit/log.js';
import type { GrantService } from './grants/service.js';
import type { TokenVerifier } from './identity/oidc.js';
import type { WorkloadVerifier } from './identity/workload.js';
import type { SigningKey } from './keys.js';
import type { Logger } from './log.js';
import type { Notifier } from './notify/index.js';

/** The server's view of the outside world, built once by buildServer and handed to every route. */
export interface ServerContext {
  config: GateConfig;
  dataDir: string;
  /** SQLite or PostgreSQL (src/store/open.ts); tests that tamper with rows narrow it by `kind`. */
  store: Store;
  key: SigningKey;
  log: Logger;
  /** Issuer string of gate tokens this server signs. */
  tokenIssuer: string;
  tokenTtlMs: number;
  /** Verifies human users' ID tokens; undefined until an IdP is configured. */
  userVerifier(): TokenVerifier | undefined;
  /** The OIDC settings the CLI needs to log in (GET /v1/config). */
  oidc(): { issuer: string; client_id: string; scopes: string[]; groups_claim: string } | undefined;
  env: NodeJS.ProcessEnv;
  now(): Date;
  /** Grant lifecycle, command approvals and the push of every change (src/server/grants). */
  grants: GrantService;
  /** The hash-chained audit log (src/server/audit). */
  audit: AuditLog;
  /** Signed checkpoints of the audit chain (src/server/audit/checkpoints.ts). */
  checkpoints: { checkpoint(): Promise<AuditCheckpoint | undefined> };
  /** The notification outbox and its deliverer (src/server/notify). */
  notifications: Pick<Notifier, 'status'>;
  /** Verifies CI jobs' OIDC tokens against `identity.workloads` (src/server/identity/workload.ts). */
  workloads: WorkloadVerifier;
}

/** The authenticated caller of a request. */
export interface Caller extends Identity {
  /** The identity key (src/server/identity/principal.ts): what ownership and approvals compare. */
  key: string;
  /** The person this caller acts for (itself, a service token's creator, null for a workload). */
  actsFor: string | null;
  /** For a service token: its id (revocation cuts what it opened). */
  serviceTokenId?: string;
  expiresAt: Date | null;
  correlationId?: string;
}
