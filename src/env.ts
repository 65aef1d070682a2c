import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Every environment variable gate reads, in one place. `gate help environment`
 * prints this table, so adding a variable here documents it too.
 */
export const ENVIRONMENT = [
  ['GATE_SERVER', 'URL of the gate server (overrides the one saved by `gate login`).'],
  ['GATE_TOKEN', 'A gate token or service token to use instead of stored credentials.'],
  ['GATE_CONFIG_DIR', 'Where the CLI keeps its config, file credentials and recording spool (default: $XDG_CONFIG_HOME/gate).'],
  ['GATE_CREDENTIAL_STORE', '`keychain`, `file` or `auto` (default): where `gate login` keeps credentials.'],
  ['GATE_INSECURE_HTTP', 'Set to 1 to allow an http:// server URL for a host that is not loopback (like --insecure; prints a warning).'],
  ['GATE_DEBUG', 'Set to 1 to print stack traces and debug logs.'],
  ['GATE_PROMPT_DISABLED', 'Never prompt; fail with a usage error naming the flag to pass instead.'],
  ['GATE_CORRELATION_ID', 'Correlation id stored on grants, sessions and audit events (default: the CI run id).'],
  ['GATE_TUNNEL_PING_INTERVAL', 'CLI and server: how often each side of a tunnel pings the other (default 5s; 0 turns the heartbeat off and speaks gate-tunnel/1).'],
  ['GATE_TUNNEL_PING_TIMEOUT', 'CLI and server: how long a tunnel waits for any frame from the other side before it ends with "lost the gate server" (default 15s).'],
  ['GATE_DATA_DIR', 'Server: where keys, the SQLite store and recordings live.'],
  ['CI', 'When set, gate never prompts and never opens a browser.'],
  ['NO_COLOR', 'Disable colour.'],
  ['CLICOLOR', 'Set to 0 to disable colour.'],
  ['CLICOLOR_FORCE', 'Force colour even when output is not a terminal.'],
  ['XDG_CONFIG_HOME', 'Base of the default config dir (and of Claude Desktop\'s on Linux, for `gate mcp config`).'],
  ['XDG_DATA_HOME', 'Base of where `gate completion --install` puts bash and zsh scripts (default: ~/.local/share).'],
  ['SHELL', 'The shell `gate completion --install` installs for when none is named.'],
  ['APPDATA', 'Windows: where `gate mcp config --client claude-desktop` finds Claude Desktop\'s config.'],
  ['CODEX_HOME', 'Where `gate mcp config --client codex` finds config.toml (default: ~/.codex).'],
  ['HOME', 'Where the default config dir lives when XDG_CONFIG_HOME is unset ($HOME/.config/gate).'],
  ['GITHUB_RUN_ID', 'Read as the default correlation id in GitHub Actions.'],
  ['CI_PIPELINE_ID', 'Read as the default correlation id in GitLab CI.'],
  ['ACTIONS_ID_TOKEN_REQUEST_URL', 'GitHub Actions: where `gate login --github-actions` asks for the job OIDC token.'],
  ['ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'GitHub Actions: the bearer token for that request.'],
] as const;

export type Env = Readonly<Record<string, string | undefined>>;

export interface GateEnv {
  server?: string;
  token?: string;
  configDir: string;
  credentialStore: 'keychain' | 'file' | 'auto';
  debug: boolean;
  /** GATE_INSECURE_HTTP: allow plain http:// to a non-loopback server. */
  insecureHttp: boolean;
  promptDisabled: boolean;
  ci: boolean;
  correlationId?: string;
  dataDir?: string;
  /** GATE_TUNNEL_PING_INTERVAL and _TIMEOUT as given (parsed, with a usage error, by src/tunnel/heartbeat.ts). */
  tunnelPing: { interval?: string; timeout?: string };
  color: boolean | undefined;
  actionsTokenUrl?: string;
  actionsTokenRequest?: string;
  /** For `gate mcp config`: the home dir, XDG config base, Windows APPDATA and CODEX_HOME. */
  home: string;
  xdgConfigHome: string;
  /** For `gate completion --install`: XDG data base and the login shell. */
  xdgDataHome: string;
  shell?: string;
  appData?: string;
  codexHome?: string;
}

const truthy = (v: string | undefined): boolean => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';

/** Reads gate's view of the environment. `color` is undefined when it should follow the TTY. */
export function readEnv(env: Env): GateEnv {
  const xdg = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  const store = env.GATE_CREDENTIAL_STORE;
  let color: boolean | undefined;
  if (truthy(env.CLICOLOR_FORCE)) color = true;
  else if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') color = false;
  else if (env.CLICOLOR === '0') color = false;
  return {
    server: env.GATE_SERVER || undefined,
    token: env.GATE_TOKEN || undefined,
    configDir: env.GATE_CONFIG_DIR || join(xdg, 'gate'),
    credentialStore: store === 'keychain' || store === 'file' ? store : 'auto',
    debug: truthy(env.GATE_DEBUG),
    insecureHttp: truthy(env.GATE_INSECURE_HTTP),
    promptDisabled: truthy(env.GATE_PROMPT_DISABLED),
    ci: truthy(env.CI),
    correlationId: env.GATE_CORRELATION_ID || env.GITHUB_RUN_ID || env.CI_PIPELINE_ID || undefined,
    dataDir: env.GATE_DATA_DIR || undefined,
    tunnelPing: { interval: env.GATE_TUNNEL_PING_INTERVAL || undefined, timeout: env.GATE_TUNNEL_PING_TIMEOUT || undefined },
    color,
    actionsTokenUrl: env.ACTIONS_ID_TOKEN_REQUEST_URL || undefined,
    actionsTokenRequest: env.ACTIONS_ID_TOKEN_REQUEST_TOKEN || undefined,
    home: env.HOME || homedir(),
    xdgConfigHome: xdg,
    xdgDataHome: env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share'),
    shell: env.SHELL || undefined,
    appData: env.APPDATA || undefined,
    codexHome: env.CODEX_HOME || undefined,
  };
}
