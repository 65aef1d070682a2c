import type { GateConfig } from '../config/schema.js';
import type { Identity } from '../api/wire.js';
import type { SqliteStore } from '../store/sqlite/store.js';
import type { TokenVerifier } from './identity/oidc.js';
import type { SigningKey } from './keys.js';
import type { Logger } from './log.js';

/** The server's view of the outside world, built once by buildServer and handed to every route. */
export interface ServerContext {
  config: GateConfig;
  dataDir: string;
  store: SqliteStore;
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
}

/** The authenticated caller of a request. */
export interface Caller extends Identity {
  expiresAt: Date | null;
  correlationId?: string;
}
