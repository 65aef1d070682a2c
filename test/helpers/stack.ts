/**
 * A whole gate on one machine for integration tests: the real server
 * (buildServer, port 0), the real embedded OpenID provider mounted at /idp as
 * `gate dev` does, users signed in through the real device flow in Chromium,
 * and the CLI driven in-process through `main`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import * as oidc from 'openid-client';
import { request } from 'undici';
import { main } from '../../src/cli/main.js';
import { parseConfig } from '../../src/config/load.js';
import { type GateServer, buildServer } from '../../src/server/app.js';
import { createDevIdp, type DevIdp } from '../../src/server/dev-idp/index.js';
import { createLogger, type Logger } from '../../src/server/log.js';
import { completeDeviceLogin } from './browser.js';

const CLIENT_ID = 'gate-cli';
const SCOPES = ['openid', 'email', 'profile', 'offline_access', 'groups'];

/** Users every stack knows (password = username), unless the config brings its own dev.users. */
export const DEFAULT_USERS_YAML = `dev:
  users:
    - { username: alice, password: alice, email: alice@example.com, groups: [engineering] }
    - { username: bob,   password: bob,   email: bob@example.com,   groups: [dba-oncall] }
    - { username: dave,  password: dave,  email: dave@example.com,  groups: [dba-oncall] }
    - { username: carol, password: carol, email: carol@example.com, groups: [platform] }
    - { username: erin,  password: erin,  email: erin@example.com,  groups: [marketing] }
`;

export interface Stack {
  url: string;
  server: GateServer;
  dataDir: string;
  /** Signs a dev user in through the device flow and Chromium; returns a gate token. */
  loginAs(username: string, password?: string): Promise<string>;
  /** Closes the server and starts it again on the same data dir and port (running `whileDown` in between). */
  restart(options?: { whileDown?: () => Promise<void> }): Promise<void>;
  /**
   * Moves the server's clock forward and lets it act on what came due, as
   * it does for grants whose time passed while it was down: a grant's expiry
   * on cue, once the test's client is ready, instead of a short grant racing
   * a cold start. Keep the total under the gate tokens' hour.
   */
  advanceClock(ms: number): Promise<void>;
  /** Moves the server's clock forward only (e.g. while it is down, inside `restart`'s `whileDown`). */
  shiftClock(ms: number): void;
  close(): Promise<void>;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in-process (`main(argv, { env, io })`) with captured, non-TTY
 * stdout/stderr. Pass GATE_TOKEN / GATE_SERVER / GATE_CONFIG_DIR in env.
 */
export async function runCli(args: string[], options: { env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const env = { NO_COLOR: '1', GATE_CREDENTIAL_STORE: 'file', HOME: tmpdir(), ...options.env };
  const code = await main(args, { env, io: { stdin, stdout, stderr } });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** Starts a stack; `configYaml` without `dev:` gets DEFAULT_USERS_YAML's users. */
export async function startStack(options: { configYaml?: string; dataDir?: string; logger?: Logger } = {}): Promise<Stack> {
  const yaml = options.configYaml ?? '';
  const config = parseConfig(/^dev:/m.test(yaml) ? yaml : `${DEFAULT_USERS_YAML}${yaml}`, '(test config)');
  const ownDir = !options.dataDir;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'gate-stack-')));
  let server!: GateServer;
  let idp!: DevIdp;
  let url = '';
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);

  async function boot(port: number): Promise<void> {
    server = await buildServer({ config, dataDir, now, logger: options.logger ?? createLogger({ level: 'silent' }) });
    url = await server.listen({ host: '127.0.0.1', port });
    const issuer = `${url}/idp`;
    idp = await createDevIdp({ issuer, clientId: CLIENT_ID, users: config.dev?.users ?? [] });
    server.mount('/idp', idp.handle);
    server.setOidc({ issuer, client_id: CLIENT_ID, scopes: SCOPES, groups_claim: 'groups', algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'] });
  }
  async function shutdown(): Promise<void> {
    await idp.close();
    await server.close();
  }

  await boot(0);
  const stack: Stack = {
    get url() {
      return url;
    },
    get server() {
      return server;
    },
    dataDir,
    async loginAs(username, password = username) {
      const issuer = `${url}/idp`;
      const cfg = await oidc.discovery(new URL(issuer), CLIENT_ID, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      const device = await oidc.initiateDeviceAuthorization(cfg, { scope: SCOPES.join(' ') });
      const controller = new AbortController();
      const polled = oidc.pollDeviceAuthorizationGrant(cfg, { ...device, interval: 0.2 }, undefined, { signal: controller.signal });
      polled.catch(() => {});
      try {
        await completeDeviceLogin({ url: device.verification_uri_complete!, username, password });
      } catch (err) {
        controller.abort();
        throw err;
      }
      const tokens = await polled;
      const res = await request(`${url}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: tokens.id_token,
          subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        }),
      });
      const body = (await res.body.json()) as { access_token?: string };
      if (res.statusCode !== 200 || !body.access_token) throw new Error(`token exchange failed: HTTP ${res.statusCode} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async restart(opts = {}) {
      const port = Number(new URL(url).port);
      await shutdown();
      await opts.whileDown?.();
      await boot(port);
    },
    shiftClock(ms) {
      offsetMs += ms;
    },
    async advanceClock(ms) {
      offsetMs += ms;
      await server.ctx.grants.start();
    },
    async close() {
      await shutdown();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return stack;
}
