/**
 * What `gate server --check` reports: one item per thing it reached (the
 * config, the store, the IdP, each target with each role). Messages never
 * hold a secret: the report is redacted against every value the check
 * resolved before it is returned.
 */
export type CheckStatus = 'ok' | 'warning' | 'error';

export interface CheckItem {
  component: 'config' | 'store' | 'data_dir' | 'idp' | 'target';
  /** The target's or issuer's name; absent for the config and the store. */
  name?: string;
  role?: string;
  status: CheckStatus;
  message: string;
  /** Structured facts for --json (privileges, versions); never secrets. */
  details?: Record<string, unknown>;
}

export interface CheckReport {
  ok: boolean;
  summary: { ok: number; warnings: number; errors: number };
  checks: CheckItem[];
}

/** What every probe gets: where secrets are looked up, how long a probe may take, and a sink for resolved secrets. */
export interface ProbeContext {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Resolves a secret reference and remembers the value so the report can be redacted against it. */
  secret(ref: string): Promise<string>;
}
