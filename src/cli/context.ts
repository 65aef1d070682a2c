import { createClient, type GateClient } from '../api/client.js';
import { type CredentialStore, openCredentialStore } from '../auth/credentials.js';
import { validAccessToken } from '../auth/session.js';
import { type Env, type GateEnv, readEnv } from '../env.js';
import { githubActionsLogin } from '../auth/workload.js';
import { AuthRequiredError, UsageError } from '../errors.js';
import { type IO, processIO, style, type Style, useColor } from './io.js';
import { checkServerTransport } from './server-url.js';
import { readSettings } from './settings.js';

/**
 * The outside world as commands see it. Everything costly is lazy, so a
 * command that needs no network or keychain never touches them, and tests
 * swap any part.
 */
export interface CliContext {
  io: IO;
  env: GateEnv;
  rawEnv: Env;
  style: Style;
  now(): Date;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  /** Server URL by precedence: flag, GATE_SERVER, saved by `gate login`. */
  server(flag?: string): Promise<string>;
  credentials(): Promise<CredentialStore>;
  /** The bearer token for `server`: GATE_TOKEN, or stored credentials (renewed when needed). */
  token(server: string): Promise<string>;
  /** An API client that authenticates with `token(server)`. */
  client(server: string): GateClient;
  /** Set by commands whose exit code is not 0 without an error (e.g. a wrapped tool's). */
  exitCode?: number;
  /** The global `--no-input` flag: never prompt (see canPrompt). */
  noInput: boolean;
  /** The global `--insecure` flag: allow plain http:// to a non-loopback server (see server-url.ts). */
  insecure: boolean;
  /**
   * While a wrapped tool runs, Ctrl-C (SIGINT) is the tool's, not gate's.
   * Returns the function that restores gate's own handling.
   */
  deferInterrupts(): () => void;
  /** True while deferInterrupts is in effect. */
  readonly interruptsDeferred: boolean;
}

export function createContext(options: { env?: Env; io?: IO; signal?: AbortSignal; now?: () => Date } = {}): CliContext {
  const rawEnv = options.env ?? process.env;
  const env = readEnv(rawEnv);
  const io = options.io ?? processIO();
  let store: Promise<CredentialStore> | undefined;
  let jobToken: Promise<string> | undefined;
  let deferred = 0;
  const warned = new Set<string>();
  const ctx: CliContext = {
    deferInterrupts() {
      deferred += 1;
      let restored = false;
      return () => {
        if (!restored) deferred -= 1;
        restored = true;
      };
    },
    get interruptsDeferred() {
      return deferred > 0;
    },
    io,
    env,
    rawEnv,
    noInput: false,
    insecure: false,
    style: style(useColor(io, env)),
    now: options.now ?? (() => new Date()),
    signal: options.signal ?? new AbortController().signal,
    async server(flag) {
      const url = flag ?? env.server ?? (await readSettings(env.configDir)).server;
      if (!url) {
        throw new UsageError('No gate server is configured.', {
          hint: 'Pass --server URL (or set GATE_SERVER), e.g. `gate login --server http://127.0.0.1:4180`.',
        });
      }
      const server = normalizeServer(url);
      checkServerTransport(server, ctx.insecure || env.insecureHttp, (m) => {
        if (warned.has(server)) return;
        warned.add(server);
        io.stderr.write(`${m}\n`);
      });
      return server;
    },
    credentials() {
      store ??= openCredentialStore({
        configDir: env.configDir,
        mode: env.credentialStore,
        warn: (m) => io.stderr.write(`${m}\n`),
      });
      return store;
    },
    async token(server) {
      if (env.token) return env.token;
      try {
        const creds = await validAccessToken({
          server,
          store: await ctx.credentials(),
          now: ctx.now(),
          signal: ctx.signal,
          lockDir: env.configDir,
        });
        return creds.access_token;
      } catch (err) {
        // A GitHub Actions job that never ran `gate login`: log in as the job, for this process only.
        if (!(err instanceof AuthRequiredError) || !env.actionsTokenUrl || !env.actionsTokenRequest) throw err;
        jobToken ??= githubActionsLogin({
          server,
          requestUrl: env.actionsTokenUrl,
          requestToken: env.actionsTokenRequest,
          signal: ctx.signal,
        }).then((r) => r.access_token);
        return jobToken;
      }
    },
    client(server) {
      return createClient({ server, token: () => ctx.token(server) });
    },
  };
  return ctx;
}

/** Validates and normalises a server URL (no trailing slash). */
export function normalizeServer(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`Not a valid server URL: ${JSON.stringify(url)}.`, { hint: 'Use the form http(s)://host:port.' });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`The server URL must start with http:// or https://, got ${JSON.stringify(url)}.`);
  }
  return parsed.origin + parsed.pathname.replace(/\/+$/, '');
}
